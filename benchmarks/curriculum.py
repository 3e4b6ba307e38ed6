"""Curriculum vs no curriculum, same compute: the learned describer's held-out Acc@1 as it trains.

Builds the training bank (bundled photo crops, each edited once per synth family, scored by the full
library; cached, so a second run skips the scoring), makes the same tasks for both runs, trains the
describer with and without the curriculum for the same number of batches, and writes the learning curves
(held-out top-1 accuracy on the hard stage, and on the stage being trained) as JSON and PNG.

    python benchmarks/curriculum.py --out bench-results/curriculum
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from tellapart.concepts.cache import ScoreCache, default_cache_dir
from tellapart.concepts.library import ConceptLibrary
from tellapart.synth.families import FAMILY_NAMES
from tellapart.train.describer import N_BATCHES, build_bank, train_describer, training_pools


def plot(log, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    for flag, label in ((True, "curriculum"), (False, "no curriculum")):
        part = log[log["curriculum"] == flag]
        ax.plot(part["tasks_seen"], part["hard_accuracy"], linewidth=2, label=f"{label}: hard stage")
        if flag:
            ax.plot(part["tasks_seen"], part["stage_accuracy"], linestyle=":",
                    label="curriculum: current stage")
            for stage, rows in part.groupby("stage", sort=False):
                ax.axvline(rows["tasks_seen"].iloc[0], color="grey", alpha=0.3)
                ax.text(rows["tasks_seen"].iloc[0], 1.01, stage, fontsize=7, rotation=30)
    ax.set_xlabel("training tasks seen")
    ax.set_ylabel("held-out Acc@1 (top concept is the true edit)")
    ax.set_ylim(0, 1.05)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("bench-results/curriculum"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batches", type=int, default=N_BATCHES,
                        help=f"training batches of each run (default {N_BATCHES}, as tellapart train)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    pools = training_pools(args.seed)
    cache = ScoreCache(default_cache_dir())
    try:
        bank = build_bank(pools.base, pools.dilution, FAMILY_NAMES, ConceptLibrary(), content=pools.content,
                          seed=args.seed, cache=cache)
    finally:
        cache.close()
    banked = time.perf_counter()
    describer, log = train_describer(bank, seed=args.seed, n_batches=args.batches, compare=True)
    log.to_csv(args.out / "curriculum.csv", index=False)
    plot(log, args.out / "curriculum.png")
    final = log.groupby("curriculum").tail(1).set_index("curriculum")
    summary = {
        "bank_rows": int(bank.scores.shape[0]), "note": pools.note,
        "bank_seconds": round(banked - started, 1), "train_seconds": round(time.perf_counter() - banked, 1),
        "final_hard_accuracy": {"curriculum": float(final.loc[True, "hard_accuracy"]),
                                "no_curriculum": float(final.loc[False, "hard_accuracy"])},
        "held_out_top1": describer.info["held_out_top1"],
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
