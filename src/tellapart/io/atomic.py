"""Atomic file writes: a reader never sees a half-written report, and a crash leaves no partial file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: str | os.PathLike, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename it into place.

    Returns the path written. The parent folder must exist. An error names ``path``, never the temporary
    file (a user cannot act on a name they never gave).
    """
    target = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as error:
        raise _naming(error, target) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException as error:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise _naming(error, target) from None
        raise
    return target


def _naming(error: OSError, target: Path) -> OSError:
    """Return the same kind of error, naming ``target`` instead of the temporary file."""
    if error.errno is None:
        return error
    return type(error)(error.errno, error.strerror, str(target))
