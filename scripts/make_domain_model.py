"""Make src/tellapart/data/domain_model.npz: P(photo of everyday things) from the backbone's image embeddings,
and measure it.

Usage (from the repository root; needs pydicom and nibabel for their test images, Debian's
``mate-backgrounds`` for its nature photographs and ``pip install --no-deps stardist==0.9.2`` for its two
sample micrographs; without one it stops, unless ``--allow-missing``; nothing is downloaded)::

    python scripts/make_domain_model.py [--seed 0] [--real ../shared/real]

The model is a logistic regression (``C``) on the embeddings ``tellapart.concepts.semantics`` computes, each
feature standardised and each block scaled by 1/sqrt(width) as ``stats.classifier`` does; every collection
weighs the same, shared equally by its sources. ``stats.reportable.domain_check`` reads it: a run is
photo-like when at least ``PHOTO_LIKE_SHARE`` of its images are photos (P(photo) >= ``PHOTO_P``; checked by
this script's output, see its comment). The .npz holds arrays and strings only (no pickle).

Training sources, all installed with packages on this machine (never ../shared/real, never the fundus or
immunohistochemistry images that ``benchmarks/medical_pairs.py`` evaluates on):

- photo: crops of the bundled photos' "train" part without ``retina`` (a fundus photograph), of
  scikit-image's ``stereo_motorcycle`` (in neither part), of matplotlib's ``grace_hopper.jpg`` and of the
  twelve nature photographs of Debian's ``mate-backgrounds``; lfw faces and non-faces; openclipart
  drawings of the training part (never the benchmark's categories);
  Fashion-MNIST's *training* file (the pools use the test file);
- not a photo: pydicom's test files with pixel data (CT, MR, US, NM; windowed to 8 bits as a viewer shows
  them; duplicates and images under 64 px left out), slices of nibabel's test volumes, matplotlib's sample
  MRI slice (``s1045.ima``), scikit-image's grey scans that need no download (``cell``, ``microaneurysms``,
  ``shepp_logan_phantom``; ``moon`` is a photograph and left out), the textile close-ups' "train" part,
  stained copies of the grey scans (``STAINS``), stardist's histology and fluorescence micrographs, and
  generated blood-smear fields (``smear_fields``).

A quarter of every source's images are turned onto a black frame (``FRAMED_SHARE``).

Each source gives crops (30-90% of the shorter side) and horizontal flips. The script prints the counts,
leave-one-out accuracy (the model refitted without a collection, and without a source: one photo, scan or
pool; scored on it), and the decision (median P(photo) per run of ``RUN`` images) on held-out
collections: the bundled photos' "bench" part, openclipart's benchmark categories, Fashion-MNIST's test
file (must be photo-like); crops of ``retina`` and ``immunohistochemistry`` (must not be); the textiles'
"bench" part; and with ``--real`` the pairs there, both sets pooled (information, not tuning). Deterministic
for a seed (up to the backbone's float rounding).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.linear_model import LogisticRegression

from tellapart.concepts.semantics import EMBEDDING_VERSION, SemanticSource
from tellapart.stats.reportable import DOMAIN_MODEL_FILE, PHOTO_LIKE_SHARE, PHOTO_P, DomainModel
from tellapart.synth import pools

# L2 strength on the block-scaled features. Leave-one-source-out (runs' median P against the median rule's
# 0.15, which PHOTO_LIKE_SHARE replaced; share of sources decided right, photo and scan sources averaged) was
# flat: 0.77 at C = 10, 0.76-0.83 at 100,
# 0.76-0.82 at 1000 over thresholds 0.05-0.5; held-out grey scans fall further from photos with larger C.
# With the micrographs and smears (2026-12-01) the held-out photos diluted with half textiles were photo-like
# in 27/50 runs at C = 100 and 38/50 at 300 (the shipped model before them: 45/50), every held-out scan
# collection 0/50 at both: 300, chosen on that collection, so its figure below is not independent evidence;
# the benchmark pairs' decisions are (2 of 176 dumped pairs changed domain, both silent either way; see
# stats/reportable.py).
C = 300.0
PER_PHOTO = 30  # crops (and flips) of each training photo or scan
PER_SCAN = 20  # images of each pydicom test image (whole, then crops)
PER_POOL = 120  # images drawn from each training pool (lfw, openclipart, Fashion-MNIST, nibabel, textiles)
RUN = 60  # images per simulated run (both sets pooled), within the 40-80 of typical describe runs
RUNS = 50  # simulated runs per held-out collection
# Background and stain colours (RGB) of the stained copies, set a priori from what stained slides and fundus
# photographs look like, never fitted: haematoxylin-and-eosin and Giemsa (purple or magenta on pale pink or
# white), a fundus (orange on black), immunohistochemistry's DAB (brown on white). Each copy takes one pair,
# jittered (`STAIN_JITTER`, SD in 8-bit levels), and half the copies invert the scan first (dark structures
# on a light slide, or bright ones on a dark field).
STAINS = (((245, 235, 240), (120, 60, 160)), ((250, 245, 250), (170, 60, 120)),
          ((240, 200, 200), (90, 20, 90)), ((0, 0, 0), (230, 120, 60)), ((0, 0, 0), (240, 180, 120)),
          ((255, 250, 245), (140, 90, 60)))
STAIN_JITTER = (10.0, 15.0)  # background, stain
PER_STAINED = 60  # stained copies of each group of grey scans (pydicom, nibabel), 30 of each skimage scan
DICOM_MODALITIES = ("CT", "MR", "US", "CR", "DX", "NM", "XA", "MG", "PT")
MIN_SIDE = 64  # smaller test images (16 x 16 and 10 x 10 fixtures, a 60 x 80 yellow test pattern): left out
# Share of every training source's images (photos and scans alike) turned by a random angle onto a black
# frame, as augmented and scanned collections store them, so that the frame alone does not make an image a
# photo. Chosen after seeing the white-cell smears of ../shared/real (rotated fields with black corners), not
# tuned. It does not make the model frame-blind: lfw_subset's first 40 faces, every one framed, were photos
# 30/40 times with this model (34/40 with the one before it) and 7 of them fell under the photo gate's
# GATE_P (1 before); at 160 px, 35/40 and 2 (2026-12-01 review).
FRAMED_SHARE = 0.25
FRAMED_ANGLES = (5.0, 45.0)  # degrees, either way


def to_rgb8(image: np.ndarray) -> np.ndarray:
    """Return ``image`` as RGB uint8: non-uint8 values stretched between their 0.5 and 99.5 percentiles."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = image.astype(np.float64)
        low, high = np.percentile(image, [0.5, 99.5])
        image = (np.clip((image - low) / max(high - low, 1e-9), 0, 1) * 255).astype(np.uint8)
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return np.ascontiguousarray(image[..., :3])


