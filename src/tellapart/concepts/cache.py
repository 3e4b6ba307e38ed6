"""A score cache keyed by image content hash, concept-source name and the source's cache version.

The version is derived, not typed by hand (``tellapart.concepts.versioning.cache_version``): it changes
with the package version, the decode settings and code, the source's code and its model weights, so a
cache folder shared by several installs or kept across upgrades never returns scores another build made.
Entries of old versions are never read again; delete the folder to reclaim their space.

Besides the scores it keeps the outlines a source drew on an image for the report (``put_outlines``), by the
same content key and source version, so a warm run decodes no example image to outline it again; and
results of the statistics by a digest of all their inputs (``recall`` / ``remember``, for
``stats.classifier.Memo``), so a repeated run fits nothing again.

SQLite in WAL mode: several runs may share one cache file, each batch is committed as soon as it is
scored, so an interrupted run keeps everything it finished and the next run resumes from there.

A cache file that is not a database, or a damaged one, is moved aside (kept, named in a `CacheRecovered`
warning) and a fresh cache is started: a cache only saves time, so a run never fails because of it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np

_SCHEMA = """
CREATE TABLE IF NOT EXISTS scores (
    key TEXT NOT NULL, source TEXT NOT NULL, version TEXT NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (key, source, version)
);
CREATE TABLE IF NOT EXISTS sources (
    source TEXT NOT NULL, version TEXT NOT NULL, concept_ids TEXT NOT NULL,
    PRIMARY KEY (source, version)
);
CREATE TABLE IF NOT EXISTS memo (
    key TEXT NOT NULL PRIMARY KEY, data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS outlines (
    key TEXT NOT NULL, source TEXT NOT NULL, version TEXT NOT NULL, concept TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (key, source, version, concept)
);
"""

T = TypeVar("T")

# Contours as stored: per contour a list of [x, y] pairs (``schema.round_contours``).
Contours = list[list[list[float]]]


# SQLite's result codes for a file that is not a database and for a damaged one.
_SQLITE_CORRUPT, _SQLITE_NOTADB = 11, 26


class CacheRecovered(UserWarning):
    """The score cache file was damaged: it was moved aside (the message says where), a new one started."""


def default_cache_dir() -> Path:
    """Return ``$TELLAPART_CACHE_DIR`` if set, else ``~/.cache/tellapart`` (honouring ``XDG_CACHE_HOME``)."""
    if os.environ.get("TELLAPART_CACHE_DIR"):
        return Path(os.environ["TELLAPART_CACHE_DIR"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "tellapart"


def _connect(path: Path, patience: float = 60.0) -> sqlite3.Connection:
    """Open the cache database in WAL mode and create its tables.

    Switching to WAL and creating tables need a moment of exclusive access, for which SQLite's busy
    timeout does not always wait when another process is doing the same; retry until ``patience`` runs out.
    """
    deadline = time.monotonic() + patience
    delay = 0.05
    while True:
        db = sqlite3.connect(path, timeout=patience, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            return db
        except sqlite3.DatabaseError as error:
            db.close()
            locked = isinstance(error, sqlite3.OperationalError) and "locked" in str(error)
            if not locked or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


class ScoreCache:
    """Per-image concept scores stored by (content hash, source name, source version).

    ``version`` is the source's derived cache version (`tellapart.concepts.versioning.cache_version`). A
    source's scores are only reused when its concept list is unchanged; a new version or a different
    concept list simply misses.
    """

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)
        if self.directory.exists() and not self.directory.is_dir():
            raise NotADirectoryError(f"the score cache folder {self.directory} is a file; give a folder "
                                     "(--cache-dir / cache_dir=) or turn the cache off (--no-cache)")
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / "scores.sqlite3"
        self._checked: dict[tuple[str, str], bool] = {}
        try:
            self._db = _connect(self.path)
        except sqlite3.DatabaseError as error:
            if not _damaged(error):
                raise _unusable(self.path, error) from None
            self._db = self._start_afresh(error, connected=False)

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

    def _start_afresh(self, error: sqlite3.DatabaseError, *, connected: bool = True,
                      stacklevel: int = 3) -> sqlite3.Connection:
        """Move the damaged cache file aside, warn where it went (``stacklevel``: the caller of the public
        method), and return a connection to a new one."""
        if connected:
            self._db.close()
        kept = _move_aside(self.path)
        warnings.warn(f"the score cache {self.path} was damaged ({error}); moved it to {kept} and started "
                      "a new cache (scores are computed again)", CacheRecovered, stacklevel=stacklevel)
        self._checked.clear()
        return _connect(self.path)

    def _or_afresh(self, operation: Callable[[], T], afterwards: Callable[[], T]) -> T:
        """Return ``operation()``; when the database turns out damaged, start a new cache file
        (`_start_afresh`) and return ``afterwards()`` instead: an empty answer for a read, the write again
        for a write."""
        try:
            return operation()
        except sqlite3.DatabaseError as error:
            if not _damaged(error):
                raise
            self._db = self._start_afresh(error, stacklevel=4)
            return afterwards()

    def _compatible(self, source: str, version: str, concept_ids: Sequence[str]) -> bool:
        """Record the source's concept list on first use; return False if a different list was stored."""
        token = (source, version)
        if token not in self._checked:
            wanted = json.dumps(list(concept_ids))
            row = self._db.execute(
                "SELECT concept_ids FROM sources WHERE source=? AND version=?", token
            ).fetchone()
            if row is None:
                self._db.execute("INSERT OR IGNORE INTO sources VALUES (?, ?, ?)", (*token, wanted))
                self._checked[token] = True
            else:
                self._checked[token] = row[0] == wanted
        return self._checked[token]

    def get(
        self, keys: Sequence[str], source: str, version: str, concept_ids: Sequence[str]
    ) -> dict[str, np.ndarray]:
        """Return the cached score vectors for those ``keys`` that have them."""
        return self._or_afresh(lambda: self._get(keys, source, version, concept_ids), dict)

    def _get(
        self, keys: Sequence[str], source: str, version: str, concept_ids: Sequence[str]
    ) -> dict[str, np.ndarray]:
        if not keys or not self._compatible(source, version, concept_ids):
            return {}
        found: dict[str, np.ndarray] = {}
        for key, blob in self._rows_of("key, data", "scores", keys, source, version):
            vector = np.frombuffer(blob, dtype=np.float32)
            if vector.size == len(concept_ids):
                found[key] = vector
        return found

    def _rows_of(self, columns: str, table: str, keys: Sequence[str], source: str,
                 version: str) -> Iterator[tuple]:
        """Yield ``columns`` of ``table``'s rows for ``source`` at ``version`` whose key is one of ``keys``
        (asked 500 keys at a time: SQLite bounds the number of parameters of a query)."""
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            marks = ",".join("?" * len(chunk))
            yield from self._db.execute(
                f"SELECT {columns} FROM {table} WHERE source=? AND version=? AND key IN ({marks})",
                (source, version, *chunk),
            )

    def put(
        self,
        items: Iterable[tuple[str, np.ndarray]],
        source: str,
        version: str,
        concept_ids: Sequence[str],
    ) -> None:
        """Store score vectors for (key, vector) pairs in one transaction."""
        rows = [(key, source, version, np.asarray(v, dtype=np.float32).tobytes()) for key, v in items]
        self._or_afresh(lambda: self._put(rows, source, version, concept_ids),
                        lambda: self._put(rows, source, version, concept_ids))

    def _put(self, rows: list[tuple], source: str, version: str, concept_ids: Sequence[str]) -> None:
        if not rows or not self._compatible(source, version, concept_ids):
            return
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("INSERT OR REPLACE INTO scores VALUES (?, ?, ?, ?)", rows)

    def get_outlines(
        self, keys: Sequence[str], source: str, version: str, concept_ids: Sequence[str]
    ) -> dict[tuple[str, str], Contours]:
        """Return the cached outlines (``put_outlines``) of ``concept_ids`` on the images ``keys``, by (key,
        concept id), for those cached."""
        return self._or_afresh(lambda: self._get_outlines(keys, source, version, concept_ids), dict)

    def _get_outlines(
        self, keys: Sequence[str], source: str, version: str, concept_ids: Sequence[str]
    ) -> dict[tuple[str, str], Contours]:
        wanted = set(concept_ids)
        rows = self._rows_of("key, concept, data", "outlines", keys, source, version)
        return {(key, cid): json.loads(data) for key, cid, data in rows if cid in wanted}

    def put_outlines(self, items: Iterable[tuple[str, str, Contours]], source: str, version: str) -> None:
        """Store (key, concept id, contours) outlines that ``source`` at ``version`` drew on the image with
        content key ``key`` (the region a concept measured, ``concepts.regions.RegionSource.outlines``), in
        one transaction. The contours go through JSON, which gives back exactly the floats it was given."""
        rows = [(key, source, version, concept, json.dumps(contours)) for key, concept, contours in items]
        if rows:
            self._or_afresh(lambda: self._put_outlines(rows), lambda: self._put_outlines(rows))

    def _put_outlines(self, rows: list[tuple]) -> None:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("INSERT OR REPLACE INTO outlines VALUES (?, ?, ?, ?, ?)", rows)

    def recall(self, key: str) -> bytes | None:
        """Return the bytes `remember` stored under ``key`` (a digest of what made them), or None."""
        query = "SELECT data FROM memo WHERE key=?"
        row = self._or_afresh(lambda: self._db.execute(query, (key,)).fetchone(), lambda: None)
        return None if row is None else bytes(row[0])

    def remember(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``; the key must name everything the data depends on."""
        self._or_afresh(lambda: self._remember(key, data), lambda: self._remember(key, data))

    def _remember(self, key: str, data: bytes) -> None:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("INSERT OR REPLACE INTO memo VALUES (?, ?)", (key, data))


def _damaged(error: sqlite3.DatabaseError) -> bool:
    """True when SQLite says the file is not a database, or a damaged one (not: locked, read-only, full)."""
    code = getattr(error, "sqlite_errorcode", None)  # Python 3.11+
    if code is not None:
        return code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
    text = str(error)
    return "not a database" in text or "malformed" in text


def _move_aside(path: Path) -> Path:
    """Rename the cache file (and its WAL and shared-memory files) to ``NAME.damaged-TIME``; return the new
    name of the cache file."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    kept = path.with_name(f"{path.name}.damaged-{stamp}-{os.getpid()}")
    for suffix in ("", "-wal", "-shm"):
        part = path.with_name(path.name + suffix)
        if part.exists():
            os.replace(part, kept.with_name(kept.name + suffix))
    return kept


def _unusable(path: Path, error: sqlite3.DatabaseError) -> OSError:
    """The error for a cache file SQLite cannot open or write (a read-only folder, a full disk...)."""
    return OSError(f"cannot use the score cache {path} ({error}); give another folder with "
                           "--cache-dir (cache_dir=) or run without the cache (--no-cache)")
