"""The phrases an image-text model scores: the shipped vocabulary and a user's own files.

A vocabulary file holds one phrase per line ("people sitting", "blue-white veil", "pleural effusion").
Blank lines are skipped and ``#`` starts a comment line; a line ``## NAME`` (two hashes) starts a section, so
a selection of the shipped list can be named (``builtin:dermoscopy,radiology``). Phrases are kept in file
order, each once (compared case-insensitively, first spelling kept).

The shipped list, ``tellapart/data/vocabulary.txt``, is written by ``scripts/make_vocabulary.py``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

BUILTIN = "builtin"
VOCABULARY_FILE = Path(__file__).resolve().parent.parent / "data" / "vocabulary.txt"
_SECTION = re.compile(r"^##\s*(\S.*?)\s*$")

__all__ = ["BUILTIN", "VOCABULARY_FILE", "builtin_sections", "load_vocabulary", "read_vocabulary"]


def read_vocabulary(path: str | os.PathLike, sections: Iterable[str] | None = None) -> list[str]:
    """Return the phrases of a vocabulary file, in order, each once; only those under the ``## NAME``
    headers listed in ``sections`` when given.

    Raises ValueError naming the file when it does not exist, cannot be read as UTF-8 text, holds no
    phrase, or lacks a requested section.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"vocabulary file {path} does not exist; give a text file with one phrase per "
                         "line") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"vocabulary file {path} cannot be read as UTF-8 text ({error})") from None
    wanted = None if sections is None else {s.strip().lower() for s in sections}
    found: set[str] = set()
    section = ""
    phrases = []
    for line in text.splitlines():
        line = line.strip()
        header = _SECTION.match(line)
        if header:
            section = header.group(1).lower()
            found.add(section)
            continue
        if not line or line.startswith("#"):
            continue
        if wanted is None or section in wanted:
            phrases.append(" ".join(line.split()))
    if wanted is not None and wanted - found:
        raise ValueError(f"vocabulary file {path} has no section {', '.join(sorted(wanted - found))}; its "
                         f"sections: {', '.join(sorted(found)) or 'none'}")
    unique = _unique(phrases)
    if not unique:
        raise ValueError(f"vocabulary file {path} holds no phrase: write one phrase per line ('#' starts a "
                         "comment)")
    return unique


def builtin_sections() -> list[str]:
    """Return the section names of the shipped vocabulary, in file order."""
    lines = VOCABULARY_FILE.read_text(encoding="utf-8").splitlines()
    return [m.group(1).lower() for m in map(_SECTION.match, (line.strip() for line in lines)) if m]


def load_vocabulary(specs: str | os.PathLike | Sequence[str | os.PathLike] | None = None) -> list[str]:
    """Return the phrases named by ``specs``, in order, each once.

    Each spec is a vocabulary file, ``"builtin"`` (the shipped list) or ``"builtin:NAME,NAME"`` (some of its
    sections, see `builtin_sections`). None means ``["builtin"]``. A user's file therefore *replaces* the
    shipped list; give ``["builtin", "mine.txt"]`` to add to it.
    """
    if specs is None:
        specs = [BUILTIN]
    elif isinstance(specs, str | os.PathLike):
        specs = [specs]
    if not specs:
        raise ValueError("the vocabulary is empty: give a file with one phrase per line, or 'builtin'")
    phrases: list[str] = []
    for spec in specs:
        name = os.fspath(spec)
        if name == BUILTIN:
            phrases += read_vocabulary(VOCABULARY_FILE)
        elif name.startswith(BUILTIN + ":"):
            phrases += read_vocabulary(VOCABULARY_FILE, [s for s in name.split(":", 1)[1].split(",") if s])
        else:
            phrases += read_vocabulary(name)
    return _unique(phrases)


def _unique(phrases: Iterable[str]) -> list[str]:
    """The phrases in order, each once, compared case-insensitively (the first spelling kept)."""
    seen: dict[str, str] = {}
    for phrase in phrases:
        seen.setdefault(phrase.lower(), phrase)
    return list(seen.values())
