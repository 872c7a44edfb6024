"""Card format hints: hard errors for impossible characters, soft warnings for odd lengths.

Serials and PINs here are random digits or letters, never real cards.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cardtrace.domain import cards
from cardtrace.domain.cards import (
    CARD_FORMATS,
    CardFormat,
    card_code,
    card_format_warnings,
    clean_card_code,
    issuer_code,
    pin_like_serial,
)
from cardtrace.errors import InvalidIdentifier

# (issuer, serial lengths, PIN lengths) as domain brief §1.2 gives them; () = unknown.
DOMAIN_FIGURES = [
    ("cmcc", (17,), (18,)),
    ("cmcc-jiangsu", (16,), (17,)),
    ("cmcc-fujian", (16,), (17,)),
    ("cmcc-zhejiang", (10,), (8,)),
    ("cmcc-liaoning", (16,), (21,)),
    ("cucc", (15,), (19,)),
    ("ctcc", (19,), (18,)),
    ("jd-ecard", (), (16,)),
    ("sinopec", (), ()),
]
ISSUER_CODE = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")  # the pattern CardEvent.issuer uses
ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def test_all_lists_the_public_names() -> None:
    defined_here = {
        name
        for name, obj in vars(cards).items()
        if not name.startswith("_") and getattr(obj, "__module__", None) == cards.__name__
    }
    aliases = {"CARD_FORMATS", "Alphabet", "Confidence", "IssuerCode"}
    assert defined_here | aliases == set(cards.__all__)


@pytest.mark.parametrize(("issuer", "serial_lengths", "pin_lengths"), DOMAIN_FIGURES)
def test_formats_carry_the_domain_figures(
    issuer: str, serial_lengths: tuple[int, ...], pin_lengths: tuple[int, ...]
) -> None:
    known = CARD_FORMATS[issuer]
    assert known.issuer == issuer
    assert known.serial_lengths == frozenset(serial_lengths)
    assert known.pin_lengths == frozenset(pin_lengths)


def test_every_issuer_code_fits_the_event_field() -> None:
    assert sorted(CARD_FORMATS) == sorted(issuer for issuer, _, _ in DOMAIN_FIGURES)
    for issuer, known in CARD_FORMATS.items():
        assert ISSUER_CODE.fullmatch(issuer)
        assert known.issuer == issuer


def test_jd_pins_are_alphanumeric_and_the_rest_digits() -> None:
    assert CARD_FORMATS["jd-ecard"].pin_alphabet == "alnum"
    assert CARD_FORMATS["jd-ecard"].confidence == "unconfirmed"
    assert CARD_FORMATS["sinopec"].confidence == "unconfirmed"
    assert CARD_FORMATS["cmcc"].pin_alphabet == "digits"


@st.composite
def fitting_cards(draw: st.DrawFn) -> tuple[str, str | None, str | None]:
    """A known issuer and a serial and PIN that fit its hints (either may be missing)."""
    issuer = draw(st.sampled_from(sorted(CARD_FORMATS)))
    known = CARD_FORMATS[issuer]
    codes = []
    for lengths, alphabet in (
        (known.serial_lengths, known.serial_alphabet),
        (known.pin_lengths, known.pin_alphabet),
    ):
        size = draw(st.sampled_from(sorted(lengths))) if lengths else draw(st.integers(4, 24))
        chars = "0123456789" if alphabet == "digits" else ALNUM
        codes.append(draw(st.none() | st.text(alphabet=chars, min_size=size, max_size=size)))
    return issuer, codes[0], codes[1]


@given(fitting_cards())
def test_fitting_cards_pass_without_warnings(card: tuple[str, str | None, str | None]) -> None:
    _, serial, pin = card
    for kind, code in (("serial", serial), ("PIN", pin)):
        assert code is None or card_code(kind, code) == code.upper()
    assert card_format_warnings(*card) == []


@given(st.sampled_from(sorted(CARD_FORMATS)), st.integers(1, 32), st.integers(1, 32), st.data())
def test_wrong_lengths_are_warnings_that_hide_the_value(
    issuer: str, serial_length: int, pin_length: int, data: st.DataObject
) -> None:
    known = CARD_FORMATS[issuer]
    serial = data.draw(
        st.text(alphabet="0123456789", min_size=serial_length, max_size=serial_length)
    )
    pin = data.draw(st.text(alphabet="0123456789", min_size=pin_length, max_size=pin_length))
    assert (card_code("serial", serial), card_code("PIN", pin)) == (serial, pin)
    found = card_format_warnings(issuer, serial, pin)
    expected = set()
    if known.serial_lengths and serial_length not in known.serial_lengths:
        expected.add("serial")
    if known.pin_lengths and pin_length not in known.pin_lengths:
        expected.add("pin")
    assert {field for field, _ in found} == expected
    for _, message in found:
        assert serial not in message or len(serial) <= 2
        assert pin not in message or len(pin) <= 2


def test_length_warning_names_lengths_only() -> None:
    assert card_format_warnings("cmcc", "1234567890123456", None) == [
        ("serial", "serial has 16 characters, cmcc uses 17")
    ]


def test_letters_in_a_digit_field_are_a_warning() -> None:
    found = card_format_warnings("cucc", "12345678901234A", "1234567890123456789")
    assert found == [("serial", "serial has characters other than digits, cucc uses digits only")]


def test_unknown_issuer_is_a_warning_not_an_error() -> None:
    assert card_format_warnings("acme-games", "ABC123", "XYZ789") == [
        ("issuer", "unknown issuer code; card format not checked")
    ]


def test_other_hints_can_be_passed_in() -> None:
    hints = {"acme": CardFormat("acme", "Acme card", frozenset({6}), frozenset({6}))}
    assert card_format_warnings("acme", "123456", "123456", hints) == []
    assert card_format_warnings("cmcc", "123456", "123456", hints)[0][0] == "issuer"


@pytest.mark.parametrize("kind", ["serial", "PIN"])
@pytest.mark.parametrize("value", ["", " ", "- -"])
def test_empty_codes_are_errors(kind: str, value: str) -> None:
    with pytest.raises(InvalidIdentifier, match=f"^card {kind} is empty$"):
        card_code(kind, value)


@given(
    st.sampled_from(["serial", "PIN"]),
    st.text(alphabet=ALNUM, min_size=3, max_size=12),
    st.characters(exclude_characters=ALNUM + "-").filter(lambda c: not c.isspace()),
    st.integers(0, 12),
)
def test_foreign_characters_are_errors_that_hide_the_value(
    kind: str, code: str, bad: str, at: int
) -> None:
    value = code[:at] + bad + code[at:]
    with pytest.raises(InvalidIdentifier) as caught:
        card_code(kind, value)
    assert value not in str(caught.value)
    assert f"card {kind} may contain only letters A-Z and digits" in str(caught.value)


def test_no_serial_and_no_pin_is_left_to_the_event_model() -> None:
    assert card_format_warnings("cmcc", None, None) == []


def test_clean_card_code_drops_group_separators() -> None:
    assert clean_card_code(" AB12-cd34-EF56-gh78 ") == "AB12cd34EF56gh78"
    assert card_code("PIN", "AB12-cd34 EF56\tgh78") == "AB12CD34EF56GH78"
    assert card_format_warnings("jd-ecard", None, clean_card_code("AB12-cd34-EF56-gh78")) == []


@given(st.sampled_from(["serial", "PIN"]), st.text(alphabet=ALNUM, min_size=1, max_size=32))
def test_a_code_with_letters_is_one_code_in_either_case(kind: str, code: str) -> None:
    normal = card_code(kind, code)
    assert normal == code.upper()
    assert card_code(kind, code.lower()) == card_code(kind, code.swapcase()) == normal


@pytest.mark.parametrize("digits", ["\u0661\u0662\u0663", "12\u00b2", "\uff11\uff12"])
def test_digits_of_other_scripts_are_not_card_digits(digits: str) -> None:
    with pytest.raises(InvalidIdentifier, match="only letters A-Z and digits"):
        card_code("PIN", digits)


@pytest.mark.parametrize(
    ("typed", "code"), [("cmcc", "cmcc"), ("CMCC", "cmcc"), (" Jd-ECard ", "jd-ecard")]
)
def test_issuer_codes_are_kept_in_lower_case(typed: str, code: str) -> None:
    assert issuer_code(typed) == code


def test_a_serial_with_the_length_of_its_issuers_pins_is_refused_not_warned() -> None:
    assert pin_like_serial("cmcc", "3" * 18) is not None  # cmcc: serial 17, PIN 18
    assert pin_like_serial("cmcc", "3" * 17) is None
    assert pin_like_serial("cmcc", "3" * 16) is None  # unusual length: a warning only
    assert pin_like_serial("jd-ecard", "3" * 16) is None  # serial lengths not known
    assert pin_like_serial("no-such-issuer", "3" * 18) is None
    assert pin_like_serial("cmcc", None) is None


@pytest.mark.parametrize("typed", ["", "-cmcc", "cm cc", "中国移动", "x" * 33, "10086", "1cmcc"])
def test_a_malformed_issuer_code_is_refused(typed: str) -> None:
    with pytest.raises(InvalidIdentifier, match="is not an issuer code"):
        issuer_code(typed)
