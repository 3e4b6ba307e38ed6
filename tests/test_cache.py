"""The score cache: a second run does no model work, shared use is safe, an interrupted run resumes."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import tellapart
import tellapart.io.decode as decode_module
from tellapart.concepts.cache import ScoreCache
from tellapart.concepts.image_stats import ImageStatsSource
from tellapart.concepts.library import ConceptLibrary
from tellapart.io import ImageSet

ROOT = Path(__file__).parents[1]


def _folder(images, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(images):
        Image.fromarray(img).save(folder / f"{i:03d}.png")
    return folder


def _rows(cache_dir: Path, source: str) -> int:
    """Rows of ``source`` in the cache; 0 while the run that makes the file has not created its table."""
    with sqlite3.connect(cache_dir / "scores.sqlite3") as db:
        try:
            return db.execute("SELECT COUNT(*) FROM scores WHERE source=?", (source,)).fetchone()[0]
        except sqlite3.OperationalError as error:
            if "no such table" in str(error):
                return 0
            raise


def test_second_run_scores_nothing_and_gives_the_same_matrix(pool, tmp_path, count_scored):
    counting = count_scored(ImageStatsSource())
    library = ConceptLibrary([counting])
    sets = {"a": ImageSet.from_spec(pool[:20]), "b": ImageSet.from_spec(pool[20:40])}
    cache = ScoreCache(tmp_path / "cache")
    first = library.score_sets(sets, cache=cache)
    assert counting.scored == 40
    second = library.score_sets(sets, cache=cache)
    assert counting.scored == 40
    np.testing.assert_array_equal(first.scores.to_numpy(), second.scores.to_numpy())


def test_a_new_source_version_misses_the_cache(pool, tmp_path, count_scored):
    counting = count_scored(ImageStatsSource())
    sets = {"a": ImageSet.from_spec(pool[:5])}
    cache = ScoreCache(tmp_path / "cache")
    ConceptLibrary([counting]).score_sets(sets, cache=cache)
    counting.version = "changed"
    ConceptLibrary([counting]).score_sets(sets, cache=cache)
    assert counting.scored == 10


def test_a_new_package_version_or_decode_setting_misses_the_cache(pool, tmp_path, count_scored, monkeypatch):
    counting = count_scored(ImageStatsSource())
    sets = {"a": ImageSet.from_spec(pool[:5])}
    cache = ScoreCache(tmp_path / "cache")
    for _ in range(2):
        ConceptLibrary([counting]).score_sets(sets, cache=cache)
    assert counting.scored == 5
    monkeypatch.setattr(tellapart, "__version__", "99.0.0")
    ConceptLibrary([counting]).score_sets(sets, cache=cache)
    assert counting.scored == 10
    monkeypatch.setattr(decode_module, "MAX_PIXELS", decode_module.MAX_PIXELS - 1)
    ConceptLibrary([counting]).score_sets(sets, cache=cache)
    assert counting.scored == 15
    ConceptLibrary([counting]).score_sets(sets, cache=cache)
    assert counting.scored == 15


SCRIPT = textwrap.dedent("""
    import sys
    from tellapart.concepts.cache import ScoreCache
    from tellapart.concepts.library import ConceptLibrary
    from tellapart.io import ImageSet
    library = ConceptLibrary()
    semantic = next(s for s in library.sources if s.name == "semantic")
    scored = []
    original = semantic.score
    semantic.score = lambda images: (scored.append(len(images)), original(images))[1]
    sets = {"a": ImageSet.from_spec(sys.argv[1])}
    library.score_sets(sets, cache=ScoreCache(sys.argv[2]), batch_size=4)
    print("finished", sum(scored))
""")


def _start(folder: Path, cache_dir: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.Popen([sys.executable, "-c", SCRIPT, str(folder), str(cache_dir)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_killed_run_keeps_its_scores_and_the_next_run_resumes(pool, tmp_path):
    folder = _folder(pool[:40], tmp_path / "images")
    cache_dir = tmp_path / "cache"
    process = _start(folder, cache_dir)
    deadline = time.time() + 120
    while time.time() < deadline:
        if (cache_dir / "scores.sqlite3").exists() and _rows(cache_dir, "semantic") >= 4:
            break
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    kept = _rows(cache_dir, "semantic")
    assert 4 <= kept < 40, f"expected a partial cache, found {kept} rows"

    resumed = _start(folder, cache_dir)
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert out.split()[-1] == str(40 - kept), out  # only what the killed run had not finished
    assert _rows(cache_dir, "semantic") == 40


@pytest.mark.slow
def test_two_runs_can_share_one_cache(pool, tmp_path):
    folder = _folder(pool[40:72], tmp_path / "images")
    cache_dir = tmp_path / "cache"
    first, second = _start(folder, cache_dir), _start(folder, cache_dir)
    for process in (first, second):
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        assert "finished" in out
    assert _rows(cache_dir, "semantic") == 32
