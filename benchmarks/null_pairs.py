"""The benchmark's null pairs, many more of them: how often does each tellapart method report a difference?

`tellapart bench --suite full` has 53 null pairs, so its "null false findings" moves by 0.02 per pair (one
pair in 53) and cannot tell 0.02 from 0.06. This draws further null pairs exactly as the suite does
(synthetic pairs of the hard tier with purity 0: set A and set B are random draws from the same crops of
the benchmark's photos, diluted with the same textiles; indices after the suite's own) and counts the pairs
in which each method reports anything, with a 95% Clopper-Pearson interval. The images come from the
suite's shared pools, so after one `tellapart bench --suite full` every score is in the cache.

    python benchmarks/null_pairs.py --pairs 200 --cache-dir CACHE
"""

from __future__ import annotations

import argparse
import time

from scipy import stats

from tellapart.bench.methods import METHODS
from tellapart.bench.run import _Judge, _run_methods, _score_cache, _score_pair
from tellapart.bench.suites import PairFactory, get_suite
from tellapart.concepts.library import ConceptLibrary
from tellapart.stats.describer import load_describer
from tellapart.synth.tiers import TIER_SPECS

TELLAPART_METHODS = ("tellapart", "tellapart-untrained", "tellapart-split", "tellapart-split-holm")


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Return the exact binomial interval of k successes in n trials."""
    tail = (1 - level) / 2
    low = stats.beta.ppf(tail, k, n - k + 1) if k else 0.0
    high = stats.beta.ppf(1 - tail, k + 1, n - k) if k < n else 1.0
    return float(low), float(high)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=200, help="null pairs to draw (default 200)")
    parser.add_argument("--suite", default="full", help="the suite whose pools and sizes to use")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", default=None, help="score cache (default tellapart's)")
    args = parser.parse_args()

    started = time.perf_counter()
    config = get_suite(args.suite)
    factory = PairFactory(config, args.seed)
    library = ConceptLibrary()
    judge = _Judge.for_library(library, load_describer("shipped"), args.seed)
    methods = [METHODS[name] for name in TELLAPART_METHODS]
    reported = {name: [] for name in TELLAPART_METHODS}
    kinds = factory.kinds("null")
    with _score_cache(args.cache_dir, True) as cache:
        for i in range(config.null_pairs, config.null_pairs + args.pairs):
            pair = factory.synthetic("null", TIER_SPECS["hard"], i, kinds, purity=0.0, n_edits=1)
            table, _ = _score_pair(pair, library, cache)
            for row in _run_methods(pair, table, methods, judge):
                reported[row["method"]].append((pair.name, row["reported"], row["findings"][:1]))
    print(f"{args.pairs} null pairs (suite {args.suite!r}, seed {args.seed}, indices {config.null_pairs}-"
          f"{config.null_pairs + args.pairs - 1}), {time.perf_counter() - started:.0f} s")
    for name, rows in reported.items():
        k = sum(r for _, r, _ in rows)
        low, high = clopper_pearson(k, len(rows))
        print(f"  {name:<20} reported on {k}/{len(rows)} = {k / len(rows):.3f} (95% CI {low:.3f}-{high:.3f})")
        for pair_name, was_reported, first in rows:
            if was_reported:
                print(f"      {pair_name}: {first}")


if __name__ == "__main__":
    main()
