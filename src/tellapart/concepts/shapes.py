"""A detector for small solid-coloured shapes pasted onto images: rectangles, circles (and ellipses), lines.

How it works: a pasted shape is a region of one colour whose edge is a step. We mark every 2x2 block of
pixels whose colour range is within ``FLAT_TOLERANCE``; the blocks that lie wholly inside one solid region
connect into one component, which is the region itself once each block is given back its four pixels.
Two cheap tests over all components (contrast along the outline, compactness of the pixel cloud) leave a
few candidates, which are checked for uniform colour, a sharp and contrasting edge, and the fit of a
rectangle, an ellipse or a thin bar. Working on 2x2 blocks (not 3x3 neighbourhoods) keeps lines down to two
pixels thick; lines one pixel thick are not detected. The tolerances accept light JPEG compression
(quality ~95); heavier compression smears small shapes beyond recognition.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import cv2
import numpy as np

from tellapart.concepts.base import Concept
from tellapart.io.image import DecodedImage

FAMILIES = ("rectangle", "circle", "line")
QUADRANTS = ("top_left", "top_right", "bottom_left", "bottom_right")
_FAMILY_PHRASES = {"rectangle": "a rectangle", "circle": "a circle", "line": "a straight line"}
_QUADRANT_WORDS = {q: q.replace("_", "-") for q in QUADRANTS}

FLAT_TOLERANCE = 12  # max-min grey levels inside a 2x2 block that still counts as one colour
MIN_AREA_FRACTION = 0.0002
MIN_AREA_PIXELS = 30
MAX_AREA_FRACTION = 0.15
SMALL_AREA_FRACTION = 0.01
MAX_CANDIDATES = 24
MAX_COLOUR_SPREAD = 8.0  # per-channel standard deviation at which a region stops being "solid"
UNIFORM_SPREAD = 2.0  # ... and up to which it counts as perfectly solid (JPEG noise)
STEP_RAMP = (0.5, 0.9)
LINE_LENGTH_RAMP = (12.0, 20.0)  # pixels: shorter thin marks are too common in photos to call lines
FULL_CONTRAST = 40.0  # grey levels between a shape and its surroundings that earn full confidence
MIN_EDGE_CONTRAST = 16.0  # mean block spread just outside a candidate, in grey levels
MIN_COMPACTNESS = 10.5  # area / sqrt(det(covariance)): 12 for rectangles and lines, 4*pi for ellipses
THRESHOLD = 0.5

_BLOCK = np.ones((2, 2), np.uint8)
_SQUARES = [np.ones((2 * k + 1, 2 * k + 1), np.uint8) for k in range(5)]
_SQUARE3 = _SQUARES[1]


@dataclass(frozen=True)
class Detection:
    """One detected shape.

    Attributes:
        family: ``"rectangle"``, ``"circle"`` or ``"line"``.
        confidence: in [0, 1].
        area_fraction: the shape's area as a share of the image.
        centre: (x, y) of the shape's centroid, as fractions of the image width and height.
        bbox: (x, y, w, h) in pixels of ``DecodedImage.pixels``.
        colour: the shape's mean RGB colour.
    """

    family: str
    confidence: float
    area_fraction: float
    centre: tuple[float, float]
    bbox: tuple[int, int, int, int]
    colour: tuple[float, float, float]


_shape = partial(Concept, category="shape")  # every concept of this source is an inserted mark


def _build_concepts() -> list[Concept]:
    concepts = [_shape(id="shape.any", phrase="carry an inserted shape", kind="presence",
                        threshold=THRESHOLD,
                        synonyms=("pasted shape", "overlay", "inserted object", "marker", "sticker"))]
    for family in FAMILIES:
        phrase = _FAMILY_PHRASES[family]
        fid = f"shape.{family}"
        concepts.append(_shape(id=fid, phrase=f"carry {phrase}", kind="presence", parents=("shape.any",),
                                threshold=THRESHOLD, synonyms=_synonyms(family)))
        if family != "line":
            concepts.append(_shape(id=f"{fid}_small", phrase=f"carry a small {family}", kind="presence",
                                    parents=(fid,), threshold=THRESHOLD,
                                    synonyms=(f"tiny {family}", f"small {family} under 1% of the image")))
            concepts.append(_shape(id=f"{fid}_large", phrase=f"carry a large {family}", kind="presence",
                                    parents=(fid,), threshold=THRESHOLD,
                                    synonyms=(f"big {family}", f"{family} over 1% of the image")))
        for quadrant in QUADRANTS:
            concepts.append(_shape(id=f"{fid}_{quadrant}",
                                    phrase=f"carry {phrase} near the {_QUADRANT_WORDS[quadrant]}",
                                    kind="presence", parents=(fid,), threshold=THRESHOLD,
                                    synonyms=(f"{family} in the {_QUADRANT_WORDS[quadrant]} corner",)))
        concepts.append(_shape(id=f"{fid}_count", phrase=f"number of {family}s", kind="magnitude",
                                parents=(fid,), more=f"carry more {family}s", less=f"carry fewer {family}s"))
    return concepts


def _synonyms(family: str) -> tuple[str, ...]:
    return {
        "rectangle": ("square", "box", "patch", "block", "rectangular marker"),
        "circle": ("disc", "dot", "ellipse", "round marker", "blob"),
        "line": ("stroke", "bar", "stripe", "scratch", "straight line"),
    }[family]


class ShapeSource:
    """Inserted solid shapes (rectangles, circles, lines) as one concept source named ``"shape"``."""

    name = "shape"

    def __init__(self) -> None:
        self._concepts = _build_concepts()
        self._index = {c.id: i for i, c in enumerate(self._concepts)}

    def concepts(self) -> list[Concept]:
        """Return the shape concepts, in the column order of ``score``."""
        return list(self._concepts)

    def score(self, images: Sequence[DecodedImage]) -> np.ndarray:
        """Return a float32 array (n_images, n_concepts): best-detection confidences and shape counts."""
        out = np.zeros((len(images), len(self._concepts)), dtype=np.float32)
        for i, image in enumerate(images):
            self._fill_row(out[i], detect_shapes(image.pixels))
        return out

    def _fill_row(self, row: np.ndarray, detections: list[Detection]) -> None:
        col = self._index
        for d in detections:
            fid = f"shape.{d.family}"
            row[col["shape.any"]] = max(row[col["shape.any"]], d.confidence)
            row[col[fid]] = max(row[col[fid]], d.confidence)
            if d.family != "line":
                size = "small" if d.area_fraction < SMALL_AREA_FRACTION else "large"
                row[col[f"{fid}_{size}"]] = max(row[col[f"{fid}_{size}"]], d.confidence)
            quadrant = _quadrant(d.centre)
            row[col[f"{fid}_{quadrant}"]] = max(row[col[f"{fid}_{quadrant}"]], d.confidence)
            if d.confidence >= THRESHOLD:
                row[col[f"{fid}_count"]] += 1


def _quadrant(centre: tuple[float, float]) -> str:
    return ("top" if centre[1] < 0.5 else "bottom") + ("_left" if centre[0] < 0.5 else "_right")


def detect_shapes(pixels: np.ndarray) -> list[Detection]:
    """Return the solid shapes found in an H x W x 3 uint8 RGB image, most confident first."""
    h, w = pixels.shape[:2]
    if min(h, w) < 16:
        return []
    spread = _block_spread(pixels)
    flat = (spread <= FLAT_TOLERANCE).astype(np.uint8)
    flat[-1, :] = 0  # blocks anchored on the last row or column hang off the image
    flat[:, -1] = 0
    n, labels, stats, _ = cv2.connectedComponentsWithStats(flat, connectivity=8)
    min_area = max(MIN_AREA_PIXELS, MIN_AREA_FRACTION * h * w)
    max_area = MAX_AREA_FRACTION * h * w
    x, y, bw, bh, area = (stats[1:, k] for k in range(5))
    # A component of flat blocks is the region shrunk by one pixel on the right and bottom.
    full_area = area + bw + bh + 1
    inside = (x > 0) & (y > 0) & (x + bw < w - 1) & (y + bh < h - 1)
    keep = np.flatnonzero((full_area >= min_area) & (full_area <= max_area) & inside) + 1
    if keep.size == 0:
        return []
    strength, compactness = _component_features(spread, labels, keep, n)
    plausible = (strength >= MIN_EDGE_CONTRAST) & (compactness >= MIN_COMPACTNESS)
    keep = keep[plausible][np.argsort(-strength[plausible])][:MAX_CANDIDATES]
    detections = [d for label in keep if (d := _examine(pixels, labels, stats[label], label)) is not None]
    return sorted(detections, key=lambda d: -d.confidence)


def _block_spread(pixels: np.ndarray) -> np.ndarray:
    """Return, per pixel, the largest channel range over its 2x2 block (it, right, below, below-right)."""
    spread = cv2.dilate(pixels, _BLOCK, anchor=(0, 0)) - cv2.erode(pixels, _BLOCK, anchor=(0, 0))
    return np.maximum(np.maximum(spread[..., 0], spread[..., 1]), spread[..., 2])


def _component_features(spread: np.ndarray, labels: np.ndarray, keep: np.ndarray, n: int
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Return two cheap per-component tests, each an array over ``keep``: edge strength and compactness.

    Edge strength is the mean block spread just outside the component: the blocks bordering a pasted shape
    straddle its edge, so their spread is the shape's contrast, while the blocks bordering a smooth natural
    region barely exceed the flatness tolerance. Compactness is area / sqrt(det(coordinate covariance)):
    12 for any rectangle or line, 4*pi for any ellipse, lower for ragged natural regions.
    """
    lut = np.zeros(n, np.uint16 if keep.size < 65535 else np.float32)
    lut[keep] = np.arange(1, keep.size + 1)
    marked = lut[labels]
    around = cv2.dilate(marked, _SQUARE3)
    ring = (labels == 0) & (around > 0)
    index = around[ring].astype(np.intp)
    size = keep.size + 1
    total = np.bincount(index, spread[ring].astype(np.float64), size)
    strength = (total / np.maximum(np.bincount(index, minlength=size), 1))[1:]

    flat_index = np.flatnonzero(marked)
    index = marked.ravel()[flat_index].astype(np.intp)
    ys, xs = np.divmod(flat_index, labels.shape[1])
    count = np.maximum(np.bincount(index, minlength=size), 1)
    mx, my = (np.bincount(index, v.astype(np.float64), size) / count for v in (xs, ys))
    products = (xs * xs, ys * ys, xs * ys)
    sxx, syy, sxy = (np.bincount(index, v.astype(np.float64), size) / count for v in products)
    det = (sxx - mx * mx) * (syy - my * my) - (sxy - mx * my) ** 2
    compactness = (count / np.sqrt(np.maximum(det, 1e-9)))[1:]
    return strength, compactness


