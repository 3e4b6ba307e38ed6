"""Real-image pairs with a known structural difference, built from images that install with the project.

Each builder cuts crops (or picks images) from real images nobody on this project made, and sorts them by a
structure a clinician or biologist would name, measured here by a method of its own (colour deconvolution of
a stained slide, the brightest blob of a fundus photograph, the class label of a garment), so the truth does
not come from the code under test:

- ``retina_disc``: crops of scikit-image's fundus photograph (``skimage.data.retina``) that hold the optic
  disc (a large, bright, round structure) vs crops of the same fundus that do not.
- ``ihc_nuclei``: crops of the immunohistochemistry slide (``skimage.data.immunohistochemistry``) with many
  haematoxylin-stained (blue) nuclei vs few, both from the same kind of tissue (little DAB, i.e. stroma).
- ``fashion_trouser_shirt``: Fashion-MNIST trousers (elongated, two legs: a gap) vs shirts.
- ``fashion_bag_sandal``: Fashion-MNIST bags (one solid shape) vs sandals (straps with holes).

and, for every source, a null pair: two random halves of one pool of crops (or images) drawn the same way,
where the right answer is silence (``coins_null``: random crops of ``skimage.data.coins``; the coins are
packed so evenly that a crop with four whole coins and one with a single whole coin hold about the same share
of coin, 0.39 vs 0.32, so "more coins" is no clean difference and only the null pair is built). Everything
is deterministic from the seed. scikit-image's other medical samples (``human_mitosis``, ``cells3d``,
``kidney``, ``skin``, ``brain``) need a download at run time and are not used.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

Images = list[np.ndarray]


@dataclass(frozen=True)
class BuiltCase:
    """One built pair: its name, what the two sets are, and the images (RGB uint8)."""

    name: str
    source: str
    a_is: str
    b_is: str
    a: Images
    b: Images


def _resize(img: np.ndarray, side: int) -> np.ndarray:
    """Resize a square crop to ``side`` x ``side`` px (area averaging when shrinking)."""
    resample = Image.Resampling.BOX if img.shape[0] > side else Image.Resampling.BICUBIC
    out = np.asarray(Image.fromarray(img).resize((side, side), resample))
    return np.ascontiguousarray(out)


def _rgb(img: np.ndarray) -> np.ndarray:
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    return np.ascontiguousarray(img[..., :3].astype(np.uint8))


def _flip(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random horizontal flip (left and right eyes, slides seen either way round)."""
    return np.ascontiguousarray(img[:, ::-1]) if rng.random() < 0.5 else img


def _null_halves(pool: Images, n: int, seed: int) -> tuple[Images, Images]:
    order = np.random.default_rng(seed).permutation(len(pool))
    return [pool[i] for i in order[:n]], [pool[i] for i in order[n: 2 * n]]


def _draw_crops(
    image: np.ndarray,
    n: int,
    rng: np.random.Generator,
    accept: Callable[[int, int, int], bool],
    side_range: tuple[int, int],
    out_side: int,
    max_tries: int = 200_000,
) -> Images:
    """Draw ``n`` square crops at random positions and sizes whose (row, col, side) ``accept`` approves.

    No two crops start at the same (row, col, side); raises RuntimeError when too few are found.
    """
    height, width = image.shape[:2]
    seen: set[tuple[int, int, int]] = set()
    crops: Images = []
    for _ in range(max_tries):
        side = int(rng.integers(side_range[0], side_range[1] + 1))
        row, col = int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1))
        if (row, col, side) in seen or not accept(row, col, side):
            continue
        seen.add((row, col, side))
        crops.append(_flip(_resize(_rgb(image[row: row + side, col: col + side]), out_side), rng))
        if len(crops) == n:
            return crops
    raise RuntimeError(f"found only {len(crops)} of {n} crops; ask for fewer images")


# --- retina: the optic disc ------------------------------------------------------------------------------

DISC_RADIUS = 95  # px in the 1411 px fundus photograph (the disc and its bright rim)


