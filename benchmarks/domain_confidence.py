"""Does the ImageNet model recognise a run's images as photos of its classes? The measurement behind
``tellapart.stats.reportable.PHOTO_LIKE_TOP1`` (the fallback rule), and beside it what the domain model
(``stats.reportable.DomainModel``, made and measured by ``scripts/make_domain_model.py``) decides: the per-run
share of photos (P(photo) >= ``PHOTO_P``) and how many runs reach ``PHOTO_LIKE_SHARE``.

Per image, the bundled classifier's top-1 probability over the 1000 ImageNet classes (the row maximum of the
``semantic_class`` columns); per run, the median over its images. A run is "photo-like" when that median is
at least ``PHOTO_LIKE_TOP1``; otherwise ImageNet classes and categories, and the detectors trained on
synthetic edits of photos, are signals, not findings (``tellapart.stats.reportable``).

Collections (none of them ../shared/real, which is development data; those five pairs are printed at the
end for information, with ``--real DIR``):

- must be photo-like: crops of the bundled photos (``bundled_pool``, part "train", the one the constant is
  chosen on; part "bench", which the tests and the benchmarks use, as a check), Fashion-MNIST garments and
  openclipart drawings (the synthetic benchmark's real tier names ImageNet categories on them), lfw faces;
- must not be: crops of scikit-image's scans and micrographs that install with it (``cell``: phase-contrast
  micrograph, grey; ``microaneurysms``: grey retinal scan; ``retina``: colour fundus photograph;
  ``immunohistochemistry``: stained tissue micrograph) and of the CT/MR slices in pydicom's test files (when
  pydicom is importable, e.g. ``PYTHONPATH=/tmp/pydicom_lib``). scikit-image's ``brain``, ``cells3d``,
  ``human_mitosis``, ``kidney`` and ``skin`` need a download and are not on this machine.
- printed for information: the textile pool (close-ups of fabric, the bench's "textile defects" pair).

A run is ``--n`` images (default 40 per set, both sets pooled: 80) drawn at random from a collection,
``--runs`` times. Prints per collection the per-image quantiles and the per-run medians' range.

    python benchmarks/domain_confidence.py --runs 50 --real ../shared/real

Note: the "train" part of the bundled photos includes ``retina``, and the domain model was trained on other
collections here (lfw, the grey scans, pydicom's slices): only the "bench" part, Fashion-MNIST's test file,
openclipart's benchmark categories, ``retina`` and ``immunohistochemistry`` are held out from it.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from tellapart.concepts.semantics import SemanticSource
from tellapart.synth import pools


def crops(sources: list[np.ndarray], n: int, seed: int, min_side: int = 96, max_side: int = 256
          ) -> list[np.ndarray]:
    """``n`` random crops of ``sources`` as ``bundled_pool`` cuts them (30-90% of the shorter side)."""
    return pools.random_crops(sources, n, seed, min_side, max_side)


def _rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8:
        low, high = np.percentile(image, [0.5, 99.5])
        image = (np.clip((image - low) / max(high - low, 1e-9), 0, 1) * 255).astype(np.uint8)
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return np.ascontiguousarray(image[..., :3])


def dicom_slices() -> list[np.ndarray]:
    """The CT and MR slices in pydicom's test files ([] when pydicom is not importable)."""
    try:
        import pydicom
        from pydicom.data import get_testdata_file
    except ImportError:
        return []
    slices = []
    for name in ("CT_small.dcm", "MR_small.dcm", "liver_1frame.dcm"):
        try:
            pixels = pydicom.dcmread(get_testdata_file(name)).pixel_array.astype(np.float32)
        except Exception:  # noqa: BLE001 - a test file this pydicom cannot decode is left out
            continue
        slices += [_rgb(p) for p in (pixels if pixels.ndim == 3 else [pixels])]
    return slices


