"""The tampering fixtures (``node``, ``ids``) for the audit's and the rebuild's tests."""

from tampering import ids, node

__all__ = ["ids", "node"]