@cache
def _retina() -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Return (fundus photograph, mask of the fundus, optic disc centre (row, col))."""
    from skimage.data import retina

    image = retina()
    luma = image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    fundus = ndimage.binary_erosion(luma > 25, iterations=15)
    smooth = ndimage.gaussian_filter(luma, 25)
    centre = np.unravel_index(int(np.argmax(np.where(fundus, smooth, 0))), smooth.shape)
    return image, fundus, (int(centre[0]), int(centre[1]))


def _inside(mask: np.ndarray, row: int, col: int, side: int, share: float) -> bool:
    return float(mask[row: row + side: 8, col: col + side: 8].mean()) >= share


def _disc_distance(row: int, col: int, side: int, centre: tuple[int, int]) -> float:
    """Distance from the disc centre to the nearest point of the crop (0 when inside)."""
    dr = max(row - centre[0], 0, centre[0] - (row + side - 1))
    dc = max(col - centre[1], 0, centre[1] - (col + side - 1))
    return float(np.hypot(dr, dc))


def _disc_inside(row: int, col: int, side: int, centre: tuple[int, int], margin: int) -> bool:
    rows_ok = row + margin <= centre[0] <= row + side - margin
    return rows_ok and col + margin <= centre[1] <= col + side - margin


def retina_pool(n: int, seed: int, with_disc: bool, side: int = 128) -> Images:
    """Crops (300-380 px, shown at ``side`` px) inside the fundus, all holding the whole optic disc or none
    of it (no crop comes within ``DISC_RADIUS`` + 40 px of the disc's centre)."""
    image, fundus, centre = _retina()

    def accept(row: int, col: int, crop: int) -> bool:
        if not _inside(fundus, row, col, crop, 0.97):
            return False
        if with_disc:
            return _disc_inside(row, col, crop, centre, DISC_RADIUS + 10)
        return _disc_distance(row, col, crop, centre) > DISC_RADIUS + 40

    return _draw_crops(image, n, np.random.default_rng([seed, 11, int(with_disc)]), accept, (300, 380), side)


# --- coins: a null pool ----------------------------------------------------------------------------------

def coins_pool(n: int, seed: int, side: int = 128) -> Images:
    """Random crops (110-130 px, shown at ``side`` px) of ``skimage.data.coins``."""
    from skimage.data import coins

    return _draw_crops(coins(), n, np.random.default_rng([seed, 12]), lambda *_: True, (110, 130), side)


# --- immunohistochemistry: how many stained nuclei ---------------------------------------------------------

@cache
def _ihc() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (slide, (k, 2) nucleus centres, DAB map) from colour deconvolution (``skimage.color.rgb2hed``):
    nuclei are connected regions of strong haematoxylin (above its 90th percentile), at least 20 px."""
    from skimage.color import rgb2hed
    from skimage.data import immunohistochemistry
    from skimage.measure import label, regionprops

    image = immunohistochemistry()
    hed = rgb2hed(image)
    haem = ndimage.gaussian_filter(hed[..., 0], 1.0)
    mask = haem > np.percentile(haem, 90)
    nuclei = [p.centroid for p in regionprops(label(mask)) if p.area >= 20]
    return image, np.array(nuclei), ndimage.gaussian_filter(hed[..., 2], 2.0)


def ihc_nuclei_count(row: int, col: int, side: int) -> int:
    """Nuclei whose centre lies inside the crop."""
    _, centres, _ = _ihc()
    r, c = centres[:, 0], centres[:, 1]
    return int(((r >= row) & (r < row + side) & (c >= col) & (c < col + side)).sum())


def ihc_pool(n: int, seed: int, nuclei: tuple[int, int] | None, side: int = 128) -> Images:
    """Crops (64-80 px, shown at ``side`` px) of the slide's stroma (under 3% DAB-positive pixels, under 15%
    empty lumen) holding between ``nuclei[0]`` and ``nuclei[1]`` nuclei (any stroma crop when None)."""
    from skimage.filters import threshold_otsu

    image, _, dab = _ihc()
    stained = dab > threshold_otsu(dab)
    empty = image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32) > 0.9 * 255

    def accept(row: int, col: int, crop: int) -> bool:
        window = (slice(row, row + crop), slice(col, col + crop))
        if stained[window].mean() >= 0.03 or empty[window].mean() >= 0.15:
            return False
        return nuclei is None or nuclei[0] <= ihc_nuclei_count(row, col, crop) <= nuclei[1]

    rng = np.random.default_rng([seed, 13, *(nuclei or (0, 0))])
    return _draw_crops(image, n, rng, accept, (64, 80), side)


# --- Fashion-MNIST: shapes ---------------------------------------------------------------------------------

def fashion_pool(label: str, n: int, seed: int) -> Images:
    """Fashion-MNIST test images of one class, 112 px (Debian ``dataset-fashion-mnist``)."""
    from tellapart.synth.pools import fashion_mnist_pool

    return fashion_mnist_pool(label, n, seed=seed)


# --- the cases ---------------------------------------------------------------------------------------------

def build_case(name: str, n: int, seed: int) -> BuiltCase:
    """Build one case by name (``CASE_NAMES``) with ``n`` images per set."""
    if name == "retina_disc":
        return BuiltCase(name, "skimage retina", "crops holding the optic disc", "crops without it",
                         retina_pool(n, seed, True), retina_pool(n, seed, False))
    if name == "retina_null":
        a, b = _null_halves(retina_pool(2 * n, seed + 1, False), n, seed)
        return BuiltCase(name, "skimage retina", "crops without the disc", "other such crops", a, b)
    if name == "coins_null":
        a, b = _null_halves(coins_pool(2 * n, seed + 1), n, seed)
        return BuiltCase(name, "skimage coins", "random crops", "other random crops", a, b)
    if name == "ihc_nuclei":
        return BuiltCase(name, "skimage immunohistochemistry", "stroma crops with many nuclei",
                         "stroma crops with few nuclei", ihc_pool(n, seed, (9, 10_000)),
                         ihc_pool(n, seed, (0, 3)))
    if name == "ihc_null":
        a, b = _null_halves(ihc_pool(2 * n, seed + 1, None), n, seed)
        return BuiltCase(name, "skimage immunohistochemistry", "stroma crops", "other stroma crops", a, b)
    if name == "fashion_trouser_shirt":
        return BuiltCase(name, "Fashion-MNIST", "trousers", "shirts", fashion_pool("trouser", n, seed),
                         fashion_pool("shirt", n, seed))
    if name == "fashion_bag_sandal":
        return BuiltCase(name, "Fashion-MNIST", "bags", "sandals", fashion_pool("bag", n, seed),
                         fashion_pool("sandal", n, seed))
    if name == "fashion_null":
        a, b = _null_halves(fashion_pool("trouser", 2 * n, seed + 1), n, seed)
        return BuiltCase(name, "Fashion-MNIST", "trousers", "other trousers", a, b)
    raise ValueError(f"unknown built case {name!r}; use one of {CASE_NAMES}")


CASE_NAMES = ("retina_disc", "retina_null", "coins_null", "ihc_nuclei", "ihc_null",
              "fashion_trouser_shirt", "fashion_bag_sandal", "fashion_null")


def write_case(case: BuiltCase, folder: Path, seed: int) -> tuple[Path, Path]:
    """Write the case's images as PNGs to ``folder/a`` and ``folder/b`` with a ``case.json`` (files already
    written for the very same images, by their digest, are kept); return the two folders."""
    folder = Path(folder)
    digest = hashlib.sha256()
    for img in (*case.a, *case.b):
        digest.update(str(img.shape).encode())
        digest.update(img.tobytes())
    stamp = {"name": case.name, "seed": seed, "n_a": len(case.a), "n_b": len(case.b), "source": case.source,
             "a": case.a_is, "b": case.b_is, "digest": digest.hexdigest()}
    info = folder / "case.json"
    if info.exists() and json.loads(info.read_text()) == stamp:
        return folder / "a", folder / "b"
    for part, images in (("a", case.a), ("b", case.b)):
        out = folder / part
        out.mkdir(parents=True, exist_ok=True)
        for old in out.glob("*.png"):
            old.unlink()
        for i, img in enumerate(images):
            Image.fromarray(img).save(out / f"{i:03d}.png")
    info.write_text(json.dumps(stamp, indent=1))
    return folder / "a", folder / "b"
