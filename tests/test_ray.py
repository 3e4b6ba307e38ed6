"""Scoring on a local Ray cluster (``concepts.distributed``): the single-process scores, in the same cache."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from tellapart.concepts.cache import ScoreCache
from tellapart.concepts.image_stats import ImageStatsSource
from tellapart.concepts.library import ConceptLibrary
from tellapart.concepts.regions import RegionSource
from tellapart.io import ImageSet

N_IMAGES = 16


@pytest.fixture(scope="module")
def cluster():
    """A local Ray cluster of 2 CPUs for this module's tests (about 5-10 s to start on 2 cores)."""
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _folders(pool, root, n: int) -> tuple:
    """Folders ``root``/a and ``root``/b of n/2 bundled photo crops each, as PNG (lossless: the files are
    the crops); returns both paths."""
    for i, pixels in enumerate(pool[:n]):
        folder = root / ("a" if i % 2 else "b")
        folder.mkdir(exist_ok=True)
        Image.fromarray(pixels).save(folder / f"{i:02d}.png")
    return root / "a", root / "b"


@pytest.fixture
def sets(pool, tmp_path) -> dict[str, ImageSet]:
    """Two sets of 8 bundled photo crops each."""
    a, b = _folders(pool, tmp_path, N_IMAGES)
    return {"a": ImageSet.from_spec(a), "b": ImageSet.from_spec(b)}


def _fail(images):
    raise AssertionError("scored an image the cache should hold")


def test_ray_scores_are_the_single_process_scores_in_the_cache(cluster, sets, tmp_path, monkeypatch):
    from tellapart.concepts.distributed import score_with_ray

    library = ConceptLibrary([ImageStatsSource(), RegionSource()], learned=None)
    plain = library.score_sets(sets, cache=ScoreCache(tmp_path / "plain"))
    cache = ScoreCache(tmp_path / "ray")
    # A run killed after set "a" resumes: only set "b" goes to the cluster.
    library.score_sets({"a": sets["a"]}, cache=cache)
    assert score_with_ray(library, sets, cache) == len(sets["b"])
    assert score_with_ray(library, sets, cache) == 0  # everything is cached now

    for source in library.sources:
        monkeypatch.setattr(source, "score", _fail)
    warm = library.score_sets(sets, cache=cache)  # the cache answers for every image
    # Bit for bit (tolerance 0): the cluster ran the same code on the same pixels, one image at a time.
    np.testing.assert_array_equal(warm.scores.to_numpy(), plain.scores.to_numpy())
    assert list(warm.scores.columns) == list(plain.scores.columns)
    assert warm.images.equals(plain.images)


def test_describe_with_ray_finds_what_it_finds_without(cluster, pool, tmp_path):
    from tellapart.describe import describe

    a, b = _folders(pool, tmp_path, 24)  # 12 per set: describe needs 10
    library = ConceptLibrary([ImageStatsSource(), RegionSource()], learned=None)
    options = {"library": library, "describer": None, "progress": False}
    with_ray = describe(a, b, cache_dir=tmp_path / "cache", ray="auto", **options)
    plain = describe(a, b, use_cache=False, **options)
    pd.testing.assert_frame_equal(with_ray.findings, plain.findings)
    with pytest.raises(ValueError, match="needs the cache"):
        describe(a, b, use_cache=False, ray="auto", **options)


def test_describe_ray_without_ray_installed_is_one_line_error(monkeypatch, tmp_path, capsys):
    from tellapart.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    assert main(["describe", str(tmp_path / "a"), str(tmp_path / "b"), "--ray", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "pip install 'tellapart[ray]'" in err and err.count("\n") == 1


TINY_SUITE_PAIRS = {"pairs_per_tier": 1, "null_pairs": 1}


def _count_ray_scoring(monkeypatch) -> list[int]:
    """Record how many samples each ``score_with_ray`` call scored on the cluster (it must score some, or
    a test comparing with the local path would pass with Ray doing nothing)."""
    from tellapart.concepts import distributed

    scored: list[int] = []
    original = distributed.score_with_ray

    def counting(*args, **kwargs):
        scored.append(original(*args, **kwargs))
        return scored[-1]

    monkeypatch.setattr(distributed, "score_with_ray", counting)
    return scored


def test_bench_with_ray_gives_the_results_without(cluster, tmp_path, monkeypatch):
    from tellapart.bench import SuiteConfig, run_bench

    scored = _count_ray_scoring(monkeypatch)

    suite = SuiteConfig("tiny", n_per_set=12, sweep_pairs=0, real_pairs=0, real_per_set=10, pool_size=30,
                        **TINY_SUITE_PAIRS)
    library = ConceptLibrary([ImageStatsSource(), RegionSource()], learned=None)
    options = {"library": library, "describer": None, "progress": False,
               "methods": ["tellapart-untrained", "visdiff-auroc"]}
    with_ray = run_bench(suite, cache_dir=tmp_path / "cache", ray="auto", **options)
    plain = run_bench(suite, use_cache=False, **options)
    columns = ["pair", "method", "acc1", "acc5", "reported", "findings"]
    pd.testing.assert_frame_equal(with_ray.rows[columns], plain.rows[columns])
    assert sum(scored) == with_ray.n_images_scored > 0  # every image was scored on the cluster
    assert cluster.is_initialized()  # the run joined the test's cluster and left it running


def test_training_bank_scored_on_ray_is_the_bank_scored_here(cluster, pool, tmp_path, monkeypatch):
    from tellapart.train import build_bank

    scored = _count_ray_scoring(monkeypatch)
    library = ConceptLibrary([ImageStatsSource()], learned=None)
    options = {"families": ["blur", "tint_red"], "library": library, "seed": 0, "progress": False}
    remote = build_bank(pool[:6], pool[6:8], cache=ScoreCache(tmp_path / "ray"), ray="auto", **options)
    here = build_bank(pool[:6], pool[6:8], cache=None, **options)
    np.testing.assert_array_equal(remote.scores, here.scores)
    assert remote.concept_ids == here.concept_ids
    assert scored == [6 * 3 + 2]  # every bank image (6 bases x unedited + 2 edits, 2 dilution) on Ray


def test_ray_without_the_cache_is_refused_before_any_work(tmp_path, capsys):
    from tellapart.cli import main

    assert main(["bench", "--no-cache", "--ray", "--quiet"]) == 2
    assert "needs the cache" in capsys.readouterr().err
    assert main(["train", "--no-cache", "--ray", "--out", str(tmp_path / "t"), "--quiet"]) == 2
    assert "needs the cache" in capsys.readouterr().err
    assert not (tmp_path / "t").exists()
