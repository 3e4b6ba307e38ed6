"""Regions and their morphology as concepts: what a clinician points at, measured.

Per image, on a copy downscaled so its longest side is ``WORK_SIDE`` pixels, this source finds:

- the **body**: the part of the image that is not background. When the image's outer ring is mostly dark
  (a scan or a cell on black), the body is the bright side of Otsu's threshold, holes filled, largest
  component kept (the head, the chest, the cell); otherwise the whole frame (a smear, a skin photo).
- **dark and bright structures** inside the body: pixels in the darkest / brightest of three tone classes
  (multi-Otsu on the body's smoothed lightness) that also differ from the body's median by at least
  ``TONE_MARGIN`` (so a flat image has none): lung fields on a chest X-ray, a nucleus in a smear, a lesion on
  skin; the largest of each is measured on its own (size, border, shape, colours, position), the way the
  ABCD rule of dermoscopy reads a lesion (Asymmetry, Border irregularity, Colours, Diameter).
- **small dark spots**: black top-hat of the body's lightness (darker than their surroundings, narrower than
  ``SPOT_WIDTH`` of the image): dots, granules, parasites inside a cell.
- a **mass**: the largest region whose lightness differs from its mirror image across the body's vertical
  midline by at least ``MASS_DEPTH`` (on the side that departs from the body's median): a lesion that breaks
  the left-right symmetry of a head or chest.
- lightness by region of the body (upper vs lower half, left vs right, centre vs periphery) and its texture.

Every measure is relative to the body (shares of its area, ratios to its median lightness), so scans of
different sizes and exposures compare. A measure with nothing to measure (the largest dark structure of an
image that has none) is NaN, and left out of the tests. ``outlines`` returns, for any of these concepts, the
contours of the region it measured, for the report to draw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial

import cv2
import numpy as np
from scipy import ndimage
from skimage.filters import threshold_multiotsu, threshold_otsu
from skimage.measure import approximate_polygon, find_contours, regionprops

from tellapart.concepts.base import Concept
from tellapart.io.image import DecodedImage

WORK_SIDE = 128
# Outer ring (share of the shorter side) whose tone decides whether the image has a background.
RING = 0.04
# The ring counts as background when at least this share of it is on the dark side of Otsu's threshold.
DARK_RING_SHARE = 0.7
# Black padding (rotated, letterboxed images): border-connected pixels darker than this, if they cover at
# least MIN_PAD_SHARE of the image.
PAD_LEVEL = 0.06
MIN_PAD_SHARE = 0.01
# A body smaller than this share of the image is not one (noise on black): the whole frame is used.
MIN_BODY_SHARE = 0.05
# Lightness (0-1) by which a dark or bright structure must differ from the body's median.
TONE_MARGIN = 0.08
# Structures smaller than this share of the body are noise.
MIN_STRUCTURE_SHARE = 0.002
# Spots: narrower than this share of the longer side, darker than their surroundings by SPOT_DEPTH.
SPOT_WIDTH = 0.08
SPOT_DEPTH = 0.15
MIN_SPOT_PIXELS = 3
# A spot whose mean colour is at least this far (CIELAB a*b* units) from the body's median colour is stained.
STAINED_CHROMA = 12.0
# Mass: lightness differing from the mirror side by at least this much (0-1), after smoothing.
MASS_DEPTH = 0.15
MASS_SMOOTH_SIGMA = 2.0
# Colours inside a structure: cells of this size in OpenCV's 8-bit CIELAB (L* scaled to 0-255, so 20 is
# about 8 L* units; a* and b* in their own units, offset by 128) holding >= COLOUR_SHARE of it.
COLOUR_CELL = (20.0, 12.0, 12.0)
COLOUR_SHARE = 0.05

BODY = "region.body"
DARK = "region.dark"
BRIGHT = "region.bright"
SPOTS = "region.spots"
MASS = "region.mass"
LAYOUT = "region.layout"

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)

_magnitude = partial(Concept, kind="magnitude", category="region")


@dataclass(frozen=True)
class _Spec:
    """One region concept: its id suffix, phrase, more/less text, parent, unit and the mask it measures."""

    name: str
    phrase: str
    more: str
    less: str
    parent: str
    mask: str
    unit: str = ""
    synonyms: tuple[str, ...] = ()


def _structure_specs(tone: str, noun: str, examples: tuple[str, ...]) -> list[_Spec]:
    parent = DARK if tone == "dark" else BRIGHT
    largest, their = f"the largest {noun}", f"their largest {noun}"
    one = f"largest {noun}"
    return [
        _Spec(f"{tone}_area", f"share of the body covered by {noun}s",
              f"have more of the body covered by {noun}s", f"have less of the body covered by {noun}s",
              parent, tone, "%", synonyms=examples),
        _Spec(f"{tone}_texture", f"texture (local lightness variation) inside the {noun}s",
              f"have {noun}s with a coarser, more detailed texture (more visible markings)",
              f"have {noun}s with a smoother, hazier texture (fewer visible markings)", parent, tone,
              synonyms=("hazy", "haziness", "ground glass", "markings", "texture")),
        _Spec(f"{tone}_count", f"number of separate {noun}s", f"contain more separate {noun}s",
              f"contain fewer separate {noun}s", parent, tone),
        _Spec(f"{tone}_contrast", f"contrast of the {noun}s against the body",
              f"have {noun}s that stand out more from the body",
              f"have {noun}s that stand out less from the body (hazier, less distinct)", parent, tone),
        _Spec(f"{tone}_largest_area", f"size of {largest} (share of the body)",
              f"have a bigger {one}", f"have a smaller {one}", parent, f"{tone}_largest", "%",
              synonyms=("diameter", "size of the lesion", "size of the nucleus")),
        _Spec(f"{tone}_largest_solidity", f"solidity of {largest}",
              f"have a more solid, smoothly bordered {one} (e.g. one round nucleus)",
              f"have a more lobed or irregularly bordered {one} (e.g. a lobed nucleus)",
              parent, f"{tone}_largest", synonyms=("border irregularity", "lobulated", "lobes")),
        _Spec(f"{tone}_largest_circularity", f"roundness of {largest}",
              f"have a rounder {one}", f"have a less round {one}",
              parent, f"{tone}_largest", synonyms=("round", "circular", "border")),
        _Spec(f"{tone}_largest_elongation", f"elongation of {largest}",
              f"have a more elongated {one}", f"have a more compact {one}", parent,
              f"{tone}_largest", synonyms=("oval", "elongated", "eccentric")),
        _Spec(f"{tone}_largest_asymmetry", f"shape asymmetry of {largest}",
              f"have a more asymmetric {one}", f"have a more symmetric {one}", parent,
              f"{tone}_largest", synonyms=("asymmetry", "asymmetric lesion")),
        _Spec(f"{tone}_largest_colours", f"number of distinct colours in {largest}",
              f"have more distinct colours in {their}", f"have fewer distinct colours in {their}",
              parent, f"{tone}_largest", synonyms=("multicoloured", "colour variegation")),
        _Spec(f"{tone}_largest_colour_variation", f"colour variation inside {largest}",
              f"have a more varied colour inside {their}", f"have a more uniform colour inside {their}",
              parent, f"{tone}_largest", synonyms=("heterogeneous", "homogeneous")),
        _Spec(f"{tone}_largest_centre_distance", f"distance of {largest} from the body's centre",
              f"have {their} further from the centre (towards the periphery)",
              f"have {their} nearer the centre", parent, f"{tone}_largest",
              synonyms=("peripheral", "central", "position")),
        _Spec(f"{tone}_largest_vertical", f"height of {largest} in the image (lower is larger)",
              f"have {their} lower in the image", f"have {their} higher in the image", parent,
              f"{tone}_largest", synonyms=("upper", "lower", "position")),
        _Spec(f"{tone}_largest_horizontal", f"horizontal position of {largest} (right is larger)",
              f"have {their} further right", f"have {their} further left", parent,
              f"{tone}_largest", synonyms=("left", "right", "side", "position")),
    ]


def _specs() -> list[_Spec]:
    specs = [
        _Spec("body_area", "share of the image covered by the body (the non-background part)",
              "have a larger body or specimen area (less background)",
              "have a smaller body or specimen area (more background)", BODY, "body", "%",
              synonyms=("field of view", "cell size", "brain area", "specimen size")),
        _Spec("body_solidity", "solidity of the body's outline", "have a more compact, convex body outline",
              "have a more irregular or indented body outline", BODY, "body", synonyms=("outline", "shape")),
        _Spec("body_elongation", "elongation of the body", "have a more elongated body",
              "have a rounder body", BODY, "body", synonyms=("oval", "elongated")),
        _Spec("dark_lightness", "lightness of the dark structures relative to the body",
              "have lighter, more opaque dark structures (e.g. whiter lung fields)",
              "have darker, more lucent dark structures (e.g. clearer lung fields)", DARK, "dark",
              synonyms=("opacity", "opaque", "hazy", "consolidation", "lucent", "whiter lungs")),
        *_structure_specs("dark", "dark structure", ("lung fields", "nuclei", "pigmented lesion", "dots")),
        _Spec("bright_lightness", "lightness of the bright structures relative to the body",
              "have brighter bright structures", "have duller bright structures", BRIGHT, "bright"),
        *_structure_specs("bright", "bright structure", ("bone", "enhancing lesion", "optic disc", "cells")),
        _Spec("spots_count", "number of small dark spots", "carry more small dark spots or dots",
              "carry fewer small dark spots or dots", SPOTS, "spots",
              synonyms=("dots", "granules", "inclusions", "parasites", "speckles", "spots")),
        _Spec("spots_area", "share of the body covered by small dark spots",
              "have more of the body covered by small dark spots", "have less of the body covered by small "
              "dark spots", SPOTS, "spots", "%", synonyms=("dots", "granules", "inclusions")),
        _Spec("spots_stained", "number of small spots of a distinct (stained) colour",
              "carry more small spots of a distinct colour (stained dots, e.g. dark purple)",
              "carry fewer small spots of a distinct colour (stained dots)", SPOTS, "spots_stained",
              synonyms=("stained dots", "purple dots", "parasites", "rings", "inclusions")),
        _Spec("mass_area", "size of the largest region unlike its mirror side",
              "contain a larger mass or lesion that breaks left-right symmetry",
              "contain a smaller or no mass breaking left-right symmetry", MASS, "mass", "%",
              synonyms=("mass", "lesion", "tumour", "tumor", "growth", "space-occupying lesion")),
        _Spec("asymmetry", "left-right asymmetry of the body", "less left-right symmetric",
              "more left-right symmetric", MASS, "body",
              synonyms=("asymmetry", "symmetry", "asymmetric", "one-sided")),
        _Spec("brightness_top_bottom", "lightness of the upper half relative to the lower half",
              "brighter in the upper half relative to the lower half",
              "brighter in the lower half relative to the upper half", LAYOUT, "upper",
              synonyms=("upper", "lower", "top", "bottom", "apical", "basal")),
        _Spec("brightness_left_right", "lightness of the left half relative to the right half",
              "brighter on the left relative to the right",
              "brighter on the right relative to the left",
              LAYOUT, "left", synonyms=("left", "right", "side")),
        _Spec("brightness_centre_periphery", "lightness of the centre relative to the periphery",
              "brighter in the centre relative to the periphery",
              "brighter at the periphery relative to the centre", LAYOUT, "centre",
              synonyms=("central", "peripheral", "centre", "periphery")),
        _Spec("texture", "texture (local lightness variation) inside the body",
              "have a more heterogeneous, mottled texture", "have a smoother, more homogeneous texture",
              LAYOUT, "body", synonyms=("texture", "heterogeneous", "mottled", "homogeneous", "coarse")),
    ]
    return specs


SPECS: tuple[_Spec, ...] = tuple(_specs())


@dataclass
class Regions:
    """What ``measure_regions`` found in one image: the measured values and the masks they were measured on.

    Attributes:
        values: concept name (id without ``"region."``) -> value (NaN when there was nothing to measure).
        masks: mask name (``_Spec.mask``) -> bool array of the work-size image.
    """

    values: dict[str, float]
    masks: dict[str, np.ndarray] = field(repr=False)


def _work_copy(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (rgb uint8, lightness float32 0-1) downscaled so the longest side is ``WORK_SIDE``."""
    height, width = pixels.shape[:2]
    scale = WORK_SIDE / max(height, width)
    if scale < 1:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        pixels = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
    rgb = np.ascontiguousarray(pixels)
    return rgb, (rgb.astype(np.float32) / 255.0) @ _LUMA


