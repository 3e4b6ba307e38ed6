"""The held-out-family protocol: does the learned describer help on differences it never trained on?

The synth families are split in two (``HELD_OUT`` below: about a third of the kinds). A describer is
trained on tasks of the other families only, with a library whose learned detectors for the held-out
families are removed (so nothing in the library was trained on them by name). Then the benchmark runs
on synthetic pairs of the held-out families only, plus the real category pairs (also at the hard tier:
``real-hard``), comparing the held-out-trained describer (``tellapart``) with the untrained ranking
(``tellapart-untrained``) on the same scores, and the discovery/validation design with the same describer
(``tellapart-split``), which the max-T default replaced. The describer's bank is the training part of the
bundled photos and textiles (``train.describer.training_pools``); the pairs are cut from the benchmark's part.

    python benchmarks/held_out.py --pairs-per-tier 100 --out bench-results/held-out
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from tellapart.bench import SuiteConfig, run_bench
from tellapart.concepts.cache import ScoreCache, default_cache_dir
from tellapart.concepts.learned import LearnedDetectors
from tellapart.concepts.library import ConceptLibrary
from tellapart.synth.families import FAMILY_NAMES
from tellapart.train.describer import build_bank, train_describer, training_pools

HELD_OUT = ("circle", "line", "blur", "saturation_down", "jpeg", "border", "tint_green", "tint_blue", "zoom",
            "text")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("bench-results/held-out"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pairs-per-tier", type=int, default=30)
    parser.add_argument("--n-per-set", type=int, default=40)
    parser.add_argument("--bank-cache-dir", type=Path, default=None,
                        help="score cache of the training bank (default: the benchmark's, "
                             "$TELLAPART_CACHE_DIR or ~/.cache/tellapart); the one `tellapart train "
                             "--cache-dir` filled holds the bank already")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    unknown = set(HELD_OUT) - set(FAMILY_NAMES)
    assert not unknown, unknown
    trained_on = [f for f in FAMILY_NAMES if f not in HELD_OUT]
    library = ConceptLibrary(learned=LearnedDetectors.load().without(HELD_OUT))
    started = time.perf_counter()
    pools = training_pools(args.seed)
    cache = ScoreCache(args.bank_cache_dir or default_cache_dir())
    try:
        bank = build_bank(pools.base, pools.dilution, FAMILY_NAMES, library, content=pools.content,
                          seed=args.seed, cache=cache)
    finally:
        cache.close()
    describer, log = train_describer(bank, families=trained_on, seed=args.seed)
    describer.save(args.out / "describer-held-out.npz")
    config = SuiteConfig("held-out", n_per_set=args.n_per_set, pairs_per_tier=args.pairs_per_tier,
                         null_pairs=args.pairs_per_tier, sweep_pairs=0, real_pairs=3, real_per_set=100,
                         pool_size=600, real_hard_draws=4)
    report = run_bench(config, out_dir=args.out, seed=args.seed, library=library, describer=describer,
                       methods=["tellapart", "tellapart-untrained", "tellapart-split"],
                       families=list(HELD_OUT))
    summary = report.summary()
    gains = {section: round(float((summary["tellapart"]["acc@1"][section] or 0)
                                  - (summary["tellapart-untrained"]["acc@1"][section] or 0)), 3)
             for section in ("easy", "medium", "hard", "real", "real-hard")}
    result = {"held_out": list(HELD_OUT), "trained_on": trained_on, "acc@1_gain": gains,
              "seconds": round(time.perf_counter() - started, 1), "methods": summary}
    (args.out / "held_out.json").write_text(json.dumps(result, indent=2, default=float))
    print(report.markdown())
    print("Acc@1 gain of the held-out-trained describer over the untrained ranking:", gains)


if __name__ == "__main__":
    main()