def _examine(pixels: np.ndarray, labels: np.ndarray, stat: np.ndarray, label: int) -> Detection | None:
    h, w = pixels.shape[:2]
    x, y, bw, bh = (int(v) for v in stat[:4])
    pad = 6  # room for the one-pixel growth below and the ring four pixels out
    x0, y0 = max(0, x - pad), max(0, y - pad)
    x1, y1 = min(w, x + bw + 1 + pad), min(h, y + bh + 1 + pad)
    blocks = (labels[y0:y1, x0:x1] == label).astype(np.uint8)
    mask = cv2.dilate(blocks, _BLOCK, anchor=(1, 1))  # give each block back its four pixels
    crop = pixels[y0:y1, x0:x1]
    mean, std = cv2.meanStdDev(crop, mask=mask)
    colour, spread = mean.ravel(), float(std.max())
    if spread >= MAX_COLOUR_SPREAD:
        return None
    diff = np.abs(crop.astype(np.int16) - np.round(colour).astype(np.int16))
    diff = np.maximum(np.maximum(diff[..., 0], diff[..., 1]), diff[..., 2])
    # Pixels of the shape that belong to no flat 2x2 block (a disc's rim, a thin line's stair steps).
    mask |= cv2.dilate(mask, _SQUARE3) & (diff <= FLAT_TOLERANCE).astype(np.uint8)
    fit = _shape_fit(mask)
    if fit is None or fit[1] <= 0.0:
        return None
    family, shape_score = fit

    diff = diff.astype(np.float32)
    grown = [mask] + [cv2.dilate(mask, _SQUARES[k]) for k in (1, 2, 3, 4)]
    ring_contrast = [cv2.mean(diff, mask=grown[k] - grown[k - 1])[0] for k in (1, 2, 4)]
    # JPEG smears a shape's edge over a pixel or two, so the edge is measured one or two pixels out.
    contrast_near = max(ring_contrast[0], ring_contrast[1])
    contrast_far = ring_contrast[2]

    uniform = 1.0 - _ramp(spread, UNIFORM_SPREAD, MAX_COLOUR_SPREAD)
    contrast = _ramp(contrast_near, 0.0, FULL_CONTRAST)
    # A pasted shape's edge is a step: pixels just outside already differ as much as pixels further out.
    step = _ramp(contrast_near / max(contrast_far, 1e-3), STEP_RAMP[0], STEP_RAMP[1])
    confidence = shape_score * uniform * contrast * step
    if confidence <= 0.01:
        return None
    moments = cv2.moments(mask, binaryImage=True)
    area = moments["m00"]
    centre = ((moments["m10"] / area + x0) / w, (moments["m01"] / area + y0) / h)
    bx, by, bw, bh = cv2.boundingRect(mask)
    return Detection(family, float(confidence), float(area) / (h * w), centre,
                     (bx + x0, by + y0, bw, bh), tuple(float(c) for c in colour))


