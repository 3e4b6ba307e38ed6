"""Validity by simulation on real images: random labels (the global null) and planted signals among the real,
strongly correlated concept scores.

Scores one pool of real images once (the benchmark's photo crops, and any case of the shared real-image
folder with both of its sets pooled), then, many times, labels the images at random into two sets of
``--n`` and runs the statistics exactly as ``describe`` does (the reportable rule, the learned describer,
``test_concepts`` with ``--design``). Under random labels nothing differs, so P(any significant finding)
must stay at or below alpha (0.05); it is printed with a 95% Clopper-Pearson interval.

With ``--planted K`` a shift of ``--shift`` standard deviations (in ranks: the concept's scores of set A
are moved by that many of its pooled standard deviations) is added to K concept columns chosen at random
per run; every other column is left as it was, so it stays null however strongly it correlates with the
planted ones. Printed: the share of runs with any false finding (family-wise error), the mean false
discovery proportion (the false discovery rate, which must stay at or below alpha) and the share of planted
columns found (power).

    python benchmarks/null_labels.py --runs 1000                       # photo crops, 40 vs 40
    python benchmarks/null_labels.py --runs 1000 --source pneumonia    # pooled chest X-rays
    python benchmarks/null_labels.py --runs 300 --planted 5 --design split
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from tellapart.concepts.cache import ScoreCache, default_cache_dir
from tellapart.concepts.library import ConceptLibrary
from tellapart.io import ImageSet
from tellapart.stats import test_concepts
from tellapart.stats.contract import DESIGNS
from tellapart.stats.describer import load_describer
from tellapart.stats.reportable import reportable_concepts
from tellapart.synth import bundled_pool

REAL_DIR = Path("/work/shared/real")


def _pool(source: str, size: int, real_dir: Path) -> ImageSet:
    if source == "photos":
        return ImageSet.from_spec(bundled_pool(size, seed=7), name="pool")
    folder = real_dir / source
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    if not files:
        raise SystemExit(f"no images under {folder}")
    return ImageSet.from_spec([str(p) for p in files], name="pool")


def clopper_pearson(k: int, n: int) -> tuple[float, float]:
    """The exact 95% binomial interval of k in n."""
    from scipy import stats

    low = stats.beta.ppf(0.025, k, n - k + 1) if k else 0.0
    high = stats.beta.ppf(0.975, k + 1, n - k) if k < n else 1.0
    return float(low), float(high)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--n", type=int, default=40, help="images per set (default 40)")
    parser.add_argument("--source", default="photos", help="photos, or a case folder of --real-dir")
    parser.add_argument("--real-dir", type=Path, default=REAL_DIR)
    parser.add_argument("--design", choices=DESIGNS, default="maxt")
    parser.add_argument("--planted", type=int, default=0, help="columns given a real shift per run")
    parser.add_argument("--shift", type=float, default=0.8, help="shift in pooled standard deviations")
    parser.add_argument("--seed", type=int, default=2026, help="seed of the random labels")
    parser.add_argument("--cache-dir", default=None)
    args = parser.parse_args()

    started = time.perf_counter()
    library = ConceptLibrary()
    cache = ScoreCache(args.cache_dir or default_cache_dir())
    try:
        table = library.score_sets({"a": _pool(args.source, 3 * args.n, args.real_dir)}, cache=cache)
    finally:
        cache.close()
    scores, concepts = table.scores, table.concepts
    if len(scores) < 2 * args.n:
        raise SystemExit(f"the pool has {len(scores)} images, fewer than 2 x {args.n}")
    describer = load_describer("shipped")
    ranker = describer.ranker(concepts) if describer is not None else None
    thresholds = library.thresholds()
    priority = concepts["priority"].to_dict()
    rng = np.random.default_rng(args.seed)
    any_false, fdp, found = 0, [], []
    for run in range(args.runs):
        rows = rng.permutation(len(scores))[: 2 * args.n]
        run_scores = scores.iloc[rows].reset_index(drop=True)
        groups = np.array(["a"] * args.n + ["b"] * args.n)
        planted: set[str] = set()
        if args.planted:
            values = run_scores.to_numpy(dtype=np.float64).copy()
            varies = np.flatnonzero(np.nanstd(values, axis=0) > 0)
            chosen = rng.choice(varies, size=args.planted, replace=False)
            values[: args.n, chosen] += args.shift * np.nanstd(values[:, chosen], axis=0)
            run_scores = pd.DataFrame(values, columns=run_scores.columns)
            planted = {str(scores.columns[c]) for c in chosen}
        embeddings = None if table.embeddings is None else table.embeddings[rows]
        reportable, _, _ = reportable_concepts(run_scores, groups, concepts["category"], thresholds, run,
                                               embeddings=embeddings, design=args.design)
        tested = test_concepts(run_scores, groups, seed=args.seed * 100_000 + run, thresholds=thresholds,
                               priority=priority, ranker=ranker, reportable=reportable, design=args.design)
        significant = set(tested.loc[tested["significant"] & tested["reportable"], "concept"])
        false = significant - planted
        any_false += bool(false)
        fdp.append(len(false) / len(significant) if significant else 0.0)
        if planted:
            found.append(len(significant & planted) / len(planted))
    low, high = clopper_pearson(any_false, args.runs)
    what = f"{args.planted} planted shifts of {args.shift} SD" if args.planted else "random labels"
    print(f"{args.source}, {args.n} vs {args.n}, design {args.design}, {what}, {args.runs} runs, "
          f"{len(scores.columns)} concepts, {time.perf_counter() - started:.0f} s")
    print(f"  runs with any false finding: {any_false}/{args.runs} = {any_false / args.runs:.3f} "
          f"(95% CI {low:.3f}-{high:.3f})")
    if args.planted:
        print(f"  false discovery rate (mean FDP): {np.mean(fdp):.3f}; planted columns found: "
              f"{np.mean(found):.3f}")


if __name__ == "__main__":
    main()
