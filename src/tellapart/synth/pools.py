"""Base pools of real images: any folder, and the ones that install with packages (no downloads).

Every pool function returns a list of RGB uint8 arrays, deterministic for its seed. Pools that need an
optional package raise `PoolUnavailable` (saying what to install) when it is missing, so a benchmark can
skip them cleanly.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tellapart.io.decode import UnreadableImage

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian package dataset-fashion-mnist
OPENCLIPART_DIR = Path("/usr/share/openclipart/png")  # Debian package openclipart-png
FASHION_CLASSES = (
    "t-shirt",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle_boot",
)
TEXTILE_KINDS = ("nominal", "local", "global")


class PoolUnavailable(RuntimeError):
    """A bundled pool whose data package is not installed."""


# Sample photographs shipped inside scikit-image's wheel (others there need a download and are left out).
SKIMAGE_COLOUR = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "immunohistochemistry",
    "hubble_deep_field",
    "colorwheel",
    "retina",
    "cat",
)
SKIMAGE_GRAY = (
    "camera",
    "brick",
    "grass",
    "gravel",
    "moon",
    "coins",
    "horse",
    "clock",
    "cell",
    "page",
    "text",
)
SKLEARN_COLOUR = ("china", "flower")  # scikit-learn's ``load_sample_images``, in its order

# Which part of the bundled photographs each pool draws from, by *source photo* (never by crop: two crops
# of one photo overlap, so a benchmark pair must not be cut from a photo that training saw).
#   "bench": the benchmark, the tests, the demo and the benchmarks/ scripts (the default);
#   "train": ``tellapart train`` (the learned detectors and the describer's bank);
#   "all":   every photo, as before the split (the crops of a seed are the same as then).
# The parts balance content (each has living things, objects, a scene, a scientific image; textures and
# documents among the grey ones) and size: colour photos, the only ones the benchmark's synthetic pairs and
# the describer's bank use, go 5 to training and 5 to the benchmark. ``cat`` is ``chelsea`` again
# (scikit-image ships the photo under both names): "all" keeps both, as before; a part lists it once, so it
# is not a third of the benchmark's crops.
TRAIN_PHOTOS = frozenset({
    "astronaut",  # a person, a flag, a space shuttle
    "coffee",  # an object on a table
    "rocket",  # an outdoor scene with sky
    "retina",  # a medical image, dark background
    "colorwheel",  # a synthetic, fully saturated image
    "camera",  # a person outdoors (grey)
    "brick",  # texture (grey)
    "gravel",  # texture (grey)
    "coins",  # small objects (grey)
    "horse",  # a binary silhouette (grey)
    "page",  # a document (grey)
})
BENCH_PHOTOS = frozenset({
    "chelsea",  # an animal
    "flower",  # a plant close-up
    "china",  # a building in a landscape
    "immunohistochemistry",  # a microscopy image
    "hubble_deep_field",  # a dark astronomical image
    "grass",  # texture (grey)
    "moon",  # a photo of the moon (grey)
    "clock",  # an object (grey)
    "cell",  # microscopy (grey)
    "text",  # a document (grey)
})
PARTS = ("bench", "train", "all")


DUPLICATE_PHOTOS = {"cat": "chelsea"}  # a name of the same photo as another: only in the "all" part


def photo_names(include_gray: bool = True, part: str = "bench") -> tuple[str, ...]:
    """Return the names of the bundled photographs of ``part`` ("bench", "train" or "all"), in source
    order."""
    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}; use one of {PARTS}")
    names = SKIMAGE_COLOUR + (SKIMAGE_GRAY if include_gray else ()) + SKLEARN_COLOUR
    if part == "all":
        return names
    chosen = TRAIN_PHOTOS if part == "train" else BENCH_PHOTOS
    return tuple(name for name in names if name in chosen)


def source_images(include_gray: bool = True, part: str = "bench") -> list[np.ndarray]:
    """Return the bundled source photographs of ``part`` as RGB uint8 arrays (scikit-image and scikit-learn
    samples; see ``photo_names``)."""
    import skimage.data
    from sklearn.datasets import load_sample_images

    names = photo_names(include_gray, part)
    sklearn_images = None
    images = []
    for name in names:
        if name in SKLEARN_COLOUR:
            if sklearn_images is None:
                sklearn_images = load_sample_images().images
            images.append(_to_rgb(sklearn_images[SKLEARN_COLOUR.index(name)]))
        else:
            images.append(_to_rgb(getattr(skimage.data, name)()))
    return images


def bundled_pool(
    n: int,
    seed: int = 0,
    min_side: int = 96,
    max_side: int = 256,
    include_gray: bool = True,
    part: str = "bench",
) -> list[np.ndarray]:
    """Return ``n`` distinct random crops (RGB uint8) of the bundled photographs, deterministic for ``seed``.

    Each crop takes a random source image of ``part`` (``photo_names``: "bench", the default, for
    everything but training; "train" for ``tellapart train``; "all"), a random square-ish window of 30-90%
    of its shorter side, and resizes it so its longer side is between ``min_side`` and ``max_side`` pixels.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if not 16 <= min_side <= max_side:
        raise ValueError(f"need 16 <= min_side <= max_side, got {min_side}, {max_side}")
    return random_crops(source_images(include_gray, part), n, seed, min_side, max_side)


