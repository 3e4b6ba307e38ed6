"""Do the learned detectors recognise their edit on photos they were never trained on?

`tellapart train` records each detector's AUROC on held-out crops of its own training photos; this scores
the detectors on crops of the *benchmark's* photos (``synth.pools`` part "bench"), edited by each family at
the training strengths, against the same crops unedited. Pass several detector files to compare them on the
same images (e.g. the shipped ones and ones trained on every photo).

    python benchmarks/detector_transfer.py [DETECTORS.npz ...] [--per-family 40] [--clean 120]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from tellapart.concepts.learned import LearnedDetectors
from tellapart.stats.auroc import auroc
from tellapart.synth import bundled_pool, get_family
from tellapart.train.detectors import STRENGTHS, _embed, _embedding_library


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("detectors", nargs="*", type=Path, help="detector files (default: the shipped ones)")
    parser.add_argument("--per-family", type=int, default=40, help="edited images per family (default 40)")
    parser.add_argument("--clean", type=int, default=120, help="unedited benchmark crops (default 120)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    started = time.perf_counter()
    files = {str(path): LearnedDetectors.load(path) for path in args.detectors} or {
        "shipped": LearnedDetectors.load()}
    families = [c.id.removeprefix("learned.") for c in next(iter(files.values())).concepts]
    rng = np.random.default_rng(args.seed)
    clean = bundled_pool(args.clean, seed=args.seed + 77, part="bench")
    groups = {"clean": clean}
    for name in families:
        family = get_family(name)
        picks = rng.integers(len(clean), size=args.per_family)
        groups[name] = [family.apply(clean[i], rng, float(rng.uniform(*STRENGTHS))) for i in picks]
    X, labels = _embed(_embedding_library(), groups, cache=None, progress=True)
    results = {}
    for label, detectors in files.items():
        scores = detectors.score_embeddings(X)
        clean_scores = scores[labels == "clean"]
        results[label] = {name: round(float(auroc(scores[labels == name, k], clean_scores[:, k])), 4)
                          for k, name in enumerate(families)}
    print(json.dumps({"per_family": args.per_family, "clean": args.clean, "auroc": results,
                      "seconds": round(time.perf_counter() - started, 1)}, indent=1))
    for label, values in results.items():
        print(f"{label}: median {np.median(list(values.values())):.3f}, min {min(values.values()):.3f}")


if __name__ == "__main__":
    main()
