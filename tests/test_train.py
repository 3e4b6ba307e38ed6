"""Learned detectors: trained from synthetic edits, reproducible, shipped, and used by describe."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tellapart
from tellapart.concepts.learned import LearnedDetectors
from tellapart.concepts.library import ConceptLibrary
from tellapart.stats.auroc import auroc
from tellapart.synth import bundled_pool, get_family
from tellapart.synth.families import FAMILY_NAMES
from tellapart.train import LEARNED_FAMILIES, train_detectors

SHIPPED_FILE = Path(tellapart.__file__).parent / "data" / "learned_detectors.npz"


SMALL_FAMILIES = ("text", "rotation", "blur")


@pytest.fixture(scope="module")
def small_training(pool, cache_dir):
    from tellapart.concepts.cache import ScoreCache

    families = [f for f in LEARNED_FAMILIES if f.family in SMALL_FAMILIES]
    return lambda: train_detectors(pool[:80], families, n_per_family=24, seed=3,
                                   cache=ScoreCache(cache_dir), progress=False)


def _held_out_aurocs(detectors, base, families, seed, cache_dir, per_family):
    """Each detector's AUROC on ``base`` edited now by its family (``per_family`` images, strengths as in
    training) against ``base`` unedited: computed from the images, not read from the detectors' info."""
    from tellapart.concepts.cache import ScoreCache
    from tellapart.concepts.semantics import SemanticSource
    from tellapart.io import ImageSet
    from tellapart.train.detectors import STRENGTHS

    rng = np.random.default_rng(seed)
    groups = {"clean": list(base)}
    for name in families:
        family = get_family(name)
        groups[name] = [family.apply(base[i % len(base)], rng, float(rng.uniform(*STRENGTHS)))
                        for i in range(per_family)]
    embedder = ConceptLibrary([SemanticSource()], learned=None)
    sets = {name: ImageSet.from_spec(images, name=name) for name, images in groups.items()}
    table = embedder.score_sets(sets, cache=ScoreCache(cache_dir))
    labels = table.images["set"].to_numpy()
    scores = detectors.score_embeddings(table.embeddings)
    ids = [c.id for c in detectors.concepts]
    return {name: auroc(scores[labels == name, ids.index(f"learned.{name}")],
                        scores[labels == "clean", ids.index(f"learned.{name}")]) for name in families}


@pytest.mark.slow
def test_training_is_deterministic_and_learns(small_training, pool, cache_dir, tmp_path):
    first, second = small_training(), small_training()
    np.testing.assert_array_equal(first.weights, second.weights)
    np.testing.assert_array_equal(first.bias, second.bias)
    assert [c.id for c in first.concepts] == [f"learned.{f}" for f in ("text", "blur", "rotation")]
    # Held out: 24 crops the detectors never saw (pool[80:104]), each edited now by every family.
    # Measured with this setup for training seeds 0-3: text 0.998 / 0.997 / 0.990 / 0.991, blur 1.0 / 0.997 /
    # 0.998 / 1.0, rotation 0.845 / 0.790 / 0.839 / 0.830.
    aurocs = _held_out_aurocs(first, pool[80:104], SMALL_FAMILIES, 100, cache_dir, per_family=24)
    assert aurocs["text"] > 0.9 and aurocs["blur"] > 0.9 and aurocs["rotation"] > 0.7, aurocs
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
    assert "learned=" in library.version


@pytest.mark.slow
def test_shipped_detectors_still_separate_freshly_edited_images(cache_dir):
    """The shipped file's recorded AUROCs cannot go stale in a test: apply its detectors now to colour
    crops (a pool seed no training uses) edited now, 12 per family, against the same crops unedited."""
    base = bundled_pool(40, seed=4242, include_gray=False)
    aurocs = _held_out_aurocs(LearnedDetectors.load(), base, FAMILY_NAMES, 7, cache_dir, per_family=12)
    # Measured with the detectors shipped when this was written: lowest brightness_up 0.81, line 0.83,
    # circle 0.84, logo 0.85; median 0.95; seven families at 1.0. (On grey-inclusive crops saturation and
    # grayscale edits often change nothing, and saturation_up fell to 0.68.)
    assert min(aurocs.values()) > 0.7 and np.median(list(aurocs.values())) > 0.9, aurocs


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