def crops(sources: list[np.ndarray], n: int, seed: int, min_side: int = 96, max_side: int = 256
          ) -> list[np.ndarray]:
    """Return ``n`` random crops of ``sources`` (30-90% of the shorter side, as ``bundled_pool`` cuts them),
    each flipped left-right with probability 1/2 and resized to ``min_side``-``max_side`` px."""
    return pools.random_crops([to_rgb8(s) for s in sources], n, seed, min_side, max_side, flip=True)


def stained(images: list[np.ndarray], seed: int) -> list[np.ndarray]:
    """Return a stained copy of each image: its lightness (inverted for half of them) mapped linearly from a
    background colour to a stain colour of `STAINS`, both jittered by `STAIN_JITTER`; RGB uint8."""
    rng = np.random.default_rng(seed)
    out = []
    for image in images:
        light = to_rgb8(image).astype(np.float64).mean(axis=-1, keepdims=True) / 255
        if rng.random() < 0.5:
            light = 1 - light
        background, stain = STAINS[rng.integers(len(STAINS))]
        background = np.asarray(background) + rng.normal(0, STAIN_JITTER[0], 3)
        stain = np.asarray(stain) + rng.normal(0, STAIN_JITTER[1], 3)
        out.append((background * (1 - light) + stain * light).clip(0, 255).astype(np.uint8))
    return out