def _largest_component(mask: np.ndarray) -> np.ndarray:
    labels, n = ndimage.label(mask)
    if n <= 1:
        return mask
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == int(np.argmax(sizes))


def _otsu(values: np.ndarray) -> float | None:
    if values.size < 2 or values.max() - values.min() < 1e-3:
        return None
    return float(threshold_otsu(values))


def body_mask(luma: np.ndarray) -> tuple[np.ndarray, bool]:
    """Return (mask of the body, whether a background was found) for a lightness image."""
    full = np.ones(luma.shape, dtype=bool)
    threshold = _otsu(luma)
    if threshold is None:
        return full, False
    ring = np.zeros(luma.shape, dtype=bool)
    width = max(2, round(RING * min(luma.shape)))
    ring[:width], ring[-width:], ring[:, :width], ring[:, -width:] = True, True, True, True
    if np.mean(luma[ring] < threshold) >= DARK_RING_SHARE:
        # Half Otsu's threshold: on a scan, Otsu may split grey from white matter; the body is all of it.
        body = luma > 0.5 * threshold
    else:  # no dark surround; black padding (a rotated or letterboxed image) is still not body
        labels, _ = ndimage.label(luma < PAD_LEVEL)
        padding = np.isin(labels, np.setdiff1d(np.unique(labels[ring]), [0]))
        if padding.mean() < MIN_PAD_SHARE:
            return full, False
        body = ~padding
    body = cv2.morphologyEx(body.astype(np.uint8), cv2.MORPH_CLOSE,
                            cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))) > 0
    body = _largest_component(ndimage.binary_fill_holes(body))
    if body.mean() < MIN_BODY_SHARE:
        return full, False
    return body, True


