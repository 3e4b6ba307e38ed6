"""Large sets on one machine: the statistics' shortcuts decide as the plain computation does, and a
`tellapart describe` killed while scoring resumes from the score cache. Timing and memory are measured in
``benchmarks/large_sets.py`` and ``benchmarks/bench_stats_speed.py``, never asserted here."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tellapart.stats.explain import _explain

ROOT = Path(__file__).parents[1]


def _labels(n: int) -> np.ndarray:
    return np.array(["a"] * n + ["b"] * n)


def _findings(rng: np.random.Generator, n: int, with_nan: bool) -> np.ndarray:
    """Columns strongest first, as the contract passes them: differences, their side effects (alone and
    jointly), copies, a near copy, a binary and a set-constant column, and noise; ``with_nan``: three of
    them NaN in a fifth of the images."""
    is_a = np.arange(2 * n) < n
    x1, x2, x3 = (rng.normal(size=2 * n) + 1.0 * is_a for _ in range(3))
    near = x1.copy()
    order = np.argsort(x1)
    near[order[n]], near[order[n + 1]] = x1[order[n + 1]], x1[order[n]]
    columns = [
        x1, x2, x3, x1.copy(), near, is_a.astype(float), (x2 > 0.5).astype(float),
        x1 + x2 + 0.5 * rng.normal(size=2 * n),  # explained by x1 and x2 together
        x2 + x3 + 0.7 * rng.normal(size=2 * n),
        x1 + 0.6 * rng.normal(size=2 * n),  # explained by x1 alone
        rng.normal(size=2 * n) + 0.5 * is_a,  # an independent weaker difference
        x1 + x2 + x3 + rng.normal(size=2 * n),
        rng.normal(size=2 * n),
    ]
    values = np.column_stack(columns)
    if with_nan:  # a region measure: NaN where an image has no such region
        for column in (2, 8, 10):
            values[rng.random(2 * n) < 0.2, column] = np.nan
    return values


@pytest.mark.parametrize(("n", "with_nan"), [(60, False), (400, False), (400, True)])
def test_shared_fits_explain_as_each_fit_on_its_own(n, with_nan):
    # The shared ranking, vectorised pairs and growing basis must give the decisions of fitting each pair
    # and each finding's joint design on its own, on designs with joint side effects, repeats, binary and
    # set-constant columns, and columns with NaN (whose fits keep their own images).
    labels = _labels(n)
    joint_seen = 0
    for seed in range(20):
        values = _findings(np.random.default_rng(seed), n, with_nan)
        ids = [f"c{i}" for i in range(values.shape[1])]
        directions = {cid: "a" for cid in ids[::2]}
        shared = _explain(values, labels, ids, 0.05, directions)
        alone = _explain(values, labels, ids, 0.05, directions, shortcuts=False)
        assert shared == alone, seed
        joint_seen += shared.get("c7") in ("c0", "c1")
    assert joint_seen >= 10  # the joint adjustment was exercised, not only the pairwise one


SCRIPT = """
import sys
import tellapart.concepts.library as library
from tellapart.concepts.semantics import SemanticSource
original_batch, original_score = library.ConceptLibrary._score_batch, SemanticSource.score
def batch(self, refs, cache, pool):
    done = original_batch(self, refs, cache, pool)
    print("batch", len(refs), flush=True)
    return done
def score(self, images):
    print("scored", len(images), flush=True)
    return original_score(self, images)
library.ConceptLibrary._score_batch, SemanticSource.score = batch, score
from tellapart.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _describe(folders: list[Path], cache: Path, out: Path) -> subprocess.Popen:
    """`tellapart describe` in a fresh process that prints "batch N" after each batch of files and
    "scored N" for each N images the semantic source scores."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    command = [sys.executable, "-c", SCRIPT, "describe", *map(str, folders), "--cache-dir", str(cache),
               "--out", str(out)]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _cached_images(cache: Path) -> int:
    with sqlite3.connect(cache / "scores.sqlite3") as db:
        return db.execute("SELECT COUNT(DISTINCT key) FROM scores WHERE source='semantic'").fetchone()[0]


@pytest.mark.slow
def test_describe_killed_while_scoring_resumes_from_the_cache(pool, tmp_path):
    # Real crops of the bundled photos, set B brightened; killed after its second batch of scores.
    from tellapart.synth import edits

    folders = [tmp_path / "a", tmp_path / "b"]
    for index, folder in enumerate(folders):
        folder.mkdir()
        for i, img in enumerate(pool[index * 40:(index + 1) * 40]):
            Image.fromarray(edits.brighten(img, 0.3) if index else img).save(folder / f"{i:03d}.png")
    cache = tmp_path / "cache"
    killed = _describe(folders, cache, tmp_path / "killed")
    batches = 0
    deadline = time.time() + 300
    while batches < 2 and time.time() < deadline:
        batches += killed.stdout.readline().startswith("batch")
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    kept = _cached_images(cache)
    assert 0 < kept < 80, f"expected a partial cache, found {kept} images"

    resumed = _describe(folders, cache, tmp_path / "resumed")
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    assert _cached_images(cache) == 80
    scored = sum(int(line.split()[1]) for line in out.splitlines() if line.startswith("scored"))
    assert scored == 80 - kept, out  # only what the killed run had not finished
    assert "%|" in err  # the progress bar ran (its ETA is checked by benchmarks/large_sets.py)
    assert (tmp_path / "resumed" / "report.html").exists()


def test_rank_sums_in_pieces_equal_one_piece(monkeypatch):
    # Columns ranked a few at a time (bounded memory) give the sums and tie terms of all at once.
    import importlib

    module = importlib.import_module("tellapart.stats.auroc")  # the package exports a function of that name
    rng = np.random.default_rng(0)
    a = rng.integers(0, 5, size=(300, 50)).astype(float)  # many ties
    b = rng.normal(size=(250, 50)).round(1)
    whole = module._rank_sums(a, b)
    monkeypatch.setattr(module, "RANK_CHUNK", 1000)  # two columns at a time
    pieces = module.rank_sums(a, b)
    for left, right in zip(whole, pieces, strict=True):
        np.testing.assert_array_equal(left, right)
