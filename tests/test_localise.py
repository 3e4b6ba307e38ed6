"""Where a learned detector fires: exact class-activation maps, on real photos, and their report overlays."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

import tellapart
from tellapart.concepts.learned import LearnedDetectors
from tellapart.concepts.semantics import EMBEDDING_BLOCKS, Backbone, SemanticSource
from tellapart.io.image import DecodedImage
from tellapart.report.thumbnails import heat_from_maps, overlay_data_uri
from tellapart.synth import edits, get_family

OVERLAY_NOTE = "Highlighted: where the learned detector finds it"


@pytest.fixture(scope="module")
def detectors() -> LearnedDetectors:
    return LearnedDetectors.load()


def _with_text(pool: list[np.ndarray], seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Bundled photo crops with a word written at a random place; and a mask of the pixels it changed."""
    rng = np.random.default_rng(seed)
    images, masks = [], []
    for img in pool:
        height = max(10, min(img.shape[:2]) // 7)
        x = int(rng.integers(0, img.shape[1] // 3))
        y = int(rng.integers(0, img.shape[0] - 2 * height))
        out = edits.draw_text(img, rng, height, "white", (x, y), text="SAMPLE")
        changed = np.any(out != img, axis=2)
        ys, xs = np.nonzero(changed)
        box = np.zeros_like(changed)
        box[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1] = True
        images.append(out)
        masks.append(box)
    return images, masks


def test_feature_maps_average_to_the_embedding(pool):
    images = pool[:6]
    maps = Backbone().feature_maps(images)
    assert [m.shape[1] for m in maps] == [width for _, _, width in EMBEDDING_BLOCKS]
    assert [m.shape[2:] for m in maps] == [(28, 28), (14, 14), (14, 14), (7, 7), (7, 7), (7, 7)]
    embedding, _ = SemanticSource().features_and_probabilities(images)
    pooled = np.concatenate([m.mean(axis=(2, 3)) for m in maps], axis=1)
    # PyTorch's maps against onnxruntime's embedding: the two agree to about 1e-5 (largest 1.25e-5).
    np.testing.assert_allclose(pooled, embedding, rtol=1e-5, atol=1e-4)


def test_map_mean_is_the_detectors_logit(pool, detectors):
    images = pool[:8]
    embedding, _ = SemanticSource().features_and_probabilities(images)
    for k, concept in enumerate(detectors.concepts[:3]):
        logits = embedding.astype(np.float64) @ detectors.weights[k].astype(np.float64) + detectors.bias[k]
        grids = detectors.localise(images, concept.id, resolution="grid")
        assert all(g.shape == (28, 28) and g.dtype == np.float32 for g in grids)
        means = np.array([g.astype(np.float64).mean() for g in grids])
        np.testing.assert_allclose(means, logits, rtol=1e-4, atol=1e-4 * np.abs(logits).max())
        # At the image's own size the mean moves only by interpolation at the edges.
        full = detectors.localise(images, concept.id)
        assert [m.shape for m in full] == [img.shape[:2] for img in images]
        spread = max(float(g.max() - g.min()) for g in grids)
        np.testing.assert_allclose([m.mean() for m in full], logits, atol=0.05 * spread)
        # Probabilities follow from the logits, as score_embeddings computes them.
        np.testing.assert_allclose(1 / (1 + np.exp(-means)), detectors.score_embeddings(embedding)[:, k],
                                   rtol=1e-4, atol=1e-6)


def test_one_image_gives_one_map_in_any_form(pool, detectors):
    img = pool[0]
    one = detectors.localise(img, "learned.text")
    assert isinstance(one, np.ndarray) and one.shape == img.shape[:2]
    np.testing.assert_allclose(detectors.localise([img], "learned.text")[0], one)
    decoded = detectors.localise(DecodedImage("k", "<memory:0>", img, img.shape[1::-1]), "learned.text",
                                 resolution=(50, 70))
    assert decoded.shape == (50, 70)
    gray = detectors.localise(img.mean(axis=2).astype(np.uint8), "learned.text")
    assert gray.shape == img.shape[:2] and np.isfinite(gray).all()
    with pytest.raises(ValueError, match="no detector"):
        detectors.localise(img, "learned.nothing")


def test_text_map_is_hottest_on_the_text(pool, detectors):
    """What a user relies on: the map points at the pasted text, not at the rest of the photo."""
    images, boxes = _with_text(pool[:16], seed=11)
    maps = detectors.localise(images, "learned.text")
    inside = np.array([m[box].mean() for m, box in zip(maps, boxes, strict=True)])
    outside = np.array([m[~box].mean() for m, box in zip(maps, boxes, strict=True)])
    assert (inside > outside).mean() >= 0.9
    assert np.median(inside - outside) > 3.0  # logits: the text is the evidence
    # The hottest place of the map lies on (or right next to) the text in most images.
    near = []
    for m, box in zip(maps, boxes, strict=True):
        y, x = np.unravel_index(np.argmax(m), m.shape)
        ys, xs = np.nonzero(box)
        pad = max(m.shape) // 14
        near.append(ys.min() - pad <= y <= ys.max() + pad and xs.min() - pad <= x <= xs.max() + pad)
    assert np.mean(near) >= 0.75
    # The same photos without text: no place carries as much evidence.
    clean = detectors.localise(pool[:16], "learned.text")
    assert np.median([c.max() for c in clean]) < np.median([m.max() for m in maps])


def test_heat_shares_one_scale_and_overlays_are_small_jpegs(pool, detectors):
    images, _ = _with_text(pool[:2], seed=3)
    maps = detectors.localise([images[0], pool[1]], "learned.text", resolution=(40, 40))
    heats = heat_from_maps(maps)
    assert all(h.min() >= 0 and h.max() <= 1 for h in heats)
    assert heats[0].max() == pytest.approx(1.0) and heats[0].mean() > heats[1].mean()
    assert heat_from_maps([np.full((4, 4), -3.0, np.float32)])[0].max() == 0.0  # no evidence, no colour
    uri = overlay_data_uri(images[0], heats[0], 160)
    assert uri.startswith("data:image/jpeg;base64,") and len(uri) < 40_000


def test_report_draws_where_the_learned_detector_fires(pool, cache_dir, library, tmp_path, monkeypatch):
    rng = np.random.default_rng(5)
    text = get_family("text")
    set_a = [text.apply(img, rng, 1.0) for img in pool[:40]]
    result = tellapart.describe(set_a, pool[40:80], cache_dir=cache_dir, library=library, progress=False)
    assert "learned.text" in set(result.significant["concept"])
    # describe computed the maps; the report only draws them and never runs the backbone.
    maps = result.localisation["learned.text"]
    assert len(maps) == 2 * 6 and all(m.shape == (28, 28) for m in maps.values())

    def no_model(*args, **kwargs):
        raise AssertionError("the report ran the backbone")

    monkeypatch.setattr(Backbone, "feature_maps", no_model)
    monkeypatch.setattr(Backbone, "forward", no_model)
    page = result.to_html(tmp_path / "report.html").read_text()
    assert OVERLAY_NOTE in page
    # The card of the learned detector's finding (the text reader's "contain text" may come first).
    significant = result.findings[result.findings["significant"].astype(bool)]
    number = list(significant["concept"]).index("learned.text") + 1
    start = page.index(f'id="finding-{number}"')
    card = page[start : page.index("</section>", start)]
    assert "overlaid text" in card
    overlays = re.findall(r'class="thumb (h\d+)"', card)
    assert len(overlays) == 2 * 6  # every example image of the finding, both sets
    assert all(f".{c} {{ background-image: url(\"data:image/jpeg;base64," in page for c in overlays)

    # Without pixels (files gone) or without detectors the report still renders, with no overlays.
    no_pixels = dataclasses.replace(result)
    no_pixels.load_pixels = lambda source: None
    page = no_pixels.to_html(tmp_path / "no-pixels.html").read_text()
    assert OVERLAY_NOTE not in page and "image not available" in page
    page = dataclasses.replace(result, localisation={}).to_html(tmp_path / "no-maps.html").read_text()
    assert OVERLAY_NOTE not in page and 'class="thumb t' in page