def _shape_values(mask: np.ndarray, prefix: str, body_centre: np.ndarray, body_scale: np.ndarray
                  ) -> dict[str, float]:
    """Area-free shape measures of one connected mask (solidity, circularity, elongation, asymmetry,
    position relative to the body)."""
    props = regionprops(mask.astype(np.uint8))[0]
    major = max(props.axis_major_length, 1e-6)
    centre = np.asarray(props.centroid)  # (row, col)
    offset = (centre - body_centre) / body_scale
    return {
        f"{prefix}_solidity": float(props.solidity),
        # ISO roundness, area over the disc on its major axis: unlike 4 pi A / P^2 it does not fall on a
        # ragged pixel border (a textured coin scores 0.34 on that, 0.8 on this).
        f"{prefix}_circularity": float(min(1.0, 4 * props.area / (np.pi * major ** 2))),
        f"{prefix}_elongation": float(1.0 - props.axis_minor_length / major),
        f"{prefix}_asymmetry": _mask_asymmetry(mask, centre),
        f"{prefix}_centre_distance": float(np.hypot(*offset)),
        f"{prefix}_vertical": float(offset[0]),
        f"{prefix}_horizontal": float(offset[1]),
    }


def _mask_asymmetry(mask: np.ndarray, centre: np.ndarray) -> float:
    """1 - mean IoU of the mask with its mirror images about its centroid's vertical and horizontal axes."""
    rows, cols = np.nonzero(mask)
    ious = []
    for coords, c in ((rows, centre[0]), (cols, centre[1])):
        mirrored = np.round(2 * c - coords).astype(np.int64)
        other = cols if coords is rows else rows
        inside = (mirrored >= 0) & (mirrored < mask.shape[0 if coords is rows else 1])
        if coords is rows:
            hits = mask[mirrored[inside], other[inside]]
        else:
            hits = mask[other[inside], mirrored[inside]]
        overlap = float(hits.sum())
        ious.append(overlap / (2 * rows.size - overlap))
    return float(1.0 - np.mean(ious))


