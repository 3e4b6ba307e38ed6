"""Learned detectors: trained from synthetic edits, reproducible, shipped, and used by describe."""

from __future__ import annotations

import numpy as np
import pytest

import tellapart
from tellapart.concepts.learned import LearnedDetectors
from tellapart.concepts.library import ConceptLibrary
from tellapart.synth import get_family
from tellapart.train import LEARNED_FAMILIES, train_detectors


@pytest.fixture(scope="module")
def small_training(pool, cache_dir):
    from tellapart.concepts.cache import ScoreCache

    families = [f for f in LEARNED_FAMILIES if f.family in ("text", "rotation")]
    return lambda: train_detectors(pool[:80], families, n_per_family=24, seed=3,
                                   cache=ScoreCache(cache_dir), progress=False)


def test_training_is_deterministic_and_learns(small_training, tmp_path):
    first, second = small_training(), small_training()
    np.testing.assert_array_equal(first.weights, second.weights)
    np.testing.assert_array_equal(first.bias, second.bias)
    assert [c.id for c in first.concepts] == ["learned.text", "learned.rotation"]
    assert first.info["held_out_auroc"]["text"] > 0.8
    path = first.save(tmp_path / "detectors.npz")
    loaded = LearnedDetectors.load(path)
    np.testing.assert_array_equal(loaded.weights, first.weights)
    assert loaded.concepts == first.concepts and loaded.version == first.version


def test_shipped_detectors_are_small_and_part_of_the_default_library():
    library = ConceptLibrary()
    assert library.learned is not None
    assert {"learned.text", "learned.logo", "learned.triangle", "learned.rotation", "learned.zoom"} <= set(
        library.concepts)
    assert library.learned.weights.nbytes < 20 * 2**20
    assert min(library.learned.info["held_out_auroc"].values()) > 0.8
    assert "learned=" in library.version


def test_describe_names_overlaid_text_with_the_learned_detector(pool, cache_dir, library):
    rng = np.random.default_rng(5)
    text = get_family("text")
    set_a = [text.apply(img, rng, 1.0) for img in pool[:40]]
    result = tellapart.describe(set_a, pool[40:80], cache_dir=cache_dir, library=library, progress=False)
    assert "learned.text" in set(result.significant["concept"])
    row = result.findings.set_index("concept").loc["learned.text"]
    assert row["direction"] == "a" and "overlaid text" in row["text"]


def test_detectors_for_another_embedding_are_refused(small_training, tmp_path):
    detectors = small_training()
    wrong = LearnedDetectors(detectors.concepts, detectors.weights, detectors.bias, "other", {})
    with pytest.raises(ValueError, match="retrain"):
        ConceptLibrary(learned=wrong)


def test_training_rejects_a_tiny_pool(pool):
    with pytest.raises(ValueError, match="at least 50"):
        train_detectors(pool[:20], progress=False)
