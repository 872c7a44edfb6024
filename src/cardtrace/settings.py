"""Typed settings, read from the environment (``CARDTRACE_*``) by :func:`load_settings`.

Nothing is read at import time: callers build a ``Settings`` when they need one, so
tests and front ends can pass their own values.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cardtrace.errors import InvalidInput

__all__ = ["DEFAULT_DATABASE_FILE", "Settings", "load_settings", "usable_cores"]

DEFAULT_DATABASE_FILE = "cardtrace.db"
_ENV_PREFIX = "CARDTRACE_"
#: A C2SP key name and log origin: no spaces, no '+', no control characters.
_KEY_NAME = re.compile(r"[^\s+\x00-\x1f\x7f]+")
_KEY_NAME_RULE = "no spaces, no '+' and no control characters"
#: The origin of a node's log without a set origin: cardtrace/<node_id>.
_DEFAULT_ORIGIN = "cardtrace/"
_ORIGIN_MAX = 200


class Settings(BaseSettings):
    """Where the node keeps its data and keys, and how strict it is about them."""

    # Settings that hold more than one value (lists) get their text as it is: each
    # parses its own, so a value that is not JSON is a one-line error naming the setting
    # and the form it wants, where pydantic-settings would raise SettingsError.
    model_config = SettingsConfigDict(env_prefix=_ENV_PREFIX, extra="ignore", enable_decoding=False)

    database_url: str = Field(
        default=f"sqlite:///{DEFAULT_DATABASE_FILE}",
        description="SQLAlchemy URL; a SQLite file in the working directory by default.",
    )
    key_dir: Path = Field(
        default=Path(".cardtrace/keys"),
        description="Folder of the node's secret keys; never inside the database.",
    )
    environment: Literal["development", "production"] = Field(
        default="development",
        description="In production, missing keys are an error instead of being created.",
    )
    node_id: str = Field(
        default="local",
        min_length=1,
        max_length=_ORIGIN_MAX - len(_DEFAULT_ORIGIN),
        description=f"This node's id (log origin); {_KEY_NAME_RULE}.",
    )
    origin: str | None = Field(
        default=None,
        min_length=1,
        max_length=_ORIGIN_MAX,
        description="Origin of this node's log and name of its checkpoint key; "
        f"unset: cardtrace/<node_id>. {_KEY_NAME_RULE.capitalize()}.",
    )
    witness_keys: list[str] = Field(
        default_factory=list,
        description="Cosignature verifier keys (name+keyid+base64, type 0x04) of the "
        "witnesses this node trusts; a JSON list in the environment.",
    )
    witness_quorum: int = Field(
        default=1,
        ge=1,
        le=100,
        description="Distinct trusted witnesses whose cosignatures make a checkpoint 'witnessed'.",
    )
    batch_size: int = Field(
        default=20_000, ge=1, le=200_000, description="Events per ingest transaction."
    )
    card_formats: Path | None = Field(
        default=None,
        description="JSON file of card-format hints that add to or replace the built-in "
        "ones by issuer (cardtrace.domain.cards.load_card_formats).",
    )
    ingest_workers: int | None = Field(
        default=None,
        ge=0,
        le=64,
        description="Processes that validate while one stores; unset: one per core for "
        "inputs over 32 MiB, none for smaller ones (starting a worker costs ~1 s).",
    )

    @field_validator("key_dir", mode="before")
    @classmethod
    def _named_folder(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            # Path("") is the working folder: the keys would lie beside the database.
            raise ValueError("empty: name the folder of the node's keys")
        return value

    @field_validator("node_id", "origin")
    @classmethod
    def _key_name(cls, value: str | None) -> str | None:
        if value is not None and not _KEY_NAME.fullmatch(value):
            raise ValueError(
                f"names the log and its checkpoint key, so it may hold {_KEY_NAME_RULE}"
            )
        return value

    @field_validator("witness_quorum")
    @classmethod
    def _reachable(cls, quorum: int, info: ValidationInfo) -> int:
        # Declared after witness_keys, so those are validated by now (if they are valid).
        witnesses = {key.split("+", 1)[0] for key in info.data.get("witness_keys", [])}
        if witnesses and quorum > len(witnesses):
            raise ValueError(
                f"{quorum} witnesses wanted, but CARDTRACE_WITNESS_KEYS trusts "
                f"{len(witnesses)}: no checkpoint could ever be witnessed"
            )
        return quorum

    @field_validator("witness_keys", mode="before")
    @classmethod
    def _json_list(cls, value: object) -> object:
        if not isinstance(value, str):
            return value  # given in code, not read from the environment
        try:
            keys = json.loads(value)
        except (ValueError, RecursionError):  # RecursionError: nested thousands deep
            raise ValueError(
                'not JSON: expects a JSON list of witness keys, e.g. ["witness+1a2b3c4d+BASE64"] '
                "as 'cardtrace keys verifier --witness' prints them, or [] for none",
            ) from None
        return [] if keys is None else keys  # null: none, as pydantic-settings read it

    @property
    def log_origin(self) -> str:
        """The origin line of this node's checkpoints, also its signing key's name."""
        return self.origin or f"cardtrace/{self.node_id}"


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment, then apply non-None ``overrides``."""
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name, *within = first["loc"] or ("settings",)
        where = "".join(f"[{part}]" for part in within)  # an item of a list
        reason = first["msg"].removeprefix("Value error, ")
        raise InvalidInput(f"setting {_variable(str(name))}{where}: {reason}") from None


def _variable(field: str) -> str:
    """The environment variable a setting is read from."""
    return f"{_ENV_PREFIX}{field.upper()}" if field in Settings.model_fields else field


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, not the machine's count)."""
    return len(os.sched_getaffinity(0))
