"""Image-statistics concepts on real photographs: each statistic moves the right way under a known edit."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
import skimage.data
from PIL import Image

from tellapart.concepts.image_stats import ImageStatsSource
from tellapart.io.image import DecodedImage

SOURCE = ImageStatsSource()
IDS = [c.id for c in SOURCE.concepts()]


def _rgb(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.stack([array] * 3, axis=-1) if array.ndim == 2 else array[..., :3])


def _image(pixels: np.ndarray, original_size: tuple[int, int] | None = None) -> DecodedImage:
    pixels = _rgb(pixels)
    size = original_size or (pixels.shape[1], pixels.shape[0])
    return DecodedImage(key=str(hash(pixels.tobytes())), source="<memory:0>", pixels=pixels,
                        original_size=size)


def _scores(*pixels: np.ndarray) -> dict[str, np.ndarray]:
    """Score the images together; return one array over the images per concept name."""
    table = SOURCE.score([_image(p) for p in pixels])
    return {cid.split(".", 1)[1]: table[:, i] for i, cid in enumerate(IDS)}


def _jpeg(pixels: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"))


@pytest.fixture(scope="module")
def photos() -> dict[str, np.ndarray]:
    names = ("astronaut", "coffee", "chelsea", "rocket")
    return {name: _rgb(getattr(skimage.data, name)()) for name in names}


def test_concepts_are_well_formed():
    concepts = SOURCE.concepts()
    assert len(IDS) == len(set(IDS))
    assert all(cid.startswith("stats.") for cid in IDS)
    for c in concepts:
        assert c.phrase and c.parents, c.id
        if c.kind == "presence":
            assert 0.0 < c.threshold <= 1.0, c.id
        else:
            assert c.kind == "magnitude"
            assert c.more and c.less and c.more != c.less, c.id
    hues = [c for c in concepts if "stats.colour_cast" in c.parents]
    assert {c.id for c in hues} >= {f"stats.{h}_tint" for h in ("red", "yellow", "green", "blue", "purple")}
    assert next(c for c in concepts if c.id == "stats.resolution").unit == "log10 px"


def test_score_shape_dtype_and_finiteness(photos):
    table = SOURCE.score([_image(p) for p in photos.values()])
    assert table.shape == (len(photos), len(IDS))
    assert table.dtype == np.float32
    assert np.isfinite(table).all()
    assert SOURCE.score([]).shape == (0, len(IDS))


def test_tone(photos):
    a = photos["astronaut"]
    flat = (a.astype(np.float32) * 0.4 + 0.6 * a.mean()).astype(np.uint8)
    s = _scores(a, (a * 0.5).astype(np.uint8), flat)
    assert s["brightness"][1] < s["brightness"][0] - 0.15
    assert s["contrast"][2] < s["contrast"][0] * 0.6


def test_blur_lowers_sharpness_and_edge_density(photos):
    for photo in photos.values():
        s = _scores(photo, cv2.GaussianBlur(photo, (0, 0), 2.5))
        assert s["sharpness"][1] < s["sharpness"][0] - 0.5
        assert s["edge_density"][1] < s["edge_density"][0] * 0.7


def test_noise_rises_with_added_noise_and_not_with_blur_or_edges(photos):
    rng = np.random.default_rng(0)
    for photo in photos.values():
        noisy = [np.clip(photo + rng.normal(0, sigma, photo.shape), 0, 255).astype(np.uint8)
                 for sigma in (4, 12)]
        blurred = cv2.GaussianBlur(photo, (0, 0), 2)
        s = _scores(photo, *noisy, blurred)["noise"]
        assert s[0] < s[1] < s[2], s
        assert s[3] <= s[0]
    # An edge-rich but clean photo is less "noisy" than a smooth one with mild added noise.
    camera = _rgb(skimage.data.camera())
    smooth = cv2.GaussianBlur(camera, (0, 0), 3)
    smooth_noisy = np.clip(smooth + rng.normal(0, 5, smooth.shape), 0, 255).astype(np.uint8)
    s = _scores(camera, smooth_noisy)["noise"]
    assert s[0] < s[1]


def test_jpeg_blockiness(photos):
    for photo in photos.values():
        s = _scores(_jpeg(photo, 95), _jpeg(photo, 10), photo)["jpeg_blockiness"]
        assert s[1] > s[0] + 0.3, s
        assert s[1] > 1.4
    # The 8x8 grid is found even when the image was cropped off-grid after decoding.
    shifted = _jpeg(photos["astronaut"], 15)[3:, 5:]
    assert _scores(shifted)["jpeg_blockiness"][0] > 1.4


def test_grayscale(photos):
    threshold = next(c for c in SOURCE.concepts() if c.id == "stats.grayscale").threshold
    camera = _rgb(skimage.data.camera())
    gray_jpeg = _jpeg(camera, 80)
    s = _scores(camera, gray_jpeg, *photos.values())["grayscale"]
    assert s[0] >= threshold and s[1] >= threshold
    assert (s[2:] < threshold).all(), s
    assert _scores(camera)["saturation"][0] == pytest.approx(0.0)


def test_geometry_from_original_size(photos):
    pixels = photos["coffee"]
    wide, tall = _image(pixels, (600, 300)), _image(pixels, (300, 600))
    big = _image(pixels, (4000, 3000))
    table = SOURCE.score([wide, tall, big])
    col = {cid.split(".", 1)[1]: i for i, cid in enumerate(IDS)}
    assert table[0, col["landscape"]] == 1 and table[0, col["portrait"]] == 0
    assert table[1, col["portrait"]] == 1 and table[1, col["landscape"]] == 0
    assert table[0, col["aspect_ratio"]] > 0 > table[1, col["aspect_ratio"]]
    assert table[2, col["resolution"]] == pytest.approx(np.log10(4000 * 3000), abs=1e-4)
    assert table[2, col["resolution"]] > table[0, col["resolution"]]


def test_border(photos):
    threshold = next(c for c in SOURCE.concepts() if c.id == "stats.border").threshold
    for photo in photos.values():
        framed = photo.copy()
        framed[:20], framed[-20:], framed[:, :20], framed[:, -20:] = 255, 255, 255, 255
        padded = cv2.copyMakeBorder(photo, 12, 12, 12, 12, cv2.BORDER_CONSTANT, value=(30, 30, 30))
        s = _scores(photo, framed, padded)["border"]
        assert s[0] < threshold <= min(s[1], s[2]), s


def test_vignetting(photos):
    for photo in photos.values():
        h, w = photo.shape[:2]
        y, x = np.ogrid[:h, :w]
        falloff = 1.0 - 0.4 * (((x - w / 2) / (w / 2)) ** 2 + ((y - h / 2) / (h / 2)) ** 2) / 2
        vignetted = (photo * falloff[..., None]).astype(np.uint8)
        s = _scores(photo, vignetted)["vignetting"]
        assert s[1] > s[0] + 0.1


def test_colour_cast_and_warmth(photos):
    for photo in photos.values():
        red = (photo * 0.7 + np.array([255, 0, 0]) * 0.3).astype(np.uint8)
        blue = (photo * 0.7 + np.array([0, 40, 255]) * 0.3).astype(np.uint8)
        s = _scores(photo, red, blue)
        assert s["red_tint"][1] > s["red_tint"][0] + 0.1
        assert s["blue_tint"][1] <= s["blue_tint"][0]
        assert s["blue_tint"][2] > s["blue_tint"][0] + 0.02
        assert s["red_tint"][2] < s["red_tint"][0]
        assert s["warmth"][1] > s["warmth"][0] > s["warmth"][2]


def test_colourfulness_and_saturation(photos):
    a = photos["astronaut"]
    gray = cv2.cvtColor(cv2.cvtColor(a, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    half = (a.astype(np.float32) * 0.5 + gray.astype(np.float32) * 0.5).astype(np.uint8)
    s = _scores(a, half, gray)
    assert s["colourfulness"][0] > s["colourfulness"][1] > s["colourfulness"][2]
    assert s["saturation"][0] > s["saturation"][1] > s["saturation"][2]
