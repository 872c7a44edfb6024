"""The service facade: every front end (CLI now, API later) calls these and nothing below.

:class:`Node` is one running node (settings, keys, database) and owns transactions and
the order of steps; front ends parse arguments, call one function and render its answer.
"""

from cardtrace.service.node import CardEvent, Node, event_schema, fraud_card, simulate

__all__ = ["CardEvent", "Node", "event_schema", "fraud_card", "simulate"]