def _shape_fit(mask: np.ndarray) -> tuple[str, float] | None:
    """Return the best-fitting family and its fit score in [0, 1], or None when the region has no outline."""
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return None
    contour = max(contours, key=len)
    if len(contour) < 5:
        return None
    (cx, cy), (rw, rh), angle = cv2.minAreaRect(contour)
    long_side, short_side = max(rw, rh) + 1.0, min(rw, rh) + 1.0
    box = np.zeros_like(mask)
    cv2.fillPoly(box, [np.round(cv2.boxPoints(((cx, cy), (rw, rh), angle))).astype(np.int32)], 1)
    rect_iou = _iou(mask, box)
    if long_side / short_side >= 4.0 and short_side <= 8.0:
        # Too thin for an IoU with the rasterised box to be fair; compare the area with the box instead.
        fill = float(np.count_nonzero(mask)) / (long_side * short_side)
        return "line", _ramp(min(fill, 2.0 - fill), 0.6, 0.8) * _ramp(long_side, *LINE_LENGTH_RAMP)
    if rect_iou >= 0.97:  # even a small digital disc leaves more of its bounding box empty
        return "rectangle", 1.0
    ellipse_iou = _iou(mask, _moment_ellipse(mask))
    if rect_iou >= ellipse_iou:
        return "rectangle", _ramp(rect_iou, 0.8, 0.92)
    return "circle", _ramp(ellipse_iou, 0.8, 0.9) * _ramp(ellipse_iou - rect_iou, 0.0, 0.08)


