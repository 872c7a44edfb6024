"""The one exception tree of cardtrace.

Every error a user can act on is a ``CardtraceError``; library errors are converted
where they enter (the store, the readers, the key store), so front ends map this tree
alone: to HTTP statuses in one place and to CLI exit codes in one place::

    CardtraceError
    ├── InvalidInput        a record, file, argument or setting is malformed
    │   └── InvalidIdentifier   one identifier fails its format or check digit
    ├── PolicyViolation     the input is well formed but the law or a policy forbids it
    ├── AccessDenied        no legal basis, no approval, or out of scope
    ├── TamperDetected      stored or supplied evidence does not verify
    ├── NotFound            the named event, card, checkpoint or key does not exist
    └── ConfigurationError  the node is not set up (keys, database) for the operation
"""

from __future__ import annotations

__all__ = [
    "AccessDenied",
    "CardtraceError",
    "ConfigurationError",
    "InvalidIdentifier",
    "InvalidInput",
    "NotFound",
    "PolicyViolation",
    "TamperDetected",
]


class CardtraceError(Exception):
    """Base of every error cardtrace raises on purpose."""


class InvalidInput(CardtraceError):
    """A record, file, argument or setting is malformed."""


class InvalidIdentifier(InvalidInput, ValueError):
    """An identifier (ID number, MSISDN, card serial...) fails validation.

    It is also a ``ValueError`` so that pydantic validators turn it into a field error.
    """


class PolicyViolation(CardtraceError):
    """Well-formed input that a policy or the law forbids."""


class AccessDenied(CardtraceError):
    """The caller has no legal basis, approval or scope for the operation."""


class TamperDetected(CardtraceError):
    """Evidence (a row, a leaf, a proof, a signature) does not verify."""


class NotFound(CardtraceError):
    """The named object does not exist."""


class ConfigurationError(CardtraceError):
    """The node is not configured for the operation (missing keys, bad database URL)."""
