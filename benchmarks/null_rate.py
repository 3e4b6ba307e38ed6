"""Identical-sets check: how often does tellapart report a difference when there is none?

Draws two random halves of one pool of bundled photo crops, many times, and counts the runs in which
anything is significant. The statistical contract promises at most 5% (alpha = 0.05).

    python benchmarks/null_rate.py --seeds 100 --n 40
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

import tellapart
from tellapart.concepts.library import ConceptLibrary
from tellapart.synth import bundled_pool


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=100, help="number of random splits (default 100)")
    parser.add_argument("--n", type=int, default=40, help="images per set (default 40)")
    parser.add_argument("--pool-seed", type=int, default=1, help="seed of the image pool (default 1)")
    args = parser.parse_args()

    pool = bundled_pool(2 * args.n + 40, seed=args.pool_seed)
    library = ConceptLibrary()
    reported = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as cache:
        for seed in range(args.seeds):
            order = np.random.default_rng(10_000 + seed).permutation(len(pool))
            a = [pool[i] for i in order[: args.n]]
            b = [pool[i] for i in order[args.n : 2 * args.n]]
            result = tellapart.describe(a, b, seed=seed, cache_dir=cache, library=library, progress=False)
            hits = list(result.findings.loc[result.findings["significant"], "concept"])
            if hits:
                reported.append((seed, hits))
    rate = len(reported) / args.seeds
    print(f"identical sets ({args.n} vs {args.n}, {args.seeds} splits): {len(reported)} reported anything "
          f"-> false-finding rate {rate:.3f} (contract: <= 0.05); {time.perf_counter() - started:.0f} s")
    for seed, hits in reported:
        print(f"  seed {seed}: {', '.join(hits)}")


if __name__ == "__main__":
    main()
