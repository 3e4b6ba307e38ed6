"""`tellapart describe` on two large sets of small images: time, peak memory and where they go.

Writes 2 x N small JPEGs (crops of the bundled photos, longest side 48-80 px; set B brightened by
``BRIGHTEN`` of the way to white, the true difference), then runs the command line's ``describe`` (report
and JSON included) once in a fresh process with an empty score cache, and reports:

  total      seconds and peak resident memory (VmHWM) of the whole run
  stages     seconds and peak memory of each stage: listing the sets, scoring (decode, every source,
             cache writes), the domain check, the statistics, the "any difference" classifier, phrasing,
             examples, report; the peak of each stage is its own (the high-water mark is reset before it)
  parts      seconds of parts within a stage (``PARTS``): in the classifier's stage, the cross-fitted
             named findings' declarations and ``difference_test``
  outside    seconds spent outside scoring, which must not grow into the bottleneck
  found      whether "set B images are brighter" is a significant finding
  progress   whether the progress bar showed an ETA while scoring

    python benchmarks/large_sets.py                    # N = 1,000 per set, a few minutes
    python benchmarks/large_sets.py --n 10000 --keep /tmp/h18b/n10000 --cache-dir /tmp/h18b/cache-10000
    python benchmarks/large_sets.py --n 1000 --warm    # and a second run on the filled cache
    python benchmarks/large_sets.py --n 1000 --cache-dir C --replay 50   # statistics etc. on 2 x 50,000 rows

``--replay K`` measures what happens after scoring at K times the size without scoring K times as many
images: the real score matrix of the 2 x N images (warm, from ``--cache-dir``) is repeated K times per set,
each copy's scores and embeddings moved by a tiny random amount (``JITTER`` of each column's spread, so no
two rows tie), and describe goes on with it as if 2 x K*N images had been scored; the examples and the
report show the real files. Scoring time is then that of the 2 x N images, the rest is measured at 2 x K*N.
The copies of one image fall on both sides of the discovery / validation split, so what is measured on
held-out rows is optimistic there (the "any difference" classifier scores its own near-copies: validation
AUROC near 1, and near-separable fits): ``--replay`` measures cost, not accuracy. For the classifier alone
on 2 x 50,000 rows without copies, see ``bench_stats_speed.py --classifier``.

With ``--keep DIR`` the images (and the report) stay in DIR and are reused by the next run with the same N.
A run on a cache that already exists is labelled "cached", not "cold"; with ``--scores-only`` it forgets
the cache's memo of the statistics and its outlines first, so everything after scoring is computed again
(e.g. two trees side by side on one filled cache: ``PYTHONPATH=OLD/src python benchmarks/large_sets.py
--n 50000 --keep DIR --cache-dir C --scores-only``, then the same without ``PYTHONPATH``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_speed import _load, _peak_mb, _reset_peak  # noqa: E402  (the same peak-memory reading as bench_speed)

BRIGHTEN = 0.1  # set B moved 10% of the way to white: AUROC about 0.6 on these crops, found at 2 x 1,000
SIDES = (48, 80)  # "small images": the longest side of each crop, in pixels
CHUNK = 500  # crops made and written at a time, so writing 2 x 50,000 never holds them all
TRUTH = ("stats.brightness", "b")  # the finding that must be significant: set B brighter
# What describe's stages are called in (module, function); each is timed and its peak memory read.
STAGES = (
    ("tellapart.describe", "_as_sets"),
    ("tellapart.describe", "_score"),
    ("tellapart.describe", "domain_check"),
    ("tellapart.describe", "reportable_concepts"),
    ("tellapart.describe", "test_concepts"),
    ("tellapart.describe", "_phrase"),
    ("tellapart.describe", "_overall"),
    ("tellapart.describe", "_result"),
    ("tellapart.describe", "_localise_examples"),
    ("tellapart.describe", "_outline_examples"),
    ("tellapart.cli", "_write_outputs"),
)
SCORING = "_score"
# Parts of a stage timed within it, as (module, function, stage): seconds only (their peak is the stage's).
PARTS = (
    ("tellapart.describe", "_declared_folds", "_overall"),
    ("tellapart.stats.classifier", "difference_test", "_overall"),
)
JITTER = 1e-3  # --replay: each copy's scores and embeddings move by this share of the column's spread
ETA = re.compile(r"\d+:\d\d<\d+:\d\d")  # tqdm's "elapsed<remaining", e.g. [01:05<20:14]


def make_sets(root: Path, n: int, seed: int = 0) -> tuple[Path, Path]:
    """Write n small JPEG crops per set into root/set_a and root/set_b (set B brightened); return both
    folders. Made ``CHUNK`` at a time; a folder that already holds n images is kept."""
    from PIL import Image

    from tellapart.synth import edits
    from tellapart.synth.pools import random_crops, source_images

    folders = (root / "set_a", root / "set_b")
    if all(f.is_dir() and len(list(f.glob("*.jpg"))) == n for f in folders):
        return folders
    photos = source_images()
    for index, folder in enumerate(folders):
        folder.mkdir(parents=True, exist_ok=True)
        for start in range(0, n, CHUNK):
            crops = random_crops(photos, min(CHUNK, n - start), seed=(seed, index, start), min_side=SIDES[0],
                                 max_side=SIDES[1])
            for i, crop in enumerate(crops, start):
                img = edits.brighten(crop, BRIGHTEN) if index == 1 else crop
                Image.fromarray(img).save(folder / f"{i:06d}.jpg", quality=90)
    return folders


def _timed(stages: list[dict], name: str, function):
    """``function`` wrapped to append its seconds and peak memory to ``stages``."""

    def wrapper(*args, **kwargs):
        _reset_peak()
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            stages.append({"stage": name, "seconds": time.perf_counter() - started, "peak_mb": _peak_mb()})

    return wrapper


def _clocked(parts: list[dict], name: str, function):
    """``function`` wrapped to append its seconds to ``parts`` (the peak memory is left alone)."""

    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            parts.append({"part": name, "seconds": time.perf_counter() - started})

    return wrapper


def replayed(table, times: int, seed: int = 0):
    """The ScoreMatrix ``table`` with each set's rows repeated ``times`` times (each set's copies together),
    every copy's scores and embeddings moved by ``JITTER`` of the column's spread and its key made unique."""
    from dataclasses import replace

    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    images = table.images
    rows = np.concatenate([np.tile(np.flatnonzero(images["set"].to_numpy() == label), times)
                           for label in images["set"].unique()])
    copy = np.concatenate([np.repeat(np.arange(times), int((images["set"] == label).sum()))
                           for label in images["set"].unique()])

    def jittered(values: np.ndarray) -> np.ndarray:
        moved = values[rows]
        spread = np.nanstd(values, axis=0).astype(np.float32)
        moved += rng.standard_normal(moved.shape, dtype=np.float32) * (JITTER * spread) * (copy > 0)[:, None]
        return moved

    scores = pd.DataFrame(jittered(table.scores.to_numpy(dtype=np.float32)), columns=table.scores.columns)
    keys = images["key"].to_numpy()[rows].astype(str) + np.where(copy > 0, "#" + copy.astype(str), "")
    return replace(
        table, scores=scores, images=images.iloc[rows].assign(key=keys).reset_index(drop=True),
        embeddings=None if table.embeddings is None else jittered(table.embeddings),
        metadata=table.metadata.iloc[rows].reset_index(drop=True) if len(table.metadata) else table.metadata)


def _replaying(score, times: int):
    """describe's ``_score`` followed by ``replayed``."""

    def wrapper(*args, **kwargs):
        return replayed(score(*args, **kwargs), times)

    return wrapper