def collections(n_images: int) -> dict[str, tuple[str, list[np.ndarray]]]:
    """Name -> (expected "photo"/"not"/"info", a pool of images to draw runs from)."""
    import skimage.data as skdata

    found: dict[str, tuple[str, list[np.ndarray]]] = {
        "bundled photos (train part)": ("photo", pools.bundled_pool(n_images, seed=1, part="train")),
        "bundled photos (bench part)": ("photo", pools.bundled_pool(n_images, seed=1, part="bench")),
        "lfw faces": ("photo", pools.lfw_pool(True, None, seed=0)),
    }
    for name, make in (
        ("fashion-mnist", lambda: [img for label in pools.FASHION_CLASSES
                                   for img in pools.fashion_mnist_pool(label, n_images // 10, seed=0)]),
        ("openclipart", lambda: [img for category in pools.OPENCLIPART_BENCH_CATEGORIES
                                 for img in pools.openclipart_pool(category, n_images // 10, seed=0)]),
        ("textiles", lambda: pools.textile_pool("nominal", 100, seed=0)
         + pools.textile_pool("local", 50, seed=0) + pools.textile_pool("global", 50, seed=0)),
    ):
        try:
            found[name] = ("info" if name == "textiles" else "photo", make())
        except (pools.PoolUnavailable, ValueError) as error:
            print(f"skipped {name}: {error}")
    micro = {
        "cell (grey micrograph)": [_rgb(skdata.cell())],
        "microaneurysms (grey retinal scan)": [_rgb(skdata.microaneurysms())],
        "retina (colour fundus)": [_rgb(skdata.retina())],
        "immunohistochemistry (stained tissue)": [_rgb(skdata.immunohistochemistry())],
    }
    for name, sources in micro.items():
        found[name] = ("not", crops(sources, n_images, seed=2))
    slices = dicom_slices()
    if slices:
        found["CT/MR slices (pydicom test files)"] = ("not", crops(slices, n_images, seed=3, min_side=64))
    mixed = [img for key in micro for img in found[key][1][: n_images // len(micro)]]
    found["scans and micrographs, mixed"] = ("not", mixed)
    return found


def top1_and_photo(source: SemanticSource, images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Top-1 ImageNet probability and the shipped domain model's P(photo) of each image (one pass)."""
    from tellapart.stats.reportable import shipped_domain_model

    features, probabilities = source.features_and_probabilities(images)
    return probabilities.max(axis=1), shipped_domain_model().photo_probability(features)


def run_medians(values: np.ndarray, n: int, runs: int, seed: int, statistic=np.median) -> np.ndarray:
    """``statistic`` (default the median) of ``runs`` random draws of ``n`` values (without replacement, or
    all when fewer)."""
    rng = np.random.default_rng(seed)
    size = min(n, len(values))
    return np.array([statistic(rng.choice(values, size, replace=False)) for _ in range(runs)])


def real_pairs(root: Path, source: SemanticSource) -> None:
    """Print the median top-1 probability and the share of photos of each pair under ``root`` (both sets
    pooled)."""
    from tellapart.io import ImageSet
    from tellapart.stats.reportable import PHOTO_P

    print(f"\n{root} (for information, not tuning): median top-1 probability, both sets pooled")
    for case in sorted(p for p in root.iterdir() if (p / "a").is_dir()):
        images = [ref.load().decode().pixels for label in ("a", "b")
                  for ref in ImageSet.from_spec(case / label).refs]
        values, photo = top1_and_photo(source, images)
        print(f"  {case.name:<16} {np.median(values):.3f}  share of photos {np.mean(photo >= PHOTO_P):.3f}  "
              f"({len(values)} images)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=80, help="images per run, both sets (default 80)")
    parser.add_argument("--runs", type=int, default=50, help="random runs per collection (default 50)")
    parser.add_argument("--pool", type=int, default=200, help="images per collection (default 200)")
    parser.add_argument("--real", type=Path, help="also print the pairs of this folder (CASE/a, CASE/b)")
    args = parser.parse_args()
    from tellapart.stats.reportable import PHOTO_LIKE_SHARE, PHOTO_LIKE_TOP1, PHOTO_P

    started = time.perf_counter()
    source = SemanticSource()
    print(f"{'collection':<40} {'expect':<6} {'per image: q10 / q50 / q90':<28} "
          f"per run of {args.n}: min / median / max    photo-like runs (>= {PHOTO_LIKE_TOP1})    "
          f"share of photos per run: min / max, photo-like runs (>= {PHOTO_LIKE_SHARE})")
    for name, (expected, images) in collections(args.pool).items():
        values, photo = top1_and_photo(source, images)
        medians = run_medians(values, args.n, args.runs, seed=0)
        is_photo = (photo >= PHOTO_P).astype(float)
        photo_shares = run_medians(is_photo, args.n, args.runs, seed=0, statistic=np.mean)
        q10, q50, q90 = np.quantile(values, [0.1, 0.5, 0.9])
        photo_like = int((medians >= PHOTO_LIKE_TOP1).sum())
        print(f"{name:<40} {expected:<6} {q10:.3f} / {q50:.3f} / {q90:.3f}{'':<7} "
              f"{medians.min():.3f} / {np.median(medians):.3f} / {medians.max():.3f}{'':<12} "
              f"{photo_like}/{len(medians)}{'':<18}{photo_shares.min():.3f} / {photo_shares.max():.3f}  "
              f"{int((photo_shares >= PHOTO_LIKE_SHARE).sum())}/{len(photo_shares)}", flush=True)
    if args.real is not None:
        real_pairs(args.real, source)
    print(f"\n{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
