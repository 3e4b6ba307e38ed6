"""Speed of the statistical contract alone: ``stats.test_concepts`` on a score matrix of pure numbers.

A 1000-image x 1500-concept matrix (500 per set, 40 concepts shifted by 0.4 SD), one warm-up call, then the
median of ``--repeats`` timed calls. No model and no images are involved, so this isolates the screen
(one rank-test matrix product over every concept), the per-hypothesis validation and the explaining-away.
The tests check that the work grows with the hypotheses, not the concepts (tests/test_stats.py); this
script measures the wall-clock time, which depends on the machine.

    python benchmarks/bench_stats_speed.py                        # 1000 x 1500, 5 repeats
    python benchmarks/bench_stats_speed.py --concepts 5000        # a bigger library
    python benchmarks/bench_stats_speed.py --budget 1.0           # exit 1 when the median exceeds 1 s

``--compare SRC`` (another tree's ``src`` folder, e.g. of ``git worktree add /tmp/old <commit>``) times each
call in a fresh process instead, this tree's and SRC's alternating seed by seed, and prints each call's
seconds and peak resident memory (VmHWM, reset after the scores are made: what the call adds to them), the
medians and whether both trees returned the same table bit for bit. ``--folds`` also times
``named_on_folds`` (the named findings declared on 2 x 5 validation folds, as ``describe`` does) on each
table; ``--nan`` gives every fourth concept that share of missing scores (region measures of images
without the region), which the explaining-away fits pair by pair:

    python benchmarks/bench_stats_speed.py --images 100000 --concepts 1600 --repeats 3 --folds --nan 0.2 \
        --compare /tmp/h18s/old/src

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
import hashlib
import importlib.util
import json
import math
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
from bench_speed import _load, _peak_mb, _reset_peak  # this folder is on the path when run as a script


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
    parser.add_argument("--compare", metavar="SRC", default=None,
                        help="another tree's src folder: alternate fresh processes with it (docstring)")
    parser.add_argument("--folds", action="store_true", help="--compare: also time named_on_folds")
    parser.add_argument("--nan", type=float, default=0.0, help="share of missing scores in every 4th concept")
    parser.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(contract_run(*args.child)))
        return 0
    if args.classifier:
        return classifier_main(args)
    if args.compare:
        return compare_main(args)

    from tellapart import stats

    scores, groups = synthetic_scores(args.images, args.concepts, args.nan)
    values = scores.to_numpy()
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


def synthetic_scores(n_images: int, n_concepts: int, nan_share: float = 0.0
                     ) -> tuple[pd.DataFrame, np.ndarray]:
    """Return (float32 scores, groups "a"/"b", half each): standard normal, the first 40 concepts moved by
    0.4 SD in set A, every fourth concept missing (NaN) in ``nan_share`` of the images."""
    half = n_images // 2
    groups = np.array(["a"] * half + ["b"] * (n_images - half))
    rng = np.random.default_rng(13)
    values = rng.normal(size=(n_images, n_concepts)).astype(np.float32)
    values[:half, : min(40, n_concepts)] += 0.4
    if nan_share:
        values[:, ::4][rng.random((n_images, len(range(0, n_concepts, 4)))) < nan_share] = np.nan
    return pd.DataFrame(values, columns=[f"c{i}" for i in range(n_concepts)]), groups


def contract_run(images: str, concepts: str, nan: str, design: str, seed: str, folds: str) -> dict:
    """``--child``: one ``test_concepts`` call (and with ``folds`` "1" one ``named_on_folds``) in this
    process, on one BLAS thread as in ``describe``; their seconds, peak resident MB above the scores and a
    digest of what they returned."""
    from tellapart.stats.classifier import blas_threads

    with blas_threads():
        return _contract_run(synthetic_scores(int(images), int(concepts), float(nan)), design, int(seed),
                             folds == "1")


def _contract_run(data: tuple[pd.DataFrame, np.ndarray], design: str, seed: int, folds: bool) -> dict:
    """``contract_run`` on the scores and groups ``data``."""
    from tellapart import stats
    from tellapart.stats.contract import named_on_folds

    scores, groups = data
    stats.test_concepts(scores.iloc[::max(1, len(scores) // 200)], groups[::max(1, len(scores) // 200)],
                        seed=0, design=design)  # imports and first calls, on 200 rows
    _reset_peak()
    start_mb = _peak_mb()
    started = time.perf_counter()
    table = stats.test_concepts(scores, groups, seed=seed, design=design)
    run = {"s": time.perf_counter() - started, "rss": _peak_mb() - start_mb, "scores_mb": start_mb,
           "significant": int(table["significant"].sum()), "rows": len(table),
           "table": hashlib.sha256(pd.util.hash_pandas_object(table).to_numpy().tobytes()).hexdigest()[:16]}
    if folds:
        validation = stats.split_discovery_validation(groups, seed)
        _reset_peak()
        start_mb = _peak_mb()
        started = time.perf_counter()
        declared = named_on_folds(scores, groups, validation, table, seed=seed)
        run.update(folds_s=time.perf_counter() - started, folds_rss=_peak_mb() - start_mb,
                   folds=hashlib.sha256(json.dumps([[np.flatnonzero(rows).tolist(), list(ids)]
                                                    for rows, ids in declared]).encode()).hexdigest()[:16])
    return run


def _contract_child(args: argparse.Namespace, seed: int, src: str | None) -> dict:
    """``contract_run`` in a fresh process, ``src`` first on the path when given."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(Path(src).resolve()), env.get("PYTHONPATH")) if p)
    child = [str(args.images), str(args.concepts), str(args.nan), args.design, str(seed),
             str(int(args.folds))]
    out = subprocess.run([sys.executable, __file__, "--child", *child], capture_output=True, text=True,
                         check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare_main(args: argparse.Namespace) -> int:
    """``--compare``: this tree ("after") and SRC ("before") alternating seed by seed; medians and ratios."""
    variants = [("before", args.compare), ("after", None)]
    runs: dict[str, list[dict]] = {label: [] for label, _ in variants}
    keys = ["s", "rss"] + (["folds_s", "folds_rss"] if args.folds else [])
    print(f"test_concepts (design {args.design}), {args.images} images x {args.concepts} concepts "
          f"(NaN share {args.nan} in every 4th), fresh process per call; load {_load()}", flush=True)
    for seed in range(1, args.repeats + 1):
        for label, src in variants if seed % 2 else variants[::-1]:
            run = _contract_child(args, seed, src)
            runs[label].append(run)
            folds = (f"; named_on_folds {run['folds_s']:7.2f} s, +{run['folds_rss']:5.0f} MB, {run['folds']}"
                     if args.folds else "")
            print(f"  {label:6s} seed {seed}: {run['s']:7.2f} s, peak +{run['rss']:5.0f} MB over the "
                  f"{run['scores_mb']:.0f} MB with the scores, {run['rows']} rows, {run['significant']} "
                  f"significant, table {run['table']}{folds}; load {_load()}", flush=True)
    medians = {label: {key: statistics.median(r[key] for r in rs) for key in keys}
               for label, rs in runs.items()}
    for label, m in medians.items():
        print(f"{label:6s} median " + ", ".join(f"{key} {value:.2f}" for key, value in m.items()))
    after, before = medians["after"], medians["before"]
    print("after / before: " + ", ".join(f"{key} {after[key] / max(before[key], 1e-9):.3f}" for key in keys))
    same = all(b["table"] == a["table"] and b.get("folds") == a.get("folds")
               for b, a in zip(runs["before"], runs["after"], strict=True))
    print(f"same tables{' and folds' if args.folds else ''} seed by seed: {same}")
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
