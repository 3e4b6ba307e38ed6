"""The inserted-shape detector on real photo crops: pasted shapes are found, untouched photos stay quiet."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data
from sklearn.datasets import load_sample_images
from sklearn.metrics import roc_auc_score

from tellapart.concepts.shapes import ShapeSource, detect_shapes
from tellapart.io.image import DecodedImage

SOURCE = ShapeSource()
IDS = [c.id for c in SOURCE.concepts()]
COL = {cid: i for i, cid in enumerate(IDS)}


def _rgb(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.stack([array] * 3, axis=-1) if array.ndim == 2 else array[..., :3])


def _score(images: list[np.ndarray]) -> np.ndarray:
    return SOURCE.score([DecodedImage(key=str(i), source=f"<memory:{i}>", pixels=p,
                                      original_size=(p.shape[1], p.shape[0])) for i, p in enumerate(images)])


@pytest.fixture(scope="module")
def crops() -> list[np.ndarray]:
    """40 random 128-256 px crops of natural photographs."""
    photos = [_rgb(getattr(skimage.data, name)()) for name in
              ("astronaut", "coffee", "chelsea", "rocket", "camera", "coins", "immunohistochemistry")]
    photos += [_rgb(skimage.data.stereo_motorcycle()[0]), *load_sample_images().images]
    rng = np.random.default_rng(7)
    out = []
    for i in range(40):
        photo = photos[i % len(photos)]
        side = min(int(rng.integers(128, 257)), *photo.shape[:2])
        y, x = rng.integers(0, photo.shape[0] - side + 1), rng.integers(0, photo.shape[1] - side + 1)
        out.append(np.ascontiguousarray(photo[y:y + side, x:x + side]))
    return out


def _random_colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(c) for c in rng.integers(0, 256, 3))


def _paste_square(img, rng, size=None, colour=None, region=None):
    img = img.copy()
    h, w = img.shape[:2]
    size = size or int(rng.integers(12, 31))
    x_lo, x_hi, y_lo, y_hi = region or (1, w - size - 1, 1, h - size - 1)
    x, y = int(rng.integers(x_lo, x_hi)), int(rng.integers(y_lo, y_hi))
    img[y:y + size, x:x + size] = colour or _random_colour(rng)
    return img


def _paste_circle(img, rng):
    img = img.copy()
    h, w = img.shape[:2]
    r = int(rng.integers(6, 16))
    centre = (int(rng.integers(r + 2, w - r - 2)), int(rng.integers(r + 2, h - r - 2)))
    cv2.circle(img, centre, r, _random_colour(rng), -1)
    return img


def _paste_line(img, rng):
    img = img.copy()
    h, w = img.shape[:2]
    length, thickness, angle = int(rng.integers(20, 61)), int(rng.integers(2, 5)), rng.uniform(0, np.pi)
    dx, dy = length / 2 * np.cos(angle), length / 2 * np.sin(angle)
    cx = rng.uniform(abs(dx) + thickness + 2, w - abs(dx) - thickness - 2)
    cy = rng.uniform(abs(dy) + thickness + 2, h - abs(dy) - thickness - 2)
    cv2.line(img, (int(cx - dx), int(cy - dy)), (int(cx + dx), int(cy + dy)), _random_colour(rng), thickness)
    return img


def test_concepts_are_well_formed():
    concepts = SOURCE.concepts()
    assert len(IDS) == len(set(IDS))
    for c in concepts:
        assert c.id.startswith("shape.") and c.phrase
        if c.kind == "presence":
            assert 0.0 < c.threshold <= 1.0
        else:
            assert c.more and c.less
        for parent in c.parents:
            assert parent in COL, (c.id, parent)  # every parent is itself a concept here
    by_id = {c.id: c for c in concepts}
    assert by_id["shape.rectangle_small"].parents == ("shape.rectangle",)
    assert by_id["shape.rectangle"].parents == ("shape.any",)
    assert by_id["shape.rectangle_top_left"].phrase == "carry a rectangle near the top-left"
    assert by_id["shape.rectangle_count"].kind == "magnitude"
    for family in ("rectangle", "circle", "line"):
        for quadrant in ("top_left", "top_right", "bottom_left", "bottom_right"):
            assert f"shape.{family}_{quadrant}" in by_id


@pytest.mark.parametrize("family,paste", [("rectangle", _paste_square), ("circle", _paste_circle),
                                          ("line", _paste_line)])
def test_pasted_shapes_separate_from_untouched_crops(crops, family, paste):
    rng = np.random.default_rng(hash(family) % 1000)
    clean = _score(crops)
    pasted = _score([paste(c, rng) for c in crops])
    col = COL[f"shape.{family}"]
    auroc = roc_auc_score([0] * len(crops) + [1] * len(crops), np.r_[clean[:, col], pasted[:, col]])
    assert auroc >= 0.95, auroc
    assert clean[:, col].mean() < 0.15
    assert (pasted[:, col] >= 0.5).mean() >= 0.85
    assert (pasted[:, COL["shape.any"]] >= pasted[:, col]).all()


def test_red_square_is_found_and_sized(crops):
    rng = np.random.default_rng(1)
    sizes = [int(rng.integers(16, 25)) for _ in crops]
    red = (255, 0, 0)
    pasted = _score([_paste_square(c, rng, size=s, colour=red) for c, s in zip(crops, sizes, strict=True)])
    assert pasted[:, COL["shape.rectangle"]].mean() > 0.9
    assert pasted[:, COL["shape.rectangle"]].mean() > pasted[:, COL["shape.circle"]].mean() + 0.5
    small = np.array([s * s / (c.shape[0] * c.shape[1]) < 0.01 for c, s in zip(crops, sizes, strict=True)])
    assert 5 < small.sum() < len(crops) - 5  # both sizes occur
    found = pasted[:, COL["shape.rectangle"]] >= 0.5
    assert (pasted[small & found, COL["shape.rectangle_small"]] >= 0.5).all()
    assert (pasted[small, COL["shape.rectangle_large"]] < 0.5).all()
    assert (pasted[~small & found, COL["shape.rectangle_large"]] >= 0.5).all()


def test_large_rectangle_and_count(crops):
    rng = np.random.default_rng(2)
    big = [_paste_square(c, rng, size=c.shape[0] // 4, colour=(20, 220, 40)) for c in crops[:10]]
    s = _score(big)
    assert (s[:, COL["shape.rectangle_large"]] >= 0.5).mean() >= 0.9
    three = crops[3].copy()
    for x in (20, 60, 100):
        three[30:48, x:x + 18] = (250, 250, 0)
    one = _score([three, crops[3]])
    assert one[0, COL["shape.rectangle_count"]] >= 3
    assert one[0, COL["shape.rectangle_count"]] > one[1, COL["shape.rectangle_count"]]


def test_quadrant_of_a_top_left_paste(crops):
    rng = np.random.default_rng(3)
    pasted = []
    for c in crops:
        h, w = c.shape[:2]
        pasted.append(_paste_square(c, rng, size=18, region=(2, w // 2 - 20, 2, h // 2 - 20)))
    s = _score(pasted)
    top_left = s[:, COL["shape.rectangle_top_left"]]
    for other in ("top_right", "bottom_left", "bottom_right"):
        assert top_left.mean() > s[:, COL[f"shape.rectangle_{other}"]].mean() + 0.6


def test_detections_report_where_and_what(crops):
    rng = np.random.default_rng(0)
    img = _paste_square(crops[0], rng, size=20, colour=(255, 0, 0), region=(30, 31, 40, 41))
    best = detect_shapes(img)[0]
    assert best.family == "rectangle"
    assert best.bbox == (30, 40, 20, 20)
    assert best.colour == pytest.approx((255.0, 0.0, 0.0), abs=1.0)
    h, w = img.shape[:2]
    assert best.area_fraction == pytest.approx(400 / (h * w))
    assert best.centre == pytest.approx(((30 + 9.5) / w, (40 + 9.5) / h), abs=1e-3)


def test_tiny_and_blank_images():
    assert detect_shapes(np.zeros((8, 8, 3), np.uint8)) == []
    blank = np.full((64, 64, 3), 200, np.uint8)
    assert _score([blank]).max() == 0.0  # a uniform image is a background, not an inserted shape
