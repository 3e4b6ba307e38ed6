"""Speed of the statistical contract alone: ``stats.test_concepts`` on a score matrix of pure numbers.

A 1000-image x 1500-concept matrix (500 per set, 40 concepts shifted by 0.4 SD), one warm-up call, then the
median of ``--repeats`` timed calls. No model and no images are involved, so this isolates the screen
(one rank-test matrix product over every concept), the per-hypothesis validation and the explaining-away.
The tests check that the work grows with the hypotheses, not the concepts (tests/test_stats.py); this
script measures the wall-clock time, which depends on the machine.

    python benchmarks/bench_stats_speed.py                        # 1000 x 1500, 5 repeats
    python benchmarks/bench_stats_speed.py --concepts 5000        # a bigger library
    python benchmarks/bench_stats_speed.py --budget 1.0           # exit 1 when the median exceeds 1 s

``--classifier`` measures ``stats.classifier.difference_test`` (the "any difference at all?" test) instead, on
``--images`` synthetic float32 embeddings of ``--features`` columns in the backbone's block widths (a few
latent factors plus noise; set A moved by ``--shift`` SD along one factor), split per set into discovery and
validation halves as ``describe`` does. Each call's time, its own peak resident memory (VmHWM reset before
it) and tracemalloc peak (numpy's allocations), the chosen C, the validation AUROC and p are printed. With
``--baseline FILE`` another ``classifier.py`` (e.g. an older commit's) runs on the same data, alternating
with this one, and the medians and their ratios are printed side by side:

    git show bf84b42:src/tellapart/stats/classifier.py > /tmp/before.py     # before the sampled CV
    python benchmarks/bench_stats_speed.py --classifier --images 100000 --repeats 1 --baseline /tmp/before.py
    python benchmarks/bench_stats_speed.py --classifier --images 10000 --repeats 3 --baseline /tmp/before.py
    python benchmarks/bench_stats_speed.py --classifier --images 1000 --repeats 3 --baseline /tmp/before.py
    python benchmarks/bench_stats_speed.py --classifier --images 100000 --shift 0   # no difference: p uniform
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

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
    parser.add_argument("--classifier", action="store_true", help="time difference_test instead (docstring)")
    parser.add_argument("--features", type=int, default=2024, help="--classifier: embedding columns")
    parser.add_argument("--shift", type=float, default=0.5, help="--classifier: set A's shift, in SD")
    parser.add_argument("--baseline", type=Path, default=None, help="--classifier: another classifier.py")
    parser.add_argument("--named", type=int, default=0,
                        help="--classifier: named-finding columns, cross-fitted on 2 x 5 validation folds")
    args = parser.parse_args(argv)
    if args.classifier:
        return classifier_main(args)

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


BLOCKS = (40, 80, 112, 192, 320, 1280)  # the EfficientNet-Lite0 embedding's stage widths (2,024 columns)
FACTORS = 32  # latent factors shared by the synthetic embedding's columns
CHUNK = 5000  # synthetic rows made at a time


def synthetic_embeddings(n_images: int, n_features: int, shift: float, seed: int = 0
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Return (float32 images x features, groups "a"/"b", half each): ``FACTORS`` standard normal factors
    mixed into every column plus as much independent noise, set A's first factor moved by ``shift``."""
    rng = np.random.default_rng(seed)
    half = n_images // 2
    groups = np.array(["a"] * half + ["b"] * (n_images - half))
    loadings = (rng.normal(size=(FACTORS, n_features)) / np.sqrt(FACTORS)).astype(np.float32)
    X = np.empty((n_images, n_features), dtype=np.float32)
    for start in range(0, n_images, CHUNK):
        rows = slice(start, min(start + CHUNK, n_images))
        factors = rng.normal(size=(rows.stop - start, FACTORS)).astype(np.float32)
        factors[:, 0] += np.where(groups[rows] == "a", shift, 0.0).astype(np.float32)
        X[rows] = factors @ loadings + rng.normal(size=(rows.stop - start, n_features)).astype(np.float32)
    return X, groups