def run_child(set_a: str, set_b: str, cache: str, out: str, replay: str = "1") -> dict:
    """One `tellapart describe` (the CLI's code, in this fresh process) with its stages timed; with
    ``replay`` > 1 the score matrix repeated that many times (``replayed``)."""
    import importlib

    from tellapart import cli

    pipeline = importlib.import_module("tellapart.describe")  # the module, not the function it exports
    if int(replay) > 1:
        pipeline._score = _replaying(pipeline._score, int(replay))
    stages: list[dict] = []
    parts: list[dict] = []
    for module_name, name, _ in PARTS:
        module = importlib.import_module(module_name)
        setattr(module, name, _clocked(parts, name, getattr(module, name)))
    for module_name, name in STAGES:
        module = importlib.import_module(module_name)
        setattr(module, name, _timed(stages, name, getattr(module, name)))
    started = time.perf_counter()
    code = cli.main(["describe", set_a, set_b, "--cache-dir", cache, "--out", out])
    seconds = time.perf_counter() - started
    findings = json.loads(Path(out, "findings.json").read_text())["findings"]
    found = any((f["concept"], f["direction"]) == TRUTH and f["significant"] for f in findings)
    document = json.loads(Path(out, "findings.json").read_text())
    return {"code": code, "seconds": seconds, "peak_mb": max(s["peak_mb"] for s in stages), "stages": stages,
            "parts": parts, "found": found, "significant": sum(bool(f["significant"]) for f in findings),
            "rows": document["n_a"] + document["n_b"]}


