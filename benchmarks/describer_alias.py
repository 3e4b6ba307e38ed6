"""Does reading COCO objects, poses, faces and text as detectors (``describer.KIND_ALIASES``) cost anything?

The learned describer was trained on no concept of the ``object``, ``pose``, ``face`` or ``text``
categories; ``KIND_ALIASES`` makes it read them as ``detector`` (the OpenCV cascades) instead of "other".
This runs the benchmark's pairs once and, on the same scores, the ``tellapart`` method twice: with the
aliases (``tellapart``) and without them (``tellapart-noalias``: every such concept "other", as before).
Under max-T the describer only orders the significant findings, so only Acc@1 / Acc@5 can move; the null
false-finding rate cannot.

The pairs are the full suite's (seed 0, 100 images per synthetic set; the same pairs as
``tellapart bench --suite full``, so its score cache serves them): the first ``--easy``, ``--medium``,
``--hard``, ``--multi`` and ``--null`` pairs of those sections, and the real section at ``--real-per-set``
images per set (no ``real-hard`` mixes; 0: no real pairs).

    python benchmarks/describer_alias.py --cache-dir /tmp/bench_cache --out /tmp/alias
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import pandas as pd

from tellapart.bench import SuiteConfig, run_bench
from tellapart.bench import methods as bench_methods
from tellapart.bench import run as bench_run
from tellapart.bench.suites import MULTI, TIER_SPECS, PairFactory, get_suite, real_pairs

NO_ALIAS = "tellapart-noalias"


def _patch_methods() -> None:
    """Add ``tellapart-noalias`` (the max-T method, describer without ``KIND_ALIASES``) to the methods, and
    make the judge hand it a ranker built without them."""
    maxt = bench_methods._tellapart("bh", trained=True, design="maxt")
    original_context = bench_run._Judge.context

    def context(self, concepts: pd.DataFrame, embeddings=None):
        out = original_context(self, concepts, embeddings)
        ranker = None if self.describer is None else self.describer.ranker(concepts, aliases={})
        _patch_methods.no_alias = dataclasses.replace(out, ranker=ranker)
        return out

    def no_alias(scores, groups, context):
        return maxt(scores, groups, _patch_methods.no_alias)

    bench_run._Judge.context = context
    bench_methods.METHODS[NO_ALIAS] = bench_methods.Method(
        NO_ALIAS, bench_methods.METHODS["tellapart"].reporting_rule, no_alias)


def _patch_pairs(counts: dict[str, int], real_per_set: int) -> None:
    """Make the benchmark run only the first ``counts[section]`` pairs of each synthetic section of the full
    suite, then its real pairs at ``real_per_set`` images per set (none at 0)."""

    def pairs(factory: PairFactory, config: SuiteConfig, seed: int, notes: list[str]):
        for tier in ("easy", "medium", "hard"):
            kinds = factory.kinds(tier)
            for i in range(counts[tier]):
                yield factory.synthetic(tier, TIER_SPECS[tier], i, kinds)
        kinds = factory.kinds(MULTI)
        for i in range(counts[MULTI]):
            yield factory.synthetic(MULTI, TIER_SPECS["medium"], i, kinds, n_edits=2 + i % 2)
        for i in range(counts["null"]):
            yield factory.synthetic("null", TIER_SPECS["hard"], i, factory.kinds("null"), purity=0.0,
                                    n_edits=1)
        if real_per_set:
            yield from real_pairs(dataclasses.replace(config, real_per_set=real_per_set), seed, notes)

    bench_run._all_pairs = pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("bench-results/describer-alias"))
    parser.add_argument("--cache-dir", type=Path, default=None)
    for section, default in (("easy", 50), ("medium", 50), ("hard", 50), ("multi", 0), ("null", 10)):
        parser.add_argument(f"--{section}", type=int, default=default)
    parser.add_argument("--real-per-set", type=int, default=30)
    args = parser.parse_args()
    _patch_methods()
    _patch_pairs({"easy": args.easy, "medium": args.medium, "hard": args.hard, MULTI: args.multi,
                  "null": args.null}, args.real_per_set)
    started = time.perf_counter()
    report = run_bench(get_suite("full"), out_dir=args.out, cache_dir=args.cache_dir, progress=True,
                       methods=["tellapart", NO_ALIAS])
    print(report.markdown())
    summary = report.summary()
    (args.out / "alias_summary.json").write_text(json.dumps(
        {"args": {k: str(v) for k, v in vars(args).items()}, "summary": summary,
         "seconds": round(time.perf_counter() - started)}, indent=1, default=str))


if __name__ == "__main__":
    main()