def framed(images: list[np.ndarray], seed: int, share: float = FRAMED_SHARE) -> list[np.ndarray]:
    """Return ``images`` with a random ``share`` of them rotated by `FRAMED_ANGLES` (either way) about their
    centre, the corners the rotation uncovers black, the size kept."""
    rng = np.random.default_rng(seed)
    out = []
    for image in images:
        if rng.random() < share:
            angle = rng.uniform(*FRAMED_ANGLES) * rng.choice((-1, 1))
            turned = Image.fromarray(image).rotate(angle, Image.Resampling.BILINEAR, fillcolor=(0, 0, 0))
            image = np.asarray(turned)
        out.append(image)
    return out


def smear_fields(n: int, seed: int, size: tuple[int, int] = (320, 240)) -> list[np.ndarray]:
    """Return ``n`` generated fields of a stained blood smear, RGB uint8 of ``size`` (width, height), drawn
    from a textbook's description by someone who had seen the white-cell smears of ../shared/real (so that
    pair is no blind check of them), never fitted to an image: red cells (8-60 pink discs with a paler centre)
    on a pale background, up to two leukocytes (one round or 2-4 merged purple lobes) and a few platelets
    (small purple dots), blurred 0.5-2 px and with sensor noise; every colour jittered per field."""
    from PIL import ImageDraw, ImageFilter

    rng = np.random.default_rng(seed)
    width, height = size

    def disc(draw: ImageDraw.ImageDraw, x: float, y: float, rx: float, ry: float, colour: np.ndarray) -> None:
        draw.ellipse([x - rx, y - ry, x + rx, y + ry], fill=tuple(int(v) for v in colour.clip(0, 255)))

    fields = []
    for _ in range(n):
        background = np.array([235.0, 225, 230]) + rng.normal(0, 10, 3)
        image = Image.new("RGB", size, tuple(int(v) for v in background.clip(0, 255)))
        draw = ImageDraw.Draw(image)
        red = np.array([215.0, 150, 160]) + rng.normal(0, 15, 3)
        radius = rng.uniform(0.06, 0.12) * min(size)
        for _ in range(int(rng.integers(8, 60))):
            x, y = rng.uniform(0, width), rng.uniform(0, height)
            rx, ry = radius * rng.uniform(0.8, 1.2, 2)
            colour = red + rng.normal(0, 8, 3)
            disc(draw, x, y, rx, ry, colour)
            disc(draw, x, y, rx / 2.5, ry / 2.5, colour + (background - colour) * rng.uniform(0.3, 0.7))
        stain = np.array([110.0, 70, 170]) + rng.normal(0, 15, 3)
        for _ in range(int(rng.integers(0, 3))):
            x, y = rng.uniform(0.2, 0.8) * width, rng.uniform(0.2, 0.8) * height
            cell = radius * rng.uniform(0.9, 1.6)
            for _ in range(int(rng.integers(1, 5))):
                dx, dy = rng.normal(0, cell / 2, 2)
                lobe = cell * rng.uniform(0.4, 0.9)
                disc(draw, x + dx, y + dy, lobe, lobe, stain)
        for _ in range(int(rng.integers(0, 6))):
            dot = rng.uniform(1, 3)
            disc(draw, rng.uniform(0, width), rng.uniform(0, height), dot, dot, stain)
        blurred = np.asarray(image.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2.0))), dtype=np.float64)
        fields.append((blurred + rng.normal(0, 3, blurred.shape)).clip(0, 255).astype(np.uint8))
    return fields


