"""Settings a node could not work under are refused when read, naming the variable."""

from __future__ import annotations

import pytest

from cardtrace.errors import InvalidInput
from cardtrace.settings import Settings, load_settings


@pytest.fixture(autouse=True)
def no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(f"CARDTRACE_{name.upper()}", raising=False)


@pytest.mark.parametrize("name", ["NODE_ID", "ORIGIN"])
@pytest.mark.parametrize("value", ["bad id", "a+b", "tab\there", "bell\x07", "del\x7f", "line\n"])
def test_a_log_name_with_a_space_plus_or_control_character_is_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(f"CARDTRACE_{name}", value)
    with pytest.raises(InvalidInput, match=f"^setting CARDTRACE_{name}: names the log and its"):
        load_settings()


@pytest.mark.parametrize("value", ["node-7", "shop.05", "平台-1", "a" * 190])
def test_a_node_id_that_can_name_a_log_is_taken(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("CARDTRACE_NODE_ID", value)
    settings = load_settings()
    assert settings.log_origin == f"cardtrace/{value}"
    assert len(settings.log_origin) <= 200


@pytest.mark.parametrize(("value", "said"), [("", "at least 1 character"), ("a" * 191, "at most")])
def test_a_node_id_that_is_empty_or_would_make_the_origin_too_long_is_refused(
    monkeypatch: pytest.MonkeyPatch, value: str, said: str
) -> None:
    monkeypatch.setenv("CARDTRACE_NODE_ID", value)
    with pytest.raises(InvalidInput, match=f"CARDTRACE_NODE_ID: .*{said}"):
        load_settings()


@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_key_folder_is_refused_not_read_as_the_working_folder(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("CARDTRACE_KEY_DIR", value)
    with pytest.raises(InvalidInput, match="CARDTRACE_KEY_DIR: empty: name the folder"):
        load_settings()


def test_a_quorum_more_witnesses_than_are_trusted_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CARDTRACE_WITNESS_KEYS", '["w1+1a2b3c4d+AAAA", "w1+5e6f7a8b+BBBB"]')
    monkeypatch.setenv("CARDTRACE_WITNESS_QUORUM", "2")  # two keys, one witness
    with pytest.raises(
        InvalidInput,
        match=r"^setting CARDTRACE_WITNESS_QUORUM: 2 witnesses wanted, but "
        r"CARDTRACE_WITNESS_KEYS trusts 1: no checkpoint",
    ):
        load_settings()
    monkeypatch.setenv("CARDTRACE_WITNESS_QUORUM", "1")
    assert load_settings().witness_quorum == 1


def test_a_quorum_without_witnesses_is_left_for_a_node_that_has_none_yet(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CARDTRACE_WITNESS_QUORUM", "3")
    assert load_settings().witness_quorum == 3


def test_witness_keys_nested_too_deeply_are_not_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARDTRACE_WITNESS_KEYS", "[" * 100_000)
    with pytest.raises(InvalidInput, match=r"^setting CARDTRACE_WITNESS_KEYS: not JSON"):
        load_settings()