def _module(path: Path):
    """Return the module loaded from the file ``path`` (under its own name, beside the installed one)."""
    spec = importlib.util.spec_from_file_location(f"baseline_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _reset_peak() -> None:
    """Reset VmHWM to the current resident memory (Linux; nothing elsewhere)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def named_inputs(X: np.ndarray, groups: np.ndarray, validation: np.ndarray, n_named: int, seed: int
                 ) -> tuple[np.ndarray | None, list | None]:
    """Return (named scores, named folds) as ``describe`` passes them: ``n_named`` columns (a noisy copy of
    each of the first embedding columns), declared on every fold of ``FOLD_REPEATS`` random halvings of the
    validation rows per set; (None, None) when ``n_named`` is 0."""
    from tellapart.stats.contract import FOLD_REPEATS

    if n_named == 0:
        return None, None
    rng = np.random.default_rng(seed)
    named = X[:, :n_named] + rng.normal(size=(len(X), n_named)).astype(np.float32)
    folds = []
    for _ in range(FOLD_REPEATS):
        half = np.zeros(len(X), dtype=bool)
        for label in ("a", "b"):
            rows = rng.permutation(np.flatnonzero(validation & (groups == label)))
            half[rows[: len(rows) // 2]] = True
        folds += [(half & validation, list(range(n_named))), (~half & validation, list(range(n_named)))]
    return named, folds


def _measured(module, X: np.ndarray, groups: np.ndarray, validation: np.ndarray, seed: int,
              named: tuple[np.ndarray | None, list | None]) -> dict:
    """Return one ``module.difference_test`` call's seconds, peak resident MB above the start, tracemalloc
    peak MB, C, AUROC, p and named AUROC."""
    _reset_peak()
    start_mb = _peak_mb()
    tracemalloc.start()
    started = time.perf_counter()
    test = module.difference_test(X, groups, validation, blocks=_blocks(X.shape[1]), seed=seed,
                                  named_scores=named[0], named_folds=named[1])
    seconds = time.perf_counter() - started
    traced = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    return {"s": seconds, "rss": _peak_mb() - start_mb, "traced": traced, "c": test.c, "auroc": test.auroc,
            "p": test.p_value, "named": test.named_auroc}


def _blocks(n_features: int) -> tuple[int, ...] | None:
    return BLOCKS if n_features == sum(BLOCKS) else None


def classifier_main(args: argparse.Namespace) -> int:
    """``--classifier``: time difference_test (and ``--baseline``'s), print each call and the medians."""
    from tellapart.stats import classifier, split_discovery_validation

    X, groups = synthetic_embeddings(args.images, args.features, args.shift)
    variants = [("after", classifier)] + ([("before", _module(args.baseline))] if args.baseline else [])
    runs: dict[str, list[dict]] = {label: [] for label, _ in variants}
    print(f"difference_test on {args.images} images x {args.features} float32 features (shift {args.shift}), "
          f"{args.named} named columns; load {_load()}", flush=True)
    for seed in range(args.repeats):
        validation = split_discovery_validation(groups, seed)
        named = named_inputs(X, groups, validation, args.named, seed)
        for label, module in variants if seed % 2 == 0 else variants[::-1]:
            run = _measured(module, X, groups, validation, seed, named)
            runs[label].append(run)
            print(f"  {label:6s} seed {seed}: {run['s']:8.2f} s, peak +{run['rss']:6.0f} MB RSS, "
                  f"{run['traced']:6.0f} MB traced, C {run['c']:g}, AUROC {run['auroc']:.4f}, "
                  f"p {run['p']:.2g}, named AUROC {run['named'] or math.nan:.4f}", flush=True)
    medians = {label: {key: statistics.median(r[key] for r in rs) for key in ("s", "rss", "traced")}
               for label, rs in runs.items()}
    for label, m in medians.items():
        print(f"{label:6s} median {m['s']:.2f} s, peak +{m['rss']:.0f} MB RSS, {m['traced']:.0f} MB traced")
    if args.baseline:
        after, before = medians["after"], medians["before"]
        print(f"after / before: time {after['s'] / before['s']:.3f}, "
              f"RSS {after['rss'] / max(before['rss'], 1):.3f}, "
              f"traced {after['traced'] / before['traced']:.3f}; load {_load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
