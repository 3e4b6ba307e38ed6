"""Arrays with a JSON header in one ``.npz`` file: the format of every trained file tellapart ships."""

from __future__ import annotations

import io
import json
import os
import zipfile
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

import numpy as np

from tellapart.io.atomic import write_atomic


def write_npz(path: str | os.PathLike, meta: dict, **arrays: np.ndarray) -> Path:
    """Write ``arrays`` and the JSON-ready ``meta`` to ``path`` (compressed, atomically); return the path."""
    packed = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays, meta=packed)
    return write_atomic(path, buffer.getvalue())


def read_npz(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict]:
    """Return the arrays (as float32) and the meta dict of a file written by ``write_npz``.

    Raises FileNotFoundError for a missing file and ValueError, naming the file, for one that is not such
    an archive (never numpy's advice to load pickled data).
    """
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise _not_ours(path, "not an .npz archive, or a damaged one") from error
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise _not_ours(path, "a single .npy array, not an .npz archive")
    with data:
        try:
            meta = json.loads(bytes(data["meta"]).decode())
            arrays = {name: data[name].astype(np.float32) for name in data.files if name != "meta"}
        except KeyError:
            raise _not_ours(path, "an .npz archive without tellapart's meta record") from None
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
            raise _not_ours(path, f"a damaged .npz archive: {error}") from error
    if not isinstance(meta, dict):
        raise _not_ours(path, "its meta record is not a JSON object")
    return arrays, meta


def _not_ours(path: str | os.PathLike, why: str) -> ValueError:
    return ValueError(f"{os.fspath(path)} is not a file tellapart wrote ({why})")


def shipped_file(name: str) -> Traversable:
    """Return the file ``name`` shipped inside the package (``tellapart/data``); it may not exist."""
    return resources.files("tellapart").joinpath("data", name)


def read_shipped_npz(name: str) -> tuple[dict[str, np.ndarray], dict]:
    """``read_npz`` of the shipped file ``name``."""
    with resources.as_file(shipped_file(name)) as path:
        return read_npz(path)
