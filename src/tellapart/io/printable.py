"""User strings made safe for a terminal: a file name may hold escape codes, newlines or undecodable bytes."""

from __future__ import annotations

import unicodedata

# Bidirectional overrides and isolates reorder what a terminal shows ("Trojan Source"); escaped like controls.
_BIDI = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Control characters, and the lone surrogates Python uses for bytes of a file name that are not UTF-8.
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cs"})


def printable(text: object, *, keep_newlines: bool = False) -> str:
    """Return ``str(text)`` with every control character escaped as Python writes it (``\\x1b``, ``\\n``,
    ``\\u202e``, ``\\udcff``), so a file name cannot colour the terminal, move its cursor, set its title,
    forge an output line or fail to print. ``keep_newlines`` keeps line breaks, for messages of several
    lines whose own names were escaped already. Printable text, unicode included, is returned unchanged.
    """
    value = str(text)
    if value.isprintable():
        return value
    kept = "\n" if keep_newlines else ""
    return "".join(ch if ch in kept or not _needs_escape(ch) else _escape(ch) for ch in value)


def _needs_escape(ch: str) -> bool:
    return ch in _BIDI or unicodedata.category(ch) in _ESCAPED_CATEGORIES


def _escape(ch: str) -> str:
    return ch.encode("unicode_escape").decode("ascii")
