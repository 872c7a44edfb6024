"""How text from outside (file names, arguments, messages naming them) is written out.

One rule, used by every writer of such text (error lines, tables, the rejects file):
a character that could break a line or drive a terminal is written as an escape, so a
name shows on one line and as what it is.

* C0 and C1 controls and DEL (a newline, ESC, NEL) as ``\\xNN``;
* the Unicode line and paragraph separators as ``\\u2028`` and ``\\u2029``;
* a byte of a name that was not UTF-8 (which Python reads as a lone surrogate, ``\\udcff``
  for 0xFF) as the byte, ``\\xff``; any other lone surrogate as ``\\udNNN``.
"""

from __future__ import annotations

import codecs

__all__ = ["OUTPUT_ERRORS", "printable"]


def _escape(code: int) -> str:
    if code < 0x100:
        return f"\\x{code:02x}"
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8, read with surrogateescape
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


_UNSHOWN = [*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029, *range(0xD800, 0xE000)]
_ESCAPES = {code: _escape(code) for code in _UNSHOWN}


def printable(text: str) -> str:
    """``text`` with every character that would not show as itself escaped (module doc)."""
    return text.translate(_ESCAPES)


#: The name of the codec error handler that writes what an output stream cannot encode as
#: escapes: the bytes of a name that was not UTF-8 as ``\\xNN`` (:func:`printable`), any
#: other character as ``\\uNNNN`` (a strict ASCII locale). For ``errors=`` of a stream.
OUTPUT_ERRORS = "cardtrace.escape"


def _unencodable(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    text = error.object[error.start : error.end]
    return "".join(_escape(ord(char)) for char in text), error.end


codecs.register_error(OUTPUT_ERRORS, _unencodable)