def random_crops(
    sources: Sequence[np.ndarray], n: int, seed: int, min_side: int = 96, max_side: int = 256,
    flip: bool = False,
) -> list[np.ndarray]:
    """Return ``n`` random crops (RGB uint8) of ``sources`` (RGB uint8 arrays), deterministic for ``seed``:
    each a random source, a random square-ish window of 30-90% of its shorter side (mirrored left-right
    with probability 1/2 when ``flip``), resized so its longer side is between ``min_side`` and
    ``max_side`` pixels. ``bundled_pool`` cuts the bundled photos this way."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    crops = []
    for _ in range(n):
        src = sources[rng.integers(len(sources))]
        h, w = src.shape[:2]
        side = int(min(h, w) * rng.uniform(0.3, 0.9))
        ch = int(np.clip(side * rng.uniform(0.8, 1.25), 16, h))
        cw = int(np.clip(side * rng.uniform(0.8, 1.25), 16, w))
        y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        window = src[y : y + ch, x : x + cw]
        if flip and rng.random() < 0.5:
            window = window[:, ::-1]
        target = int(rng.integers(min_side, max_side + 1))
        scale = target / max(ch, cw)
        size = (max(16, round(cw * scale)), max(16, round(ch * scale)))
        crop = Image.fromarray(np.ascontiguousarray(window)).resize(size, Image.Resampling.BILINEAR)
        crops.append(np.asarray(crop))
    return crops


def _to_rgb(img: np.ndarray) -> np.ndarray:
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    if img.shape[-1] == 4:
        img = img[..., :3]
    return np.ascontiguousarray(img.astype(np.uint8))


def _sample(items: list, n: int | None, seed: int, what: str) -> list:
    """``n`` items picked at random without replacement (all of them, shuffled, when n is None)."""
    if not items:
        raise ValueError(f"{what} has no images")
    if n is not None and n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if n is not None and n > len(items):
        raise ValueError(f"{what} has {len(items)} images, fewer than the {n} requested")
    order = np.random.default_rng(seed).permutation(len(items))
    return [items[i] for i in order[: len(items) if n is None else n]]


def _fit(img: np.ndarray, side: int) -> np.ndarray:
    """Resize so the longer side is ``side`` px (bilinear; upscales small images too)."""
    from PIL import Image

    h, w = img.shape[:2]
    scale = side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(img).resize(size, Image.Resampling.BILINEAR))


def folder_pool(
    path: str | os.PathLike, n: int | None = None, seed: int = 0, max_side: int = 256
) -> list[np.ndarray]:
    """Return ``n`` random images (all when None) of a folder, decoded to RGB and shrunk to ``max_side``.

    Unreadable files are left out. Raises FileNotFoundError for a missing folder and ValueError when it
    holds no readable image or fewer than ``n``.
    """
    from tellapart.io import ImageSet, UnreadableImage

    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"no such folder: {folder}")
    try:
        refs = ImageSet.from_spec(folder).refs
    except ValueError as error:
        raise ValueError(f"the pool folder {folder} has no images: {error}") from error
    images = []
    for ref in _sample(refs, None, seed, f"the folder {folder}"):
        try:
            pixels = ref.load().decode().pixels
        except UnreadableImage:
            continue
        images.append(pixels if max(pixels.shape[:2]) <= max_side else _fit(pixels, max_side))
        if n is not None and len(images) == n:
            break
    return _sample(images, n, seed, f"the folder {folder}")


def lfw_pool(faces: bool = True, n: int | None = None, seed: int = 0, side: int = 100) -> list[np.ndarray]:
    """Return scikit-image's ``lfw_subset`` faces (or its non-face crops when ``faces=False``), grey as RGB,
    enlarged from 25 px to ``side`` px (100 images of each kind)."""
    import skimage.data

    data = skimage.data.lfw_subset()
    part = data[:100] if faces else data[100:]
    images = [_fit(_to_rgb((np.clip(img, 0, 1) * 255).round().astype(np.uint8)), side) for img in part]
    return _sample(images, n, seed, "lfw_subset " + ("faces" if faces else "non-faces"))


# Every TEXTILE_TRAIN_EVERY-th textile file (in sorted order, from the first) is in the "train" part, the
# rest in "bench": 100 of the 1000 nominal textiles, exactly the 100 that dilute the describer's training
# sets, and 900 (450 of each defect kind) for the benchmark, whose largest draw is 200.
TEXTILE_TRAIN_EVERY = 10


def textile_files(kind: str = "nominal", part: str = "bench") -> list[Path]:
    """Return the sorted image files of a textile ``kind`` in ``part`` ("bench", "train" or "all").

    Raises PoolUnavailable when ``conformal-clip-data`` is not installed.
    """
    if kind not in TEXTILE_KINDS:
        raise ValueError(f"unknown textile kind {kind!r}; use one of {TEXTILE_KINDS}")
    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}; use one of {PARTS}")
    try:
        import conformal_clip_data
    except ImportError as error:
        raise PoolUnavailable("textile pools need the PyPI package conformal-clip-data") from error
    folder = conformal_clip_data.textile_simulated_root() / kind
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if part == "all":
        return files
    return [p for i, p in enumerate(files) if (i % TEXTILE_TRAIN_EVERY == 0) == (part == "train")]


def textile_pool(
    kind: str = "nominal", n: int | None = None, seed: int = 0, side: int = 160, part: str = "bench"
) -> list[np.ndarray]:
    """Return textile images from the PyPI package ``conformal-clip-data``: ``kind`` "nominal" (no defect),
    "local" (a local defect) or "global" (a global defect), of ``part`` (``textile_files``; "bench" by
    default, "train" for training). Raises PoolUnavailable when not installed."""
    files = textile_files(kind, part)
    return [_read(p, side) for p in _sample(files, n, seed, f"the textile pool {kind!r} ({part})")]


def fashion_mnist_pool(label: str, n: int | None = None, seed: int = 0, side: int = 112) -> list[np.ndarray]:
    """Return Fashion-MNIST test images of one class (``FASHION_CLASSES``), enlarged to ``side`` px, as RGB.

    Reads the Debian package ``dataset-fashion-mnist``; raises PoolUnavailable when it is not installed.
    """
    if label not in FASHION_CLASSES:
        raise ValueError(f"unknown Fashion-MNIST class {label!r}; use one of {FASHION_CLASSES}")
    images, labels = _fashion_mnist_test()
    chosen = [i for i in np.flatnonzero(labels == FASHION_CLASSES.index(label))]
    picked = _sample(chosen, n, seed, f"Fashion-MNIST class {label!r}")
    # Fashion-MNIST stores white garments on black; shown as is (that is what the data is).
    return [_fit(_to_rgb(images[i]), side) for i in picked]


def _fashion_mnist_test() -> tuple[np.ndarray, np.ndarray]:
    image_file = FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz"
    label_file = FASHION_MNIST_DIR / "t10k-labels-idx1-ubyte.gz"
    if not image_file.exists():
        raise PoolUnavailable("Fashion-MNIST pools need the Debian package dataset-fashion-mnist")
    with gzip.open(image_file) as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(label_file) as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    return images, labels


def openclipart_categories() -> list[str]:
    """Return the category folders of the Debian package ``openclipart-png`` ([] when not installed)."""
    if not OPENCLIPART_DIR.is_dir():
        return []
    return sorted(p.name for p in OPENCLIPART_DIR.iterdir() if p.is_dir())


# The openclipart categories of the benchmark's real pairs. Category folders share files (the package links
# one drawing into several categories: 275 drawings of these five are also in the other categories, 140 of
# them in signs_and_symbols), so the "train" part of any other category leaves out every drawing whose
# content is in one of these.
OPENCLIPART_BENCH_CATEGORIES = ("animals", "buildings", "food", "people", "transportation")


def openclipart_files(category: str, part: str = "bench") -> list[Path]:
    """Return the sorted PNG files of an openclipart category (sub-folders included) in ``part``.

    "bench" and "all" give every file; "train" refuses the benchmark's categories
    (``OPENCLIPART_BENCH_CATEGORIES``) and leaves out files with the same content as any of theirs.
    Raises PoolUnavailable when ``openclipart-png`` is not installed, ValueError for an unknown category.
    """
    categories = openclipart_categories()
    if not categories:
        raise PoolUnavailable("openclipart pools need the Debian package openclipart-png")
    if category not in categories:
        raise ValueError(f"unknown openclipart category {category!r}; use one of {categories}")
    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}; use one of {PARTS}")
    files = sorted((OPENCLIPART_DIR / category).rglob("*.png"))
    if part != "train":
        return files
    if category in OPENCLIPART_BENCH_CATEGORIES:
        raise ValueError(f"openclipart category {category!r} is the benchmark's; it has no training part")
    seen = _openclipart_bench_hashes()
    return [path for path in files if _file_hash(path) not in seen]


@functools.cache
def _openclipart_bench_hashes() -> frozenset[str]:
    """Content hashes of every drawing in the benchmark's openclipart categories (0.2 s for 1,371 files)."""
    return frozenset(_file_hash(path) for category in OPENCLIPART_BENCH_CATEGORIES
                     for path in (OPENCLIPART_DIR / category).rglob("*.png"))


def _file_hash(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def openclipart_pool(
    category: str, n: int | None = None, seed: int = 0, side: int = 160, part: str = "bench"
) -> list[np.ndarray]:
    """Return clip-art of one openclipart category (sub-folders included) of ``part`` (``openclipart_files``),
    drawn on white, ``side`` px.

    Raises PoolUnavailable when ``openclipart-png`` is not installed, ValueError for an unknown category.
    """
    files = openclipart_files(category, part)
    images = []
    for path in _sample(files, None, seed, f"openclipart category {category!r}"):
        try:
            images.append(_read(path, side))
        except (OSError, UnreadableImage):
            continue
        if n is not None and len(images) == n:
            break
    return _sample(images, n, seed, f"openclipart category {category!r}")


def _read(path: Path, side: int) -> np.ndarray:
    """Read an image file safely as RGB (transparent parts on white), longer side ``side`` px.

    Goes through tellapart's own decoder, so oversized files (some clip-art PNGs have 170 million
    pixels) are refused from their header instead of being decoded; raises UnreadableImage.
    """
    from tellapart.io.decode import decode_bytes

    return _fit(decode_bytes(path.read_bytes(), str(path), key="").pixels, side)
