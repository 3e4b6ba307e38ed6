"""Pairs of image sets with a known difference, in memory or written to disk."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tellapart.io.atomic import write_atomic
from tellapart.synth.families import Difference, Family, check_strength, get_family

Edit = Callable[[np.ndarray, np.random.Generator], np.ndarray]


@dataclass
class SyntheticPair:
    """Two image sets with a known difference.

    Attributes:
        set_a, set_b: RGB uint8 images.
        differences: what tells A from B (empty for a null pair: purity 0 or no edit).
        truth: the JSON-ready description written to truth.json (differences and every knob).
    """

    set_a: list[np.ndarray]
    set_b: list[np.ndarray]
    differences: list[Difference]
    truth: dict = field(default_factory=dict)

    @property
    def is_null(self) -> bool:
        """True when the two sets come from the same distribution."""
        return not self.differences


def make_pair(
    pool: Sequence[np.ndarray], edit: Edit | None, n_a: int, n_b: int, seed: int = 0, purity: float = 1.0
) -> tuple[list[np.ndarray], list[np.ndarray]]:
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


def _check_knobs(n_a: int, n_b: int, purity: float, concentration: float) -> None:
    if n_a < 1 or n_b < 1:
        raise ValueError(f"set sizes must be at least 1, got {n_a} and {n_b}")
    if not 0 <= purity <= 1:
        raise ValueError(f"purity must be between 0 and 1, got {purity}")
    if not 0 < concentration <= 1:
        raise ValueError(f"concentration must be in (0, 1], got {concentration}")


def make_edited_pair(
    pool: Sequence[np.ndarray],
    edits: Sequence[tuple[Family | str, float]],
    n_a: int,
    n_b: int,
    seed: int = 0,
    purity: float = 1.0,
    concentration: float = 1.0,
    dilution: Sequence[np.ndarray] | None = None,
) -> SyntheticPair:
    """Make a pair of sets from ``pool`` where set A carries one or several edits.

    Parameters:
        pool: the base images; A and B are disjoint random draws from it.
        edits: (family or family name, strength in (0, 1]) pairs; several make a multi-difference pair.
            Each edit goes to its own random share ``purity`` of A's pool images (so some images carry two).
        purity: share of A's pool images that carry each edit; 0 gives a null pair (no difference).
        concentration: share of each set drawn from ``pool``; the rest of both sets comes, unedited, from
            ``dilution`` (a third pool), which dilutes the difference without creating one.
        dilution: the third pool; required when ``concentration < 1``.

    Returns:
        A `SyntheticPair`, deterministic for ``seed``. Raises ValueError for impossible knobs, unknown
        families, empty pools and pools smaller than the sets asked for.
    """
    _check_knobs(n_a, n_b, purity, concentration)
    resolved = [(get_family(f) if isinstance(f, str) else f, s) for f, s in edits]
    for _, strength in resolved:
        check_strength(strength)
    if not pool:
        raise ValueError("the base pool is empty")
    primary_a, primary_b = round(concentration * n_a), round(concentration * n_b)
    extra_a, extra_b = n_a - primary_a, n_b - primary_b
    if primary_a + primary_b > len(pool):
        raise ValueError(
            f"the base pool has {len(pool)} images, fewer than the {primary_a + primary_b} requested"
        )
    if extra_a + extra_b:
        if not dilution:
            raise ValueError(f"concentration {concentration} needs a non-empty dilution pool")
        if extra_a + extra_b > len(dilution):
            raise ValueError(
                f"the dilution pool has {len(dilution)} images, fewer than the {extra_a + extra_b} requested"
            )
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(pool))
    set_a = [pool[i] for i in order[:primary_a]]
    set_b = [pool[i] for i in order[primary_a : primary_a + primary_b]]
    n_edit = round(purity * primary_a)
    differences = []
    if n_edit > 0:
        for family, strength in resolved:
            for i in rng.choice(primary_a, n_edit, replace=False):
                set_a[i] = family.apply(set_a[i], rng, strength)
            differences.append(family.difference(strength))
    if extra_a + extra_b:
        d_order = rng.permutation(len(dilution))
        set_a += [dilution[i] for i in d_order[:extra_a]]
        set_b += [dilution[i] for i in d_order[extra_a : extra_a + extra_b]]
    # Shuffle so the edited and diluting images are not in blocks (file order must carry no signal).
    set_a = [set_a[i] for i in rng.permutation(n_a)]
    set_b = [set_b[i] for i in rng.permutation(n_b)]
    truth = {
        "differences": [d.to_dict() for d in differences],
        "null": not differences,
        "edits": [{"family": f.name, "strength": float(s)} for f, s in resolved],
        "purity": float(purity),
        "concentration": float(concentration),
        "n_a": n_a,
        "n_b": n_b,
        "seed": seed,
    }
    return SyntheticPair(set_a, set_b, differences, truth)


def write_pair(
    set_a: Sequence[np.ndarray], set_b: Sequence[np.ndarray], folder: str | Path, truth: dict | None = None
) -> tuple[Path, Path]:
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