def whole_and_crops(sources: list[np.ndarray], n: int, seed: int) -> list[np.ndarray]:
    """Every source image whole (up to ``n``), then crops up to ``n`` images in all."""
    whole = [to_rgb8(s) for s in sources[:n]]
    return whole + crops(sources, n - len(whole), seed, min_side=64)


def _thumb_key(image: np.ndarray) -> str:
    """A hash of the image's quantised 16 x 16 grey thumbnail: equal for the same picture stored twice."""
    thumb = np.asarray(Image.fromarray(image).convert("L").resize((16, 16), Image.BILINEAR)) // 16
    return hashlib.sha1(thumb.tobytes()).hexdigest()


def _dedupe(images: list[np.ndarray]) -> list[np.ndarray]:
    """Drop images whose thumbnail key (``_thumb_key``) equals an earlier one's."""
    seen, out = set(), []
    for image in images:
        if _thumb_key(image) not in seen:
            seen.add(_thumb_key(image))
            out.append(image)
    return out


def dicom_images() -> dict[str, np.ndarray]:
    """Return "modality file[frame]" -> pydicom's test images of ``DICOM_MODALITIES`` as RGB uint8, windowed
    as a viewer shows them (modality LUT, then the file's VOI window or LUT, else the 0.5-99.5 percentiles;
    MONOCHROME1 inverted), up to 3 frames of a multi-frame file, duplicates left out."""
    import pydicom
    from pydicom.data import get_testdata_files
    from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut

    images: dict[str, np.ndarray] = {}
    seen: set[str] = set()
    for path in sorted(get_testdata_files()):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ds = pydicom.dcmread(path)
                if "PixelData" not in ds or str(getattr(ds, "Modality", "")) not in DICOM_MODALITIES:
                    continue
                pixels = ds.pixel_array
                photometric = str(getattr(ds, "PhotometricInterpretation", ""))
                if photometric == "PALETTE COLOR":
                    pixels = apply_color_lut(pixels, ds)
                elif photometric.startswith("MONOCHROME"):
                    pixels = apply_voi_lut(apply_modality_lut(pixels, ds), ds)
            except Exception:  # noqa: BLE001 - a test file this pydicom cannot decode is left out
                continue
        colour = pixels.shape[-1] == 3 and pixels.ndim >= 3
        frames = pixels if pixels.ndim == (4 if colour else 3) else pixels[None]
        picks = np.unique(np.linspace(0, len(frames) - 1, min(3, len(frames))).round().astype(int))
        for pick in picks:
            image = to_rgb8(frames[pick])
            if photometric == "MONOCHROME1":
                image = 255 - image
            if min(image.shape[:2]) >= MIN_SIDE and _thumb_key(image) not in seen:
                seen.add(_thumb_key(image))
                name = f"{Path(path).name}" + (f"[{pick}]" if len(frames) > 1 else "")
                images[f"{ds.Modality} {name}"] = image
    return images


def nibabel_slices(per_axis: int = 4) -> list[np.ndarray]:
    """Return slices of nibabel's test volumes (``per_axis`` evenly spaced over the middle 60% of each axis,
    first volume of a 4-D file, at least 24 px a side), each volume windowed between its 0.5 and 99.5
    percentiles."""
    import nibabel as nib
    from nibabel.testing import data_path

    names = ("anatomical.nii", "example4d+orig.HEAD", "example4d.nii.gz", "scaled+tlrc.HEAD",
             "phantom_EPI_asc_CLEAR_2_1.PAR")  # the volumes with pixels (nifti1.hdr has no .img beside it)
    slices = []
    for name in names:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            volume = np.asarray(nib.load(str(Path(data_path) / name)).get_fdata(), dtype=np.float64)
        while volume.ndim > 3:
            volume = volume[..., 0]
        low, high = np.percentile(volume, [0.5, 99.5])
        volume = np.clip((volume - low) / max(high - low, 1e-9), 0, 1)
        for axis in range(3):
            size = volume.shape[axis]
            for index in np.linspace(0.2 * size, 0.8 * size - 1, per_axis).round().astype(int):
                plane = np.rot90(np.take(volume, index, axis=axis))
                if min(plane.shape) >= 24 and plane.std() > 0.02:
                    slices.append(to_rgb8((plane * 255).astype(np.uint8)))
    return _dedupe(slices)


