"""How text from outside is written out: one line, no terminal controls, every byte kept."""

from __future__ import annotations

import os
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cardtrace.text import OUTPUT_ERRORS, printable


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("shop-1.jsonl", "shop-1.jsonl"),
        ("店铺-1.jsonl", "店铺-1.jsonl"),
        ("a\nb\r\tc", "a\\x0ab\\x0d\\x09c"),
        ("\x1b[31mred", "\\x1b[31mred"),
        ("\x7f\x85\x9f", "\\x7f\\x85\\x9f"),
        ("\u2028\u2029", "\\u2028\\u2029"),
        (os.fsdecode(b"shop-\xb5\xea"), "shop-\\xb5\\xea"),  # GBK bytes in a name
        ("\ud800", "\\ud800"),
    ],
)
def test_printable_escapes_what_would_not_show_as_itself(text: str, shown: str) -> None:
    assert printable(text) == shown


@given(st.text(st.characters(codec=None)))
def test_printable_text_is_one_line_of_visible_utf8(text: str) -> None:
    shown = printable(text)
    shown.encode("utf-8")  # no lone surrogates left
    assert len(shown.splitlines()) <= 1
    assert not any(unicodedata.category(char) == "Cc" for char in shown)


@given(st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"))))
def test_printable_leaves_visible_text_alone(text: str) -> None:
    assert printable(text) == text


def test_the_output_error_handler_writes_what_a_stream_cannot_encode_as_escapes() -> None:
    name = os.fsdecode(b"\xff") + "é店\U0001f4f1"
    assert name.encode("ascii", OUTPUT_ERRORS) == b"\\xff\\xe9\\u5e97\\U0001f4f1"
    assert name.encode("utf-8", OUTPUT_ERRORS) == "\\xffé店\U0001f4f1".encode()
