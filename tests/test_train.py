"""Learned detectors: trained from synthetic edits, reproducible, shipped, and used by describe."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tellapart
from tellapart.concepts.learned import LearnedDetectors
from tellapart.concepts.library import ConceptLibrary
from tellapart.synth import get_family
from tellapart.synth.families import FAMILY_NAMES
from tellapart.train import LEARNED_FAMILIES, train_detectors

SHIPPED_FILE = Path(tellapart.__file__).parent / "data" / "learned_detectors.npz"


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
    # One detector per synth edit family, each with a phrase, synonyms, and its hand-written parent.
    assert {f"learned.{name}" for name in FAMILY_NAMES} <= set(library.concepts)
    assert [c.id for c in library.learned.concepts] == [f"learned.{f.family}" for f in LEARNED_FAMILIES]
    for family in LEARNED_FAMILIES:
        concept = library.concepts[f"learned.{family.family}"]
        assert concept.phrase and concept.synonyms and concept.kind == "presence"
        truth = get_family(family.family).concepts
        if not truth[0].startswith("learned."):  # a hand-written concept names it: that is the parent
            assert set(truth) & set(concept.parents) and set(concept.parents) <= set(library.concepts)
    assert len({c.phrase for c in library.learned.concepts}) == len(library.learned.concepts)
    assert SHIPPED_FILE.stat().st_size < 2 * 2**20
    aurocs = library.learned.info["held_out_auroc"]
    assert set(aurocs) == set(FAMILY_NAMES) and min(aurocs.values()) > 0.8
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
