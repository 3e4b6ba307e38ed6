"""Matching free-text hypotheses to concepts with the bundled sentence model."""

from __future__ import annotations

from functools import partial

import pytest

from tellapart.concepts.base import Concept
from tellapart.concepts.cache import ScoreCache
from tellapart.concepts.detectors import DetectorSource
from tellapart.concepts.semantics import SemanticSource
from tellapart.concepts.text_match import TextEncoder, clean_hypothesis, match_concepts, match_direction

_stat = partial(Concept, category="stats")

STATS = [
    _stat("stats.brightness", "brightness", "magnitude", more="brighter", less="darker"),
    _stat("stats.sharpness", "sharpness", "magnitude", more="sharper", less="blurrier"),
    _stat("stats.contrast", "contrast", "magnitude", more="higher-contrast", less="lower-contrast"),
    _stat("stats.saturation", "saturation", "magnitude", more="more saturated", less="less saturated"),
    _stat("stats.noise", "noise level", "magnitude", more="noisier", less="cleaner"),
    _stat("stats.resolution", "image size", "magnitude", more="larger", less="smaller"),
    _stat("stats.grayscale", "are grayscale", "presence", synonyms=("black and white", "monochrome")),
]


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    """One sentence model for the module: each concept text is embedded once."""
    return TextEncoder()


@pytest.fixture(scope="module")
def library() -> list[Concept]:
    """The stats concepts above plus every real detector and semantic concept (about 1400)."""
    return STATS + DetectorSource().concepts() + SemanticSource().concepts()


def _ids(matches: list[tuple[Concept, float]]) -> list[str]:
    return [concept.id for concept, _ in matches]


def test_dogs(library, encoder):
    matches = match_concepts("images with dogs", library, top_k=3, encoder=encoder)
    assert "semantic.dog" in _ids(matches)
    similarities = [s for _, s in matches]
    assert similarities == sorted(similarities, reverse=True) and all(-1 <= s <= 1.0001 for s in similarities)


def test_darker_means_less_brightness(library, encoder):
    matches = match_concepts("darker images", library, encoder=encoder)
    assert _ids(matches)[0] == "stats.brightness"
    assert match_direction("darker images", matches[0][0], encoder) == "less"
    assert match_direction("set A images are brighter", matches[0][0], encoder) == "more"


def test_blurry_means_less_sharpness(library, encoder):
    matches = match_concepts("blurry photos", library, encoder=encoder)
    assert _ids(matches)[0] == "stats.sharpness"
    assert match_direction("blurry photos", matches[0][0], encoder) == "less"
    assert match_direction("the pictures are less sharp", matches[0][0], encoder) == "less"


def test_more_faces(library, encoder):
    matches = match_concepts("set A has more faces", library, encoder=encoder)
    assert "detector.face_count" in _ids(matches)
    count = next(c for c in library if c.id == "detector.face_count")
    assert match_direction("set A has more faces", count, encoder) == "more"
    assert match_direction("fewer faces", count, encoder) == "less"


def test_grayscale_and_semantic_groups(library, encoder):
    gray = match_concepts("black and white photos", library, top_k=1, encoder=encoder)
    assert _ids(gray) == ["stats.grayscale"]
    instruments = match_concepts("musical instruments", library, encoder=encoder)
    assert "semantic.musical_instrument" in _ids(instruments)
    assert "semantic.bird" in _ids(match_concepts("pictures of birds", library, encoder=encoder))


def test_presence_concepts_have_no_direction(library, encoder):
    dog = next(c for c in library if c.id == "semantic.dog")
    assert match_direction("more dogs", dog, encoder) is None


def test_embeddings_are_cached(library, encoder, tmp_path):
    match_concepts("darker images", library, encoder=encoder)
    encoded = encoder.n_encoded
    match_concepts("darker images", library, encoder=encoder)
    assert encoder.n_encoded == encoded  # the second call runs no text through the model
    # A score cache keeps the concept texts across encoders (and processes).
    store = ScoreCache(tmp_path / "cache")
    first = TextEncoder()
    match_concepts("darker images", library[:20], store=store, encoder=first)
    assert first.n_encoded > 0
    fresh = TextEncoder()
    match_concepts("darker images", library[:20], store=store, encoder=fresh)
    assert fresh.n_encoded == len({"darker images", "darker"})  # only the hypothesis, as written and cleaned


def test_clean_hypothesis():
    assert clean_hypothesis("Set A images are darker") == "darker"
    assert clean_hypothesis("images") == "images"
    assert match_concepts("anything", []) == []
