"""Speed of the statistical contract alone: ``stats.test_concepts`` on a score matrix of pure numbers.

A 1000-image x 1500-concept matrix (500 per set, 40 concepts shifted by 0.4 SD), one warm-up call, then the
median of ``--repeats`` timed calls. No model and no images are involved, so this isolates the screen
(one rank-test matrix product over every concept), the per-hypothesis validation and the explaining-away.
The tests check that the work grows with the hypotheses, not the concepts (tests/test_stats.py); this
script measures the wall-clock time, which depends on the machine.

    python benchmarks/bench_stats_speed.py                        # 1000 x 1500, 5 repeats
    python benchmarks/bench_stats_speed.py --concepts 5000        # a bigger library
    python benchmarks/bench_stats_speed.py --budget 1.0           # exit 1 when the median exceeds 1 s
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
import pandas as pd
from bench_speed import _load, _peak_mb  # this folder is on the path when run as a script


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000, help="images in all, half per set")
    parser.add_argument("--concepts", type=int, default=1500)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--budget", type=float, default=None, help="seconds; exit 1 when the median is over")
    parser.add_argument("--design", choices=["maxt", "split"], default="maxt",
                        help="maxt (describe's default: 2,000 relabellings) or split")
    args = parser.parse_args(argv)

    from tellapart import stats

    half = args.images // 2
    groups = np.array(["a"] * half + ["b"] * (args.images - half))
    rng = np.random.default_rng(13)
    values = rng.normal(size=(args.images, args.concepts)).astype(np.float32)
    values[:half, : min(40, args.concepts)] += 0.4
    scores = pd.DataFrame(values, columns=[f"c{i}" for i in range(args.concepts)])
    stats.test_concepts(scores, groups, seed=0, design=args.design)  # warm-up
    times = []
    for seed in range(1, args.repeats + 1):
        started = time.perf_counter()
        result = stats.test_concepts(scores, groups, seed=seed, design=args.design)
        times.append(time.perf_counter() - started)
    median = statistics.median(times)
    print(f"test_concepts (design {args.design}), {args.images} images x {args.concepts} concepts: "
          f"median {median:.3f} s "
          f"(min {min(times):.3f}, max {max(times):.3f}, {args.repeats} runs); "
          f"{len(result)} hypotheses, {int(result['significant'].sum())} significant; peak memory "
          f"{_peak_mb():.0f} MB (scores {values.nbytes / 1e6:.0f} MB as float32); load {_load()}")
    if args.budget is not None and median > args.budget:
        print(f"over the budget of {args.budget:.3f} s", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