def _colour_values(lab: np.ndarray, mask: np.ndarray, prefix: str) -> dict[str, float]:
    pixels = lab[mask]
    cells = np.floor(pixels / np.asarray(COLOUR_CELL, dtype=np.float32)).astype(np.int64)
    sides = cells.max(axis=0) + 1  # one integer per cell: a bincount is 20x faster than unique(axis=0)
    counts = np.bincount((cells[:, 0] * sides[1] + cells[:, 1]) * sides[2] + cells[:, 2])
    return {
        f"{prefix}_colours": float(np.sum(counts >= COLOUR_SHARE * pixels.shape[0])),
        f"{prefix}_colour_variation": float(np.mean(pixels.std(axis=0))),
    }


def _structures(tone: str, mask: np.ndarray, smooth: np.ndarray, local_sd: np.ndarray, lab: np.ndarray,
                body: np.ndarray, median: float, body_centre: np.ndarray, body_scale: np.ndarray
                ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Measures of the dark (or bright) structures and of the largest of them."""
    body_area = float(body.sum())
    labels, n = ndimage.label(mask)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    keep = np.flatnonzero(sizes >= max(MIN_STRUCTURE_SHARE * body_area, 4)) + 1
    kept = np.isin(labels, keep)
    values = {f"{tone}_area": float(kept.sum() / body_area), f"{tone}_count": float(keep.size)}
    nan_names = ["lightness", "contrast", "texture", *(f"largest_{m}" for m in (
        "area", "solidity", "circularity", "elongation", "asymmetry", "colours", "colour_variation",
        "centre_distance", "vertical", "horizontal"))]
    masks = {tone: kept}
    if keep.size == 0:
        values.update({f"{tone}_{name}": float("nan") for name in nan_names})
        masks[f"{tone}_largest"] = kept
        return values, masks
    mean = float(smooth[kept].mean())
    values[f"{tone}_lightness"] = mean / max(median, 1e-3)
    values[f"{tone}_contrast"] = abs(median - mean) / max(median, 1e-3)
    values[f"{tone}_texture"] = float(local_sd[kept].mean() / max(median, 1e-3))
    # A structure's outline is what a person reads (its border, its size): holes inside it are part of it.
    largest = ndimage.binary_fill_holes(labels == keep[int(np.argmax(sizes[keep - 1]))])
    values[f"{tone}_largest_area"] = float(largest.sum() / body_area)
    values.update(_shape_values(largest, f"{tone}_largest", body_centre, body_scale))
    values.update(_colour_values(lab, largest, f"{tone}_largest"))
    masks[f"{tone}_largest"] = largest
    return values, masks


def _spots(smooth: np.ndarray, lab: np.ndarray, body: np.ndarray, median: float
           ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Small dark spots: black top-hat of the lightness with the background set to the body's median."""
    width = max(3, round(SPOT_WIDTH * max(smooth.shape)) | 1)
    filled = np.where(body, smooth, median).astype(np.float32)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (width, width))
    depth = cv2.morphologyEx(filled, cv2.MORPH_BLACKHAT, kernel)
    # Not on the frame's edge, where a crop's dark margin looks like a line of spots.
    away = cv2.erode(body.astype(np.uint8), np.ones((5, 5), np.uint8), borderType=cv2.BORDER_CONSTANT,
                     borderValue=0) > 0
    spots = (depth >= SPOT_DEPTH) & away
    labels, n = ndimage.label(spots)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    keep = np.flatnonzero(sizes >= MIN_SPOT_PIXELS) + 1
    kept = np.isin(labels, keep)
    stained_mask = np.zeros_like(kept)
    if keep.size:
        reference = np.median(lab[body][:, 1:], axis=0)
        means = np.stack([ndimage.mean(lab[..., c], labels, keep) for c in (1, 2)], axis=1)
        stained = keep[np.hypot(*(means - reference).T) >= STAINED_CHROMA]
        stained_mask = np.isin(labels, stained)
    body_area = float(body.sum())
    values = {
        "spots_count": float(keep.size),
        "spots_area": float(kept.sum() / body_area),
        "spots_stained": float(ndimage.label(stained_mask)[1]),
    }
    return values, {"spots": kept, "spots_stained": stained_mask}


