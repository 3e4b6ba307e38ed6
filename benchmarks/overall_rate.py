"""How often does "is there any difference at all?" (``Result.overall``) flag a difference?

(a) On pairs whose difference no concept of the library names (text, triangle, rotation, zoom, logo pasted
on or applied to every set-A image: purity 1.0; the learned detectors of those families are removed from
the library), the share flagged should be at least 80%.
(b) On null pairs (two random halves of one pool: purity 0), at most 5%.

Each pair is described end to end (``tellapart.describe``), so the named findings and the explained share
are those a user would see. Set A and set B are disjoint random draws of bundled photo crops.

    python benchmarks/overall_rate.py --pairs 20 --null-pairs 200 --n 40 --strength 1.0
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from collections import Counter

import numpy as np

import tellapart
from tellapart.concepts.learned import LearnedDetectors
from tellapart.concepts.library import ConceptLibrary
from tellapart.synth import bundled_pool, make_edited_pair

OUT_OF_LIBRARY = ("text", "triangle", "rotation", "zoom", "logo")


def describe_pair(set_a: list, set_b: list, seed: int, cache: str, library: ConceptLibrary) -> dict:
    """Return ``Result.overall`` of one pair, with the number of significant named findings added."""
    result = tellapart.describe(set_a, set_b, seed=seed, cache_dir=cache, library=library, progress=False)
    return {**dataclasses.asdict(result.overall), "n_findings": len(result.significant)}


def summarise(name: str, runs: list[dict], elapsed: float) -> str:
    """Return one line: share flagged, mean AUROC, the statuses seen and the median explained share."""
    flagged = sum(r["significant"] for r in runs)
    statuses = Counter(r["status"] for r in runs)
    shares = [r["explained_share"] for r in runs if r["significant"] and r["explained_share"] is not None]
    share = f"{np.median(shares):.2f}" if shares else "n/a"
    return (f"{name:<10} {flagged:>3}/{len(runs):<3} flagged ({flagged / len(runs):.0%}), mean AUROC "
            f"{np.mean([r['auroc'] for r in runs]):.2f}, median explained share {share}, "
            f"statuses {dict(statuses)}, {elapsed:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=20, help="pairs per family (default 20)")
    parser.add_argument("--null-pairs", type=int, default=200,
                        help="null pairs (default 200: they reuse the pool's cached scores, so are cheap)")
    parser.add_argument("--n", type=int, default=40, help="images per set (default 40)")
    parser.add_argument("--strength", type=float, default=1.0, help="edit strength (default 1.0)")
    parser.add_argument("--families", default=",".join(OUT_OF_LIBRARY),
                        help=f"comma-separated families (default {','.join(OUT_OF_LIBRARY)})")
    parser.add_argument("--pool-seed", type=int, default=1, help="seed of the image pool (default 1)")
    parser.add_argument("--cache-dir", default=None, help="score cache (default: a temporary folder)")
    args = parser.parse_args()

    pool = bundled_pool(max(200, 2 * args.n + 40), seed=args.pool_seed)
    families = list(filter(None, args.families.split(",")))
    library = ConceptLibrary(learned=LearnedDetectors.load().without(families))
    flagged_total = total = 0
    with tempfile.TemporaryDirectory() as scratch:
        cache = args.cache_dir or scratch
        for family in families:
            started = time.perf_counter()
            runs = []
            for i in range(args.pairs):
                pair = make_edited_pair(pool, [(family, args.strength)], args.n, args.n, seed=i, purity=1.0)
                runs.append(describe_pair(pair.set_a, pair.set_b, i, cache, library))
            print(summarise(family, runs, time.perf_counter() - started), flush=True)
            flagged_total += sum(r["significant"] for r in runs)
            total += len(runs)
        started = time.perf_counter()
        nulls = []
        for i in range(args.null_pairs):
            pair = make_edited_pair(pool, [("rectangle", 1.0)], args.n, args.n, seed=10_000 + i, purity=0.0)
            nulls.append(describe_pair(pair.set_a, pair.set_b, i, cache, library))
        print(summarise("null", nulls, time.perf_counter() - started), flush=True)
    null_rate = sum(r["significant"] for r in nulls) / max(len(nulls), 1)
    print(f"\nout-of-library pairs flagged: {flagged_total}/{total} = {flagged_total / max(total, 1):.0%} "
          f"(target >= 80%); null pairs flagged: {null_rate:.1%} (target <= 5%); "
          f"{args.n} images per set, strength {args.strength}, purity 1.0")


if __name__ == "__main__":
    main()
