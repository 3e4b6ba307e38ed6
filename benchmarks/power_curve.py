"""Power curve: the share of true differences tellapart finds against the number of images per set, for the
max-T design (the default) and the discovery/validation split (``--design split``).

Synthetic: ``--pairs`` pairs of the benchmark's ``--tier`` (default hard; ``tellapart bench``'s generator,
seed 0) are made at the largest size, scored once (cached), then each set is subsampled to every size.
Real: each non-null case of the shared real-image folder (``benchmarks/real_medical.py``'s cases and
accepted answers) is scored once and subsampled ``--draws`` times per size (a size above a set's count uses
all of it).

Per design and size it prints:

  found    synthetic: share of pairs where some significant finding names the planted edit (full or
           near-miss credit of the benchmark's scorer); real: share of draws where one of the top three
           significant unexplained findings is an accepted answer (``real_medical.py``'s hit)
  acc@1    synthetic only: the benchmark's Acc@1 of the significant findings
  silent   share of pairs / draws with no significant finding at all

Both designs run on the same subsamples and scores, with the shipped describer, exactly as the benchmark
runs ``tellapart`` and ``tellapart-split``.

Two oracles are the reference on the synthetic pairs, what a test could find if it knew the answer before
looking: ``oracle-1`` tests only the planted edit's own concepts (the best of its few concepts, uncorrected,
one-sided in the true direction, rank test at alpha; its found = acc@1), ``oracle-10`` the same at alpha /
10 (the answer pre-specified among 10 hypotheses, Bonferroni). A method's "found" also counts the judge's
near-miss credit (a related concept), which the oracles do not, so it can exceed them.

    python benchmarks/power_curve.py --pairs 30 --sizes 20 40 80 160 --cache-dir CACHE
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from tellapart.bench.methods import METHODS
from tellapart.bench.run import _Judge, _score_cache, _score_pair
from tellapart.bench.suites import PairFactory, SuiteConfig
from tellapart.concepts.library import ConceptLibrary
from tellapart.io import ImageSet
from tellapart.stats.describer import load_describer
from tellapart.stats.tests import rank_test
from tellapart.synth.tiers import TIER_SPECS

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_medical import ACCEPTED, REAL_CASES  # noqa: E402

DESIGNS = {"maxt": "tellapart", "split": "tellapart-split"}
ALPHA = 0.05
ORACLES = {"oracle-1": 1, "oracle-10": 10}  # name: hypotheses the answer is pre-specified among


def _subsample(table: SimpleNamespace, size: int, rng: np.random.Generator) -> SimpleNamespace:
    groups = np.asarray(table.groups)
    keep = np.sort(np.concatenate([rng.permutation(np.flatnonzero(groups == g))[:size] for g in "ab"]))
    return SimpleNamespace(scores=table.scores.iloc[keep].reset_index(drop=True), groups=groups[keep],
                           concepts=table.concepts,
                           embeddings=None if table.embeddings is None else table.embeddings[keep])


def _run(table: SimpleNamespace, judge: _Judge, design: str):
    context = judge.context(table.concepts, table.embeddings)
    return METHODS[DESIGNS[design]].run(table.scores, table.groups, context)


def synthetic_rows(args: argparse.Namespace, library: ConceptLibrary, judge: _Judge) -> list[dict]:
    largest = max(args.sizes)
    config = SuiteConfig("power", n_per_set=largest, pairs_per_tier=args.pairs, null_pairs=0, sweep_pairs=0,
                         real_pairs=0, real_per_set=10, pool_size=max(600, 3 * largest))
    factory = PairFactory(config, 0)
    kinds = factory.kinds(args.tier)
    data = f"synthetic {args.tier}"
    rows = []
    with _score_cache(args.cache_dir, True) as cache:
        for i in range(args.pairs):
            pair = factory.synthetic(args.tier, TIER_SPECS[args.tier], i, kinds)
            table, _ = _score_pair(pair, library, cache)
            for size in args.sizes:
                sample = _subsample(table, size, np.random.default_rng([i, size]))
                for design in DESIGNS:
                    out = _run(sample, judge, design)
                    recall, _ = judge.scorer.recall_precision(out.significant or [], pair.differences)
                    rows.append({"data": data, "size": size, "design": design,
                                 "found": recall > 0, "silent": not out.reported,
                                 "acc1": judge.scorer.accuracy(out.findings, pair.differences, 1)})
                p = _oracle_p(sample, pair.differences)
                for name, hypotheses in ORACLES.items():
                    found = p < ALPHA / hypotheses
                    rows.append({"data": data, "size": size, "design": name, "found": found,
                                 "silent": not found, "acc1": float(found)})
    return rows


def _oracle_p(table: SimpleNamespace, differences) -> float:
    """The smallest one-sided rank-test p-value of the planted edits' own concepts, each in its true
    direction (the test an analyst who knew the answer would run)."""
    groups = np.asarray(table.groups)
    best = 1.0
    for difference in differences:
        alternative = "greater" if difference.direction == "a" else "less"
        for concept in difference.concepts:
            if concept in table.scores.columns:
                values = table.scores[concept].to_numpy(dtype=np.float64)
                best = min(best, rank_test(values[groups == "a"], values[groups == "b"], alternative))
    return best


def real_rows(args: argparse.Namespace, library: ConceptLibrary, judge: _Judge) -> list[dict]:
    rows = []
    with _score_cache(args.cache_dir, True) as cache:
        for case in REAL_CASES:
            accepted = ACCEPTED[case]
            folder = args.real_dir / case
            if accepted is None or not folder.is_dir():
                continue
            sets = {label: ImageSet.from_spec(str(folder / label), name=label.upper()) for label in "ab"}
            table = library.score_sets(sets, cache=cache)
            for size in args.sizes:
                for draw in range(args.draws):
                    sample = _subsample(table, size, np.random.default_rng([draw, size, 1]))
                    for design in DESIGNS:
                        out = _run(sample, judge, design)
                        named = [(cid, d) for cid, d, explained in (out.significant or []) if not explained]
                        hit = any(accepted.get(cid) == d for cid, d in named[:3])
                        rows.append({"data": f"real {case}", "size": size, "design": design, "found": hit,
                                     "silent": not out.reported, "acc1": np.nan})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=30, help="synthetic pairs (default 30)")
    parser.add_argument("--tier", choices=["easy", "medium", "hard"], default="hard",
                        help="the benchmark tier the synthetic pairs are drawn from (default hard)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 40, 80, 160])
    parser.add_argument("--draws", type=int, default=5, help="subsamples per real case and size")
    parser.add_argument("--real-dir", type=Path, default=Path("/work/shared/real"))
    parser.add_argument("--skip", choices=["synthetic", "real"], default=None)
    parser.add_argument("--cache-dir", default=None)
    args = parser.parse_args()
    started = time.perf_counter()
    library = ConceptLibrary()
    judge = _Judge.for_library(library, load_describer("shipped"), 0)
    rows = []
    if args.skip != "synthetic":
        rows += synthetic_rows(args, library, judge)
    if args.skip != "real":
        rows += real_rows(args, library, judge)
    frame = pd.DataFrame(rows)
    table = frame.groupby(["data", "design", "size"])[["found", "acc1", "silent"]].mean().round(2)
    print(table.unstack("size").to_string())
    print(f"{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
