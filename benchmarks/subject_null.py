"""Null rate with many images per subject: does `--subject-col` keep the held-out guarantee?

Medical sets often hold several images of one patient. Without a subject column every image counts as a
sample: the discovery/validation split puts a patient's images on both sides, a chance difference between
the two groups of patients is chosen on discovery and confirmed on validation by the same patients' other
images, and false findings rise above the 5% the contract promises. With `subject_col` a subject's images
are one sample (``ImageSet.from_manifest(subject_col=...)``), and the rate must stay at most 0.05.

Each run: SUBJECTS subjects, each a distinct crop of the benchmark's photos seen in PER_SUBJECT views (small
shifted sub-crops with a little brightness jitter, as repeated captures of one lesion), split at random into
set A and set B (no difference by construction). The same images serve every run (only the split of
subjects changes), so after the first run every score is in the cache.

    python benchmarks/subject_null.py --runs 40 --cache-dir CACHE
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

import tellapart
from tellapart.io import ImageSet
from tellapart.synth import bundled_pool


def views(base: np.ndarray, n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``n`` views of one subject: 85% sub-crops at random offsets, brightness scaled by 0.9-1.1."""
    height, width = base.shape[:2]
    h, w = int(height * 0.85), int(width * 0.85)
    out = []
    for _ in range(n):
        top, left = rng.integers(0, height - h + 1), rng.integers(0, width - w + 1)
        crop = base[top:top + h, left:left + w].astype(np.float64) * rng.uniform(0.9, 1.1)
        out.append(np.clip(crop, 0, 255).astype(np.uint8))
    return out


def make_subjects(root: Path, subjects: int, per_subject: int, seed: int) -> pd.DataFrame:
    """Write every subject's views under ``root``; return one row per image: path, subject."""
    rng = np.random.default_rng(seed)
    rows = []
    for s, base in enumerate(bundled_pool(subjects, seed=seed, min_side=160, max_side=256, part="bench")):
        for v, image in enumerate(views(base, per_subject, rng)):
            name = f"s{s:03d}-v{v}.png"
            Image.fromarray(image).save(root / name)
            rows.append({"path": name, "subject": f"s{s:03d}"})
    return pd.DataFrame(rows)


def run(manifest: Path, subject_col: str | None, seed: int, cache_dir: str | None) -> bool:
    """One describe on the manifest's groups; True when anything is significant."""
    sets = [ImageSet.from_manifest(manifest, "group", g, subject_col=subject_col) for g in ("a", "b")]
    result = tellapart.describe(*sets, seed=seed, cache_dir=cache_dir, progress=False)
    return bool(len(result.significant))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=40, help="random splits of the subjects (default 40)")
    parser.add_argument("--subjects", type=int, default=60, help="subjects in all (default 60)")
    parser.add_argument("--per-subject", type=int, default=6, help="images per subject (default 6)")
    parser.add_argument("--cache-dir", default=None, help="score cache (default tellapart's)")
    args = parser.parse_args()

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        table = make_subjects(root, args.subjects, args.per_subject, seed=0)
        counts = {"without --subject-col": 0, "with --subject-col": 0}
        for r in range(args.runs):
            rng = np.random.default_rng(1000 + r)
            in_a = set(rng.permutation(table["subject"].unique())[: args.subjects // 2])
            manifest = root / f"manifest-{r}.csv"
            table.assign(group=np.where(table["subject"].isin(in_a), "a", "b")).to_csv(manifest, index=False)
            counts["without --subject-col"] += run(manifest, None, r, args.cache_dir)
            counts["with --subject-col"] += run(manifest, "subject", r, args.cache_dir)
    print(f"{args.runs} null runs, {args.subjects} subjects x {args.per_subject} images, "
          f"{time.perf_counter() - started:.0f} s")
    for name, k in counts.items():
        print(f"  {name:<22} reported anything in {k}/{args.runs} runs = {k / args.runs:.3f} "
              "(contract: <= 0.05)")


if __name__ == "__main__":
    main()