def _run(folders: tuple[Path, Path], cache: Path, out: Path, replay: int) -> dict:
    """Run describe in a fresh process; its progress bar goes to out/progress.log."""
    out.mkdir(parents=True, exist_ok=True)
    log = out / "progress.log"
    with log.open("w") as err:
        done = subprocess.run([sys.executable, __file__, "--child", *map(str, folders), str(cache), str(out),
                               str(replay)], stdout=subprocess.PIPE, stderr=err, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["eta_shown"] = bool(ETA.search(log.read_text(errors="replace")))
    return result


def _report(label: str, n: int, run: dict, load: tuple[str, str]) -> None:
    """Print one run's figures."""
    scoring = sum(s["seconds"] for s in run["stages"] if s["stage"] == SCORING)
    outside = run["seconds"] - scoring
    # Fewer rows than images: repeated pictures counted once; more: --replay.
    rows = "" if run["rows"] == 2 * n else f" ({run['rows']} rows after scoring)"
    print(f"\n[{label}] 2 x {n} images{rows}: {run['seconds']:.1f} s, peak {run['peak_mb']:.0f} MB, "
          f"{2 * n / run['seconds']:.1f} images/s overall, {2 * n / max(scoring, 1e-9):.1f} while scoring; "
          f"load average {load[0]} at the start, {load[1]} at the end")
    print(f"[{label}] scoring {scoring:.1f} s, outside scoring {outside:.1f} s "
          f"({outside / run['seconds']:.0%}); true difference found: {run['found']}; "
          f"{run['significant']} significant findings; ETA on the progress bar: {run['eta_shown']}")
    for stage in run["stages"]:
        print(f"    {stage['stage']:20s} {stage['seconds']:8.2f} s   peak {stage['peak_mb']:7.0f} MB")
        for _, name, within in PARTS:
            seconds = [p["seconds"] for p in run.get("parts", []) if p["part"] == name]
            if within == stage["stage"] and seconds:
                print(f"      {name:18s} {sum(seconds):8.2f} s")
    rest = run["seconds"] - sum(s["seconds"] for s in run["stages"])
    print(f"    {'(everything else)':20s} {rest:8.2f} s   (loading the library and describer, checks)")


def _forget_all_but_scores(cache: Path) -> None:
    """Empty the score cache's memo of the statistics and its outlines (``concepts.cache``'s tables)."""
    if not (cache / "scores.sqlite3").exists():
        return
    with contextlib.closing(sqlite3.connect(cache / "scores.sqlite3")) as db, db:
        for table in ("memo", "outlines"):
            db.execute(f"DELETE FROM {table}")


@contextlib.contextmanager
def _folder(keep: Path | None):
    """``keep`` (made if missing), or a temporary folder removed afterwards."""
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix="tellapart-large-") as tmp:
        yield Path(tmp)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000, help="images per set (default 1,000)")
    parser.add_argument("--keep", type=Path, default=None, metavar="DIR",
                        help="write the images and reports here and keep them (default: a temporary folder)")
    parser.add_argument("--cache-dir", type=Path, default=None, metavar="DIR",
                        help="the score cache (default: a new one in the images' folder); an existing "
                             "one makes the first run read its scores (labelled 'cached')")
    parser.add_argument("--warm", action="store_true", help="run again on the filled cache")
    parser.add_argument("--scores-only", action="store_true",
                        help="before each run, forget what the cache keeps besides the scores (the "
                             "statistics' memo, the outlines), so a run on a filled cache measures them too")
    parser.add_argument("--replay", type=int, default=1, metavar="K",
                        help="go on after scoring with each set's score rows repeated K times (see above)")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_child(*args.child)))
        return
    with _folder(args.keep) as root:
        cache = args.cache_dir or root / f"cache-{args.n}"
        started = time.perf_counter()
        folders = make_sets(root / f"images-{args.n}", args.n)
        print(f"images: 2 x {args.n} JPEG, longest side {SIDES[0]}-{SIDES[1]} px, set B brightened by "
              f"{BRIGHTEN}; written in {time.perf_counter() - started:.0f} s; machine: {os.cpu_count()} CPU "
              f"cores", flush=True)
        first = "cached" if (cache / "scores.sqlite3").exists() else "cold"  # an existing cache: not cold
        runs = [first, "warm"] if args.warm else [first]
        for label in runs:
            if args.scores_only:
                _forget_all_but_scores(cache)
            before = _load()
            run = _run(folders, cache, root / f"report-{args.n}-{label}-x{args.replay}", args.replay)
            _report(label, args.n, run, (before, _load()))


if __name__ == "__main__":
    main()
