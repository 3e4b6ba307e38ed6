"""Content hashes: the keys under which decoded images and their scores are cached."""

from __future__ import annotations

import hashlib

import numpy as np


def content_hash(data: bytes) -> str:
    """Return the hex SHA-256 of ``data`` (the key of an image read from a file)."""
    return hashlib.sha256(data).hexdigest()


def array_hash(arr: np.ndarray) -> str:
    """Return the hex SHA-256 of an array's dtype, shape and bytes (the key of an in-memory image).

    Two arrays get the same hash only if they have the same dtype, the same shape and the same values,
    whatever their memory layout (the bytes are hashed in C order).
    """
    arr = np.ascontiguousarray(arr)
    digest = hashlib.sha256()
    digest.update(arr.dtype.str.encode())
    digest.update(repr(arr.shape).encode())
    if arr.size:  # memoryview avoids copying large images; it cannot cast empty arrays
        digest.update(memoryview(arr).cast("B"))
    return digest.hexdigest()
