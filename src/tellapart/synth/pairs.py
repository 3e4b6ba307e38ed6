"""Pairs of image sets with a known difference, in memory or written to disk."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from tellapart.io.atomic import write_atomic

Edit = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def make_pair(pool: Sequence[np.ndarray], edit: Edit | None, n_a: int, n_b: int, seed: int = 0,
              purity: float = 1.0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Split ``pool`` at random into set A (``n_a`` images) and set B (``n_b``), and edit A.

    A share ``purity`` of A's images get ``edit``; with ``edit=None`` or ``purity=0`` the two sets come from
    the same distribution. Returns (set A images, set B images).
    """
    if n_a < 1 or n_b < 1:
        raise ValueError(f"set sizes must be at least 1, got {n_a} and {n_b}")
    if n_a + n_b > len(pool):
        raise ValueError(f"the pool has {len(pool)} images, fewer than the {n_a + n_b} requested")
    if not 0 <= purity <= 1:
        raise ValueError(f"purity must be between 0 and 1, got {purity}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(pool))
    set_a = [pool[i] for i in order[:n_a]]
    set_b = [pool[i] for i in order[n_a : n_a + n_b]]
    if edit is not None:
        n_edit = round(purity * n_a)
        set_a = [edit(img, rng) if i < n_edit else img for i, img in enumerate(set_a)]
    return set_a, set_b


def write_pair(set_a: Sequence[np.ndarray], set_b: Sequence[np.ndarray], folder: str | Path,
               truth: dict | None = None) -> tuple[Path, Path]:
    """Write the two sets as PNG files into ``folder/set_a`` and ``folder/set_b`` (plus ``truth.json``).

    Returns the two set folders.
    """
    import io

    from PIL import Image

    root = Path(folder)
    folders = []
    for name, images in (("set_a", set_a), ("set_b", set_b)):
        target = root / name
        target.mkdir(parents=True, exist_ok=True)
        for i, img in enumerate(images):
            buffer = io.BytesIO()
            Image.fromarray(img).save(buffer, format="PNG")
            write_atomic(target / f"{name}_{i:04d}.png", buffer.getvalue())
        folders.append(target)
    if truth is not None:
        write_atomic(root / "truth.json", json.dumps(truth, indent=2))
    return folders[0], folders[1]
