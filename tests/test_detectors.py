"""The bundled OpenCV cascades on real faces (skimage's lfw_subset, astronaut) and real non-faces."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data
from sklearn.datasets import load_sample_images
from sklearn.metrics import roc_auc_score

from tellapart.concepts.detectors import DetectorSource, prepare_gray
from tellapart.io.image import DecodedImage


def _decoded(pixels: np.ndarray, index: int) -> DecodedImage:
    if pixels.ndim == 2:
        pixels = np.dstack([pixels] * 3)
    return DecodedImage(f"key{index}", f"<memory:{index}>", pixels, (pixels.shape[1], pixels.shape[0]))


@pytest.fixture(scope="module")
def source() -> DetectorSource:
    return DetectorSource()


@pytest.fixture(scope="module")
def columns(source: DetectorSource) -> dict[str, int]:
    return {c.id: i for i, c in enumerate(source.concepts())}


def test_concepts(source: DetectorSource):
    concepts = {c.id: c for c in source.concepts()}
    assert list(concepts) == [
        "detector.face",
        "detector.frontal_face",
        "detector.profile_face",
        "detector.person_body",
        "detector.cat_face",
        "detector.face_count",
    ]
    assert concepts["detector.frontal_face"].parents == ("detector.face",)
    assert concepts["detector.profile_face"].parents == ("detector.face",)
    assert concepts["detector.face"].phrase == "show a human face"
    count = concepts["detector.face_count"]
    assert count.kind == "magnitude" and count.more and count.less


def test_lfw_faces_are_told_from_non_faces(source: DetectorSource, columns: dict[str, int]):
    lfw = (data.lfw_subset() * 255).round().astype(np.uint8)  # 100 faces, then 100 non-faces, 25 x 25
    scores = source.score([_decoded(img, i) for i, img in enumerate(lfw)])
    truth = np.r_[np.ones(100), np.zeros(100)]
    face = scores[:, columns["detector.face"]]
    assert roc_auc_score(truth, face) >= 0.9
    assert (face[:100] >= 0.5).mean() >= 0.8  # tiny, tightly cropped faces are found...
    assert (face[100:] >= 0.5).mean() <= 0.05  # ...and the non-faces are not
    assert roc_auc_score(truth, scores[:, columns["detector.face_count"]]) >= 0.9


def test_photos(source: DetectorSource, columns: dict[str, int]):
    photos = [data.astronaut(), data.coffee(), data.rocket(), *load_sample_images().images]
    scores = source.score([_decoded(p, i) for i, p in enumerate(photos)])
    assert scores.dtype == np.float32 and scores.shape == (len(photos), 6)
    presence = scores[:, :5]
    assert presence.min() >= 0.0 and presence.max() <= 1.0
    face = scores[:, columns["detector.face"]]
    assert face[0] >= 0.5 and scores[0, columns["detector.face_count"]] >= 0.5
    assert (face[1:] < 0.5).all()
    np.testing.assert_array_less(scores[1:, columns["detector.face_count"]], 0.5)


def test_astronaut_face_box_is_in_image_coordinates(source: DetectorSource):
    found = source.detections(_decoded(data.astronaut(), 0))
    assert set(found) == {"frontal_face", "profile_face", "person_body", "cat_face"}
    best = found["frontal_face"][0]
    x, y, w, h = best.box
    # Eileen Collins' face sits around x 180-270, y 60-170 of the 512 x 512 photo
    assert 150 < x + w / 2 < 300 and 40 < y + h / 2 < 200
    assert 40 < w < 200


def test_small_images_are_upscaled_and_padded():
    gray, scale, pad = prepare_gray(np.full((25, 25, 3), 128, np.uint8), max_side=320)
    assert scale > 1 and pad > 0 and min(gray.shape) >= 64
    gray, scale, pad = prepare_gray(data.astronaut(), max_side=320)
    assert gray.shape == (320, 320) and pad == 0 and scale == pytest.approx(320 / 512)
