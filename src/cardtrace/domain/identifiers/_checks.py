"""Check-digit arithmetic shared by the parsers and by whoever builds valid test values.

The functions are pure and public so the synthetic-world generator can append a correct
check character instead of guessing, and so tests can build a value and its mutations.
"""

from __future__ import annotations

from cardtrace.errors import InvalidIdentifier

__all__ = [
    "is_ascii_digits",
    "luhn_check_digit",
    "luhn_is_valid",
    "resident_id_check_digit",
    "strip_separators",
]

# ISO 7064 MOD 11-2 as GB 11643-1999 applies it: weight 2**(17 - i) mod 11 for digit i.
_RESIDENT_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
# Index = weighted sum mod 11, value = the check character that makes the total 1 mod 11.
_RESIDENT_CHECK_CHARS = "10X98765432"


def is_ascii_digits(value: str) -> bool:
    """True for a non-empty run of 0-9; ``str.isdigit`` alone would accept '²' or '١'."""
    return value.isascii() and value.isdigit()


def strip_separators(value: str) -> str:
    """Drop the spaces and hyphens people type to group digits (``138 1234-5678``)."""
    return "".join(value.split()).replace("-", "")


def resident_id_check_digit(first17: str) -> str:
    """The 18th character (``0``-``9`` or ``X``) of a resident ID number (GB 11643-1999)."""
    if len(first17) != 17 or not is_ascii_digits(first17):
        raise InvalidIdentifier("a resident ID check digit needs exactly 17 digits")
    total = sum(
        int(digit) * weight for digit, weight in zip(first17, _RESIDENT_WEIGHTS, strict=True)
    )
    return _RESIDENT_CHECK_CHARS[total % 11]


def _luhn_sum(digits: str, *, double_first: bool) -> int:
    """Luhn sum from the right; ``double_first`` doubles the right-most digit."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if (position % 2 == 0) == double_first:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total


def luhn_check_digit(digits: str) -> str:
    """The digit to append to ``digits`` so the whole passes Luhn (bank cards, ICCIDs)."""
    if not is_ascii_digits(digits):
        raise InvalidIdentifier("a Luhn check digit needs at least one digit and digits only")
    return str(-_luhn_sum(digits, double_first=True) % 10)


def luhn_is_valid(digits: str) -> bool:
    """True when ``digits`` (check digit included) passes Luhn."""
    return is_ascii_digits(digits) and _luhn_sum(digits, double_first=False) % 10 == 0