def fashion_mnist_train(n: int, seed: int) -> list[np.ndarray]:
    """Return ``n`` random Fashion-MNIST *training* images (the pools use the test file), 112 px, RGB."""
    path = pools.FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz"
    if not path.exists():
        raise pools.PoolUnavailable("needs the Debian package dataset-fashion-mnist")
    with gzip.open(path) as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    picked = np.random.default_rng(seed).choice(len(images), n, replace=False)
    return [np.asarray(Image.fromarray(to_rgb8(images[i])).resize((112, 112), Image.BILINEAR))
            for i in picked]


def openclipart_train(n: int, seed: int) -> list[np.ndarray]:
    """Return ``n`` drawings from the training part of openclipart (every category but the benchmark's)."""
    categories = [c for c in pools.openclipart_categories() if c not in pools.OPENCLIPART_BENCH_CATEGORIES]
    per = -(-n // len(categories))
    images = []
    for category in categories:
        try:
            images += pools.openclipart_pool(category, per, seed=seed, part="train")
        except ValueError:  # a category with fewer training drawings than asked
            images += pools.openclipart_pool(category, None, seed=seed, part="train")
    picked = np.random.default_rng(seed).choice(len(images), min(n, len(images)), replace=False)
    return [images[i] for i in sorted(picked)]


def stardist_micrographs() -> dict[str, np.ndarray]:
    """Return stardist's two sample micrographs (``pip install --no-deps stardist==0.9.2``; read from its
    package folder, never imported): a haematoxylin-and-eosin histology field (``histo.jpg``) and a
    fluorescence field of nuclei (``img2d.tif``); none when stardist is not installed."""
    import importlib.util

    spec = importlib.util.find_spec("stardist")
    if spec is None or not spec.submodule_search_locations:
        return {}
    import tifffile

    folder = Path(list(spec.submodule_search_locations)[0]) / "data" / "images"
    with Image.open(folder / "histo.jpg") as image:
        histo = np.asarray(image.convert("RGB"))
    nuclei = tifffile.imread(folder / "img2d.tif")
    return {"H&E histology (stardist)": histo, "fluorescent nuclei (stardist)": nuclei}


MATE_NATURE = Path("/usr/share/backgrounds/mate/nature")  # Debian's mate-backgrounds: 12 nature photographs


def mate_photographs() -> dict[str, np.ndarray]:
    """Return file name -> the nature photographs of Debian's ``mate-backgrounds`` (RGB, decoded at about
    1/2 scale); none when the package is not installed."""
    photos = {}
    for path in sorted(MATE_NATURE.glob("*.jpg")):
        with Image.open(path) as image:
            image.draft("RGB", (1200, 1200))
            photos[path.name] = np.asarray(image.convert("RGB"))
    return photos


def matplotlib_samples() -> tuple[np.ndarray, np.ndarray]:
    """Return matplotlib's sample photograph (``grace_hopper.jpg``) and its sample MRI slice (``s1045.ima``,
    256 x 256 16-bit)."""
    import matplotlib.cbook as cbook

    with Image.open(cbook.get_sample_data("grace_hopper.jpg")) as image:
        photo = np.asarray(image.convert("RGB"))
    with gzip.open(cbook.get_sample_data("s1045.ima.gz", asfileobj=False)) as f:
        mri = np.frombuffer(f.read(), np.uint16).reshape(256, 256)
    return photo, mri


Source = tuple[str, str, bool, list[np.ndarray]]  # collection, source, is a photo, images


def training_sources(seed: int, missing: Callable[[str], None]) -> list[Source]:
    """Return the training sources: (collection, source, is a photo, its images). A source is one photo or
    scan (its crops) or, for lfw, openclipart, Fashion-MNIST, nibabel and the textiles, the whole pool.
    ``missing`` is called with what to install when an optional source (mate-backgrounds, stardist) is
    not there."""
    import skimage.data as skdata

    photo, mri = matplotlib_samples()
    names = pools.photo_names(True, "train")
    photos = {name: img for name, img in zip(names, pools.source_images(True, "train"), strict=True)
              if name != "retina"}
    photos["stereo_motorcycle"] = skdata.stereo_motorcycle()[0]
    photos["grace_hopper (matplotlib)"] = photo
    rng = np.random.default_rng(seed)
    lfw = pools.lfw_pool(True, None, seed=seed)
    other = pools.lfw_pool(False, None, seed=seed)
    textiles = [img for kind in ("nominal", "local", "global")
                for img in pools.textile_pool(kind, part="train")]
    found: list[Source] = [("photos", name, True, crops([img], PER_PHOTO, seed + i))
                           for i, (name, img) in enumerate(photos.items())]
    nature = mate_photographs()
    if not nature:
        missing(f"no nature photographs in {MATE_NATURE}: apt-get install mate-backgrounds")
    found += [("nature photos", name, True, crops([img], PER_PHOTO, seed + 700 + i))
              for i, (name, img) in enumerate(nature.items())]
    found += [
        ("lfw", "faces", True, [lfw[i] for i in rng.choice(len(lfw), PER_POOL // 2, replace=False)]),
        ("lfw", "non-faces", True, [other[i] for i in rng.choice(len(other), PER_POOL // 2, replace=False)]),
        ("openclipart", "train part", True, openclipart_train(PER_POOL, seed)),
        ("fashion-mnist", "train file", True, fashion_mnist_train(PER_POOL, seed)),
    ]
    found += [("pydicom", name, False, whole_and_crops([img], PER_SCAN, seed + i))
              for i, (name, img) in enumerate(dicom_images().items())]
    found += [("nibabel", "test volumes", False, whole_and_crops(nibabel_slices(), PER_POOL, seed)),
              ("scans", "s1045 MRI (matplotlib)", False, crops([mri], PER_PHOTO, seed, min_side=64))]
    scans = {"cell": skdata.cell(), "microaneurysms": skdata.microaneurysms(),
             "shepp_logan_phantom": (skdata.shepp_logan_phantom() * 255).astype(np.uint8)}
    found += [("scans", name, False, crops([img], PER_PHOTO, seed + i, min_side=64))
              for i, (name, img) in enumerate(scans.items())]
    found.append(("textiles", "train part", False, crops(textiles, PER_POOL, seed)))
    for i, name in enumerate(("cell", "microaneurysms")):  # the phantom is a drawing, not a scan's look
        copies = stained(crops([scans[name]], PER_PHOTO, seed + 200 + i, min_side=64), seed + 200 + i)
        found.append(("stained", f"stained {name}", False, copies))
    found += [("stained", "stained nibabel slices", False,
               stained(whole_and_crops(nibabel_slices(), PER_STAINED, seed + 300), seed + 300)),
              ("stained", "stained pydicom images", False,
               stained(whole_and_crops(list(dicom_images().values()), PER_STAINED, seed + 301), seed + 301))]
    micrographs = stardist_micrographs()
    if not micrographs:
        missing("no stardist micrographs: pip install --no-deps stardist==0.9.2")
    found += [("micrographs", name, False, crops([img], PER_PHOTO, seed + 400 + i, min_side=64))
              for i, (name, img) in enumerate(micrographs.items())]
    found += [("micrographs", f"stained {name}", False,
               stained(crops([img], PER_PHOTO, seed + 410 + i, min_side=64), seed + 410 + i))
              for i, (name, img) in enumerate(micrographs.items()) if img.ndim == 2]
    found.append(("micrographs", "generated blood smears", False, smear_fields(PER_POOL, seed + 420)))
    return [(c, name, is_photo, framed(images, seed + 500 + i))
            for i, (c, name, is_photo, images) in enumerate(found)]


def held_out_collections(seed: int, n: int = 200) -> dict[str, tuple[str, Callable[[], list[np.ndarray]]]]:
    """Return name -> (expected "photo"/"not", a maker of its images); none of them is trained on."""
    import skimage.data as skdata

    return {
        "bundled photos (bench part)": ("photo", lambda: pools.bundled_pool(n, seed=seed + 1, part="bench")),
        "openclipart (bench categories)": ("photo", lambda: [
            img for c in pools.OPENCLIPART_BENCH_CATEGORIES
            for img in pools.openclipart_pool(c, n // 5, seed)]),
        "fashion-mnist (test file)": ("photo", lambda: [
            img for label in pools.FASHION_CLASSES
            for img in pools.fashion_mnist_pool(label, n // 10, seed)]),
        # The benchmark's hard tier dilutes its photos with up to half textiles: still a photo collection.
        "bundled photos (bench part), half textiles": ("photo", lambda: (
            pools.bundled_pool(n // 2, seed=seed + 3, part="bench")
            + pools.textile_pool("nominal", n // 2, seed + 3, part="bench"))),
        "retina crops (colour fundus)": ("not", lambda: crops([skdata.retina()], n, seed + 2)),
        "immunohistochemistry crops": ("not", lambda: crops([skdata.immunohistochemistry()], n, seed + 2)),
        "textiles (bench part)": ("not", lambda: [img for kind in ("nominal", "local", "global")
                                                  for img in pools.textile_pool(kind, n // 3, seed)]),
    }


def real_pairs(root: Path) -> dict[str, tuple[str, Callable[[], list[np.ndarray]]]]:
    """Return one collection per pair under ``root`` (CASE/a and CASE/b pooled), expected "not"."""
    from tellapart.io import ImageSet

    def load(case: Path) -> list[np.ndarray]:
        return [ref.load().decode().pixels for label in ("a", "b")
                for ref in ImageSet.from_spec(case / label).refs]

    return {f"real: {case.name}": ("not", lambda case=case: load(case))
            for case in sorted(p for p in root.iterdir() if (p / "a").is_dir())}


def fit(X: np.ndarray, y: np.ndarray, source: np.ndarray, collection: np.ndarray, blocks: tuple[int, ...],
        c: float = C) -> DomainModel:
    """Return the domain model fitted on embeddings ``X``, labels ``y`` (True = photo): every collection
    weighs the same, shared equally by its sources."""
    mean = X.mean(axis=0)
    std = X.std(axis=0)
    std[std < 1e-8] = 1.0
    weights = np.concatenate([np.full(width, 1.0 / np.sqrt(width)) for width in blocks])
    scale = std / weights
    sample_weight = np.empty(len(X))
    for name in np.unique(collection):
        members = np.unique(source[collection == name])
        for member in members:
            rows = source == member
            sample_weight[rows] = 1.0 / (len(members) * rows.sum())
    sample_weight *= len(X) / sample_weight.sum()
    model = LogisticRegression(C=c, max_iter=5000).fit((X - mean) / scale, y, sample_weight=sample_weight)
    return DomainModel(mean=mean, scale=scale, coef=model.coef_[0].astype(np.float64),
                       intercept=float(model.intercept_[0]), embedding_version=EMBEDDING_VERSION, version="")


def run_shares(values: np.ndarray, seed: int, n: int = RUN, runs: int = RUNS) -> np.ndarray:
    """Return, for ``runs`` random draws of ``n`` values (all of them when fewer), the share of photos
    (P(photo) >= ``PHOTO_P``): the statistic ``domain_check`` compares with ``PHOTO_LIKE_SHARE``."""
    rng = np.random.default_rng(seed)
    size = min(n, len(values))
    return np.array([np.mean(rng.choice(values, size, replace=False) >= PHOTO_P) for _ in range(runs)])


def describe_runs(name: str, expected: str, p: np.ndarray, seed: int) -> str:
    """One line: per-image accuracy, per-run shares of photos min / median / max, photo-like runs."""
    shares = run_shares(p, seed)
    right = (p >= PHOTO_P) if expected == "photo" else (p < PHOTO_P)
    return (f"{name:<52} {expected:<5} {len(p):>4}  {right.mean():>6.1%}   "
            f"{shares.min():.3f} / {np.median(shares):.3f} / {shares.max():.3f}   "
            f"{int((shares >= PHOTO_LIKE_SHARE).sum())}/{len(shares)}")


HEADER = (f"{'collection':<52} {'want':<5} {'n':>4}  {'images right':>6}   per-run share of photos "
          f"min / median / max   photo-like runs of {RUN}")


def save(model: DomainModel, path: Path, seed: int, counts: dict[str, int]) -> None:
    """Write ``model`` to ``path`` (arrays and strings only)."""
    np.savez_compressed(
        path, mean=model.mean.astype(np.float32), scale=model.scale.astype(np.float32),
        coef=model.coef.astype(np.float32), intercept=np.float64(model.intercept),
        embedding_version=np.str_(model.embedding_version), c=np.float64(C), seed=np.int64(seed),
        sources=np.array([f"{name}: {n}" for name, n in counts.items()]),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DOMAIN_MODEL_FILE)
    parser.add_argument("--real", type=Path, help="also decide the pairs of this folder (information only)")
    parser.add_argument("--allow-missing", action="store_true",
                        help="train without a source that is not installed (a different model than shipped)")
    args = parser.parse_args()
    started = time.perf_counter()
    source = SemanticSource(include_classes=False)

    def embed(images: list[np.ndarray]) -> np.ndarray:
        return source.features_and_probabilities(images)[0].astype(np.float64)

    def missing(what: str) -> None:
        if not args.allow_missing:
            raise SystemExit(f"{what} (or --allow-missing, to train a model unlike the shipped one)")
        print(f"note: {what}; trained without it")

    sources = training_sources(args.seed, missing)
    X = np.vstack([embed(images) for *_, images in sources])
    y = np.concatenate([[is_photo] * len(images) for _, _, is_photo, images in sources])
    collection = np.concatenate([[c] * len(images) for c, _, _, images in sources])
    origin = np.concatenate([[f"{c}: {name}"] * len(images) for c, name, _, images in sources])
    blocks = source.embedding_blocks
    print("training images per source:")
    for c, name, is_photo, images in sources:
        print(f"  {c + ': ' + name:<52} {'photo' if is_photo else 'not':<5} {len(images)}")

    for level, groups in (("collection", collection), ("source", origin)):
        print(f"\nleave one {level} out (C = {C}; runs: all its images when fewer than {RUN}):\n{HEADER}")
        for name in dict.fromkeys(groups):
            held = groups == name
            model = fit(X[~held], y[~held], origin[~held], collection[~held], blocks)
            p = model.photo_probability(X[held])
            print(describe_runs(name, "photo" if y[held][0] else "not", p, args.seed))

    model = fit(X, y, origin, collection, blocks)
    save(model, args.out, args.seed, {f"{c}: {name}": len(images) for c, name, _, images in sources})
    model = DomainModel.load(args.out)
    print(f"\nwrote {args.out} ({model.version}); held-out collections:\n{HEADER}")
    collections = held_out_collections(args.seed)
    if args.real is not None:
        collections.update(real_pairs(args.real))
    for name, (expected, make) in collections.items():
        try:
            images = make()
        except (pools.PoolUnavailable, ValueError) as error:
            print(f"{name}: skipped ({error})")
            continue
        print(describe_runs(name, expected, model.photo_probability(embed(images)), args.seed), flush=True)
    print(f"\n{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
