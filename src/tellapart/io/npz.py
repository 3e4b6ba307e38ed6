"""Arrays with a JSON header in one ``.npz`` file: the format of every trained file tellapart ships."""

from __future__ import annotations

import io
import json
import os
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
    """Return the arrays (as float32) and the meta dict of a file written by ``write_npz``."""
    with np.load(path) as data:
        meta = json.loads(bytes(data["meta"]).decode())
        arrays = {name: data[name].astype(np.float32) for name in data.files if name != "meta"}
    return arrays, meta


def shipped_file(name: str) -> Traversable:
    """Return the file ``name`` shipped inside the package (``tellapart/data``); it may not exist."""
    return resources.files("tellapart").joinpath("data", name)


def read_shipped_npz(name: str) -> tuple[dict[str, np.ndarray], dict]:
    """``read_npz`` of the shipped file ``name``."""
    with resources.as_file(shipped_file(name)) as path:
        return read_npz(path)
