"""The example outlines are cached like the scores: a warm run decodes and outlines no example again, and
draws exactly the outlines a run without the cache draws."""

from __future__ import annotations

import json

import numpy as np
import pytest

import tellapart
from tellapart.concepts.cache import ScoreCache
from tellapart.concepts.image_stats import ImageStatsSource
from tellapart.concepts.library import ConceptLibrary
from tellapart.concepts.regions import RegionSource
from tellapart.schema import Result, round_contours


def test_outlines_round_trip_exactly_and_miss_on_another_version(tmp_path, pool):
    from tellapart.io.image import DecodedImage

    image = DecodedImage(key="k1", source="x", pixels=pool[0], original_size=pool[0].shape[1::-1])
    drawn = RegionSource().outlines(image, ["region.mass_area", "region.body_area"])
    stored = {cid: round_contours(contours) for cid, contours in drawn.items()}
    cache = ScoreCache(tmp_path)
    cache.put_outlines([("k1", cid, contours) for cid, contours in stored.items()], "region", "v1")
    found = cache.get_outlines(["k1", "k2"], "region", "v1", ["region.mass_area", "region.body_area"])
    assert found == {("k1", cid): contours for cid, contours in stored.items()}
    assert cache.get_outlines(["k1"], "region", "v2", ["region.mass_area"]) == {}
    assert cache.get_outlines(["k1"], "region", "v1", ["region.mass_area"]) == {
        ("k1", "region.mass_area"): stored["region.mass_area"]}
    cache.close()


class CountingRegions(RegionSource):
    """The region source, counting the images it outlines."""

    def __init__(self) -> None:
        super().__init__()
        self.outlined = 0

    def outlines(self, image, concept_ids):
        self.outlined += 1
        return super().outlines(image, concept_ids)


@pytest.fixture(scope="module")
def darker(pool):
    """Set A: crops darkened by 60 levels, set B: other crops (region findings with outlines)."""
    set_a = [np.clip(image.astype(np.int16) - 60, 0, 255).astype(np.uint8) for image in pool[:30]]
    return set_a, pool[30:60]


def test_warm_run_reads_the_outlines_a_run_without_cache_draws(darker, tmp_path, monkeypatch):
    def run(source, **options):
        library = ConceptLibrary([ImageStatsSource(), source], learned=None)
        return tellapart.describe(*darker, seed=0, library=library, describer=None, progress=False,
                                  **options)

    fresh = run(CountingRegions(), use_cache=False)
    assert fresh.outlines, fresh.findings[["concept", "q_value"]]
    cold_source = CountingRegions()
    cold = run(cold_source, cache_dir=tmp_path / "cache")
    assert cold_source.outlined > 0
    decoded = []
    load_image = Result.load_image
    monkeypatch.setattr(Result, "load_image", lambda self, s: decoded.append(s) or load_image(self, s))
    warm_source = CountingRegions()
    warm = run(warm_source, cache_dir=tmp_path / "cache")
    assert warm_source.outlined == 0 and decoded == []  # nothing decoded or outlined again
    for result in (cold, warm):
        assert json.dumps(result.outlines) == json.dumps(fresh.outlines)  # same outlines, same order
        assert json.loads(result.to_json())["outlines"] == json.loads(fresh.to_json())["outlines"]