def _mirror(image: np.ndarray, axis_col: float) -> np.ndarray:
    """Mirror an image about the vertical line at column ``axis_col`` (edge values outside)."""
    cols = np.clip(np.round(2 * axis_col - np.arange(image.shape[1])).astype(np.int64), 0,
                   image.shape[1] - 1)
    return image[:, cols]


def _mass(luma: np.ndarray, body: np.ndarray, median: float, centre_col: float
          ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Left-right asymmetry of the body, and the largest region unlike its mirror side."""
    smooth = cv2.GaussianBlur(luma, (0, 0), MASS_SMOOTH_SIGMA)
    mirrored, mirrored_body = _mirror(smooth, centre_col), _mirror(body, centre_col)
    both = body & mirrored_body
    if both.sum() < 16:
        return {"asymmetry": float("nan"), "mass_area": float("nan")}, {"mass": np.zeros_like(body)}
    difference = np.abs(smooth - mirrored)
    asymmetry = float(difference[both].mean() / max(float(smooth[both].mean()), 1e-3))
    departs = np.abs(smooth - median) > np.abs(mirrored - median)
    candidate = both & departs & (difference >= MASS_DEPTH)
    mass = _largest_component(candidate) if candidate.any() else candidate
    return {"asymmetry": asymmetry, "mass_area": float(mass.sum() / body.sum())}, {"mass": mass}


def _local_sd(smooth: np.ndarray) -> np.ndarray:
    """Standard deviation of lightness in each pixel's 5 x 5 neighbourhood."""
    mean = cv2.blur(smooth, (5, 5))
    return np.sqrt(np.maximum(cv2.blur(smooth * smooth, (5, 5)) - mean * mean, 0))


def _layout(smooth: np.ndarray, local_sd: np.ndarray, body: np.ndarray, centre: np.ndarray, radius: float
            ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Lightness of halves and of the centre of the body, as log ratios; texture inside the body."""
    rows, cols = np.indices(body.shape)
    upper, left = body & (rows < centre[0]), body & (cols < centre[1])
    central = body & (np.hypot(rows - centre[0], cols - centre[1]) < 0.5 * radius)

    def ratio(inside: np.ndarray, outside: np.ndarray) -> float:
        if inside.sum() < 4 or outside.sum() < 4:
            return float("nan")
        return float(np.log((smooth[inside].mean() + 0.02) / (smooth[outside].mean() + 0.02)))

    values = {
        "brightness_top_bottom": ratio(upper, body & ~upper),
        "brightness_left_right": ratio(left, body & ~left),
        "brightness_centre_periphery": ratio(central, body & ~central),
        "texture": float(local_sd[body].mean() / max(float(smooth[body].mean()), 1e-3)),
    }
    return values, {"upper": upper, "left": left, "centre": central}


def measure_regions(pixels: np.ndarray) -> Regions:
    """Find the body, its dark and bright structures, spots and mass in one RGB image, and measure them."""
    rgb, luma = _work_copy(pixels)
    smooth = cv2.GaussianBlur(luma, (0, 0), 1.0)
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    body, has_background = body_mask(smooth)
    rows, cols = np.nonzero(body)
    centre = np.array([rows.mean(), cols.mean()])
    scale = np.array([max(np.ptp(rows), 1) / 2, max(np.ptp(cols), 1) / 2], dtype=np.float64)
    # Tones are measured away from the body's edge, where smoothing mixes in the background.
    core = body
    if has_background:  # (outside the frame counts as background too)
        core = cv2.erode(body.astype(np.uint8), np.ones((5, 5), np.uint8), borderType=cv2.BORDER_CONSTANT,
                         borderValue=0) > 0
    if core.sum() < 16:
        core = body
    inside = smooth[core]
    median = float(np.median(inside))
    values: dict[str, float] = {"body_area": float(body.mean())}
    if has_background:
        props = regionprops(body.astype(np.uint8))[0]
        values["body_solidity"] = float(props.solidity)
        values["body_elongation"] = float(1 - props.axis_minor_length / max(props.axis_major_length, 1e-6))
    else:
        values["body_solidity"] = values["body_elongation"] = float("nan")
    masks: dict[str, np.ndarray] = {"body": body}
    local_sd = _local_sd(smooth)
    try:
        low, high = threshold_multiotsu(inside, classes=3)
    except ValueError:  # too few distinct lightness values for three classes
        low, high = -np.inf, np.inf
    dark = core & (smooth <= low) & (smooth <= median - TONE_MARGIN)
    bright = core & (smooth >= high) & (smooth >= median + TONE_MARGIN)
    for tone, mask in (("dark", dark), ("bright", bright)):
        part_values, part_masks = _structures(tone, mask, smooth, local_sd, lab, body, median, centre, scale)
        values.update(part_values)
        masks.update(part_masks)
    for part_values, part_masks in (
        _spots(smooth, lab, core, median),
        _mass(luma, body, median, centre[1]),
        _layout(smooth, local_sd, body, centre, float(np.sqrt(body.sum() / np.pi))),
    ):
        values.update(part_values)
        masks.update(part_masks)
    return Regions(values=values, masks=masks)


def mask_outline(mask: np.ndarray, tolerance: float = 0.7) -> list[np.ndarray]:
    """Return the contours of a bool mask as (k, 2) arrays of (x, y) in [0, 1] image fractions."""
    if not mask.any():
        return []
    height, width = mask.shape
    padded = np.pad(mask.astype(np.float32), 1)
    contours = []
    for contour in find_contours(padded, 0.5):
        if len(contour) < 4:
            continue
        contour = approximate_polygon(contour - 1, tolerance)
        xy = np.stack([(contour[:, 1] + 0.5) / width, (contour[:, 0] + 0.5) / height], axis=1)
        contours.append(np.clip(xy, 0.0, 1.0))
    return contours


class RegionSource:
    """Regions and morphology (body, dark and bright structures, spots, mass, layout) as one concept source
    named ``"region"``."""

    name = "region"

    def __init__(self) -> None:
        self._concepts = [
            _magnitude(id=f"region.{s.name}", phrase=s.phrase, more=s.more, less=s.less, parents=(s.parent,),
                       unit=s.unit, synonyms=s.synonyms)
            for s in SPECS
        ]
        self._masks = {f"region.{s.name}": s.mask for s in SPECS}

    def concepts(self) -> list[Concept]:
        """Return the region concepts, in the column order of ``score``."""
        return list(self._concepts)

    def score(self, images: Sequence[DecodedImage]) -> np.ndarray:
        """Return a float32 array (n_images, n_concepts) of region measures (NaN where there is nothing to
        measure)."""
        out = np.empty((len(images), len(SPECS)), dtype=np.float32)
        for i, image in enumerate(images):
            values = measure_regions(image.pixels).values
            out[i] = [values[s.name] for s in SPECS]
        return out

    def outlines(self, image: DecodedImage, concept_ids: Sequence[str]) -> dict[str, list[np.ndarray]]:
        """Return, for each of this source's ``concept_ids``, the contours of the region it measured on
        ``image`` ((k, 2) arrays of (x, y) image fractions; empty when the region is empty)."""
        wanted = [cid for cid in concept_ids if cid in self._masks]
        if not wanted:
            return {}
        masks = measure_regions(image.pixels).masks
        return {cid: mask_outline(masks[self._masks[cid]]) for cid in wanted}