def _moment_ellipse(mask: np.ndarray) -> np.ndarray:
    """Return a mask of the filled ellipse with the same area centre and second moments as ``mask``."""
    m = cv2.moments(mask, binaryImage=True)
    cx, cy = m["m10"] / m["m00"], m["m01"] / m["m00"]
    a, b, c = m["mu20"] / m["m00"], m["mu11"] / m["m00"], m["mu02"] / m["m00"]
    half_gap = np.hypot((a - c) / 2.0, b)
    major_var, minor_var = (a + c) / 2.0 + half_gap, max((a + c) / 2.0 - half_gap, 1e-6)
    # A filled ellipse with semi-axes p, q has variances p^2/4, q^2/4 along its axes.
    axes = (2.0 * np.sqrt(major_var), 2.0 * np.sqrt(minor_var))
    angle = float(np.degrees(0.5 * np.arctan2(2.0 * b, a - c)))
    disc = np.zeros_like(mask)
    centre = (int(round(cx * 16)), int(round(cy * 16)))
    size = (int(round(axes[0] * 16)), int(round(axes[1] * 16)))
    cv2.ellipse(disc, centre, size, angle, 0, 360, 1, thickness=-1, shift=4)
    return disc


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return np.count_nonzero(a & b) / union if union else 0.0


def _ramp(value: float, low: float, high: float) -> float:
    """Map value linearly from [low, high] onto [0, 1], clipped."""
    # Plain floats: numpy's scalar clip costs more than the rest of this module's per-candidate work.
    return min(1.0, max(0.0, (float(value) - low) / (high - low)))
