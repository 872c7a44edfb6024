"""The service facade: every front end (CLI now, API later) calls these and nothing below.

:class:`Node` is one running node (settings, keys, database) and owns transactions and
the order of steps; front ends parse arguments, call one function and render its answer.
The few types and helpers from lower layers that front ends render are passed on here,
so a front end imports nothing else of cardtrace (an import-linter contract holds it).
"""

from cardtrace.files import check_output, write_whole
from cardtrace.ingest.pipeline import IngestSummary
from cardtrace.ingest.readers import FILE_TYPES, input_bytes
from cardtrace.ledger.bundle import Bundle, BundleReport, dump_bundle
from cardtrace.service.audit import AuditReport, Problem, verify_node
from cardtrace.service.ledger import (
    CHECKPOINT_FILE,
    EVIDENCE_BUNDLE,
    WITNESS_REQUEST,
    AddedCosignature,
    CheckpointInfo,
    add_cosignatures,
    existing_verifier_key,
    init_keys,
    list_checkpoints,
    make_checkpoint,
    prove,
    verifier_key,
    verify_bundle_file,
)
from cardtrace.service.node import CardEvent, CardWalk, Node, event_schema, fraud_card, simulate
from cardtrace.service.reindex import REBUILT, Reindexed, reindex_node
from cardtrace.service.witness import Cosigned, StaleCheckpoint, consistency_request, witness

__all__ = [
    "CHECKPOINT_FILE",
    "EVIDENCE_BUNDLE",
    "FILE_TYPES",
    "REBUILT",
    "WITNESS_REQUEST",
    "AddedCosignature",
    "AuditReport",
    "Bundle",
    "BundleReport",
    "CardEvent",
    "CardWalk",
    "CheckpointInfo",
    "Cosigned",
    "IngestSummary",
    "Node",
    "Problem",
    "Reindexed",
    "StaleCheckpoint",
    "add_cosignatures",
    "check_output",
    "consistency_request",
    "dump_bundle",
    "event_schema",
    "existing_verifier_key",
    "fraud_card",
    "init_keys",
    "input_bytes",
    "list_checkpoints",
    "make_checkpoint",
    "prove",
    "reindex_node",
    "simulate",
    "verifier_key",
    "verify_bundle_file",
    "verify_node",
    "witness",
    "write_whole",
]
