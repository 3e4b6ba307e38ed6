"""Image statistics as concepts: tone, colour, quality and geometry, computed from pixels alone.

Most statistics are computed on a copy downscaled so its longest side is ``WORK_SIDE`` pixels, which makes
them cheap and comparable across image sizes. Noise and JPEG blockiness need every pixel and use the full
decoded image; resolution, aspect ratio and orientation come from ``DecodedImage.original_size``.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from tellapart.concepts.base import Concept
from tellapart.io.image import DecodedImage

WORK_SIDE = 256
COLOUR_SIDE = 128  # means of colour are as good at 128 px, and 4x cheaper

TONE = "stats.tone"
COLOUR = "stats.colour"
CAST = "stats.colour_cast"
QUALITY = "stats.quality"
GEOMETRY = "stats.geometry"

# Hue ranges in degrees [start, end); red wraps around 0.
HUES: dict[str, tuple[float, float]] = {
    "red": (340.0, 20.0),
    "orange": (20.0, 45.0),
    "yellow": (45.0, 70.0),
    "green": (70.0, 160.0),
    "cyan": (160.0, 200.0),
    "blue": (200.0, 260.0),
    "purple": (260.0, 340.0),
}
_HUE_WORDS = {"purple": "purple/magenta"}

# Rec. 601 luma weights for RGB.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
# Immerkaer's noise mask: cancels locally linear image structure, leaves noise (sum of squares = 36).
_NOISE_MASK = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)

GRAYSCALE_THRESHOLD = 0.8
BORDER_THRESHOLD = 0.5


def _magnitude(name: str, phrase: str, more: str, less: str, parent: str, *, unit: str = "",
               synonyms: tuple[str, ...] = (), extra_parents: tuple[str, ...] = ()) -> Concept:
    return Concept(id=f"stats.{name}", phrase=phrase, kind="magnitude", parents=(*extra_parents, parent),
                   more=more, less=less, unit=unit, synonyms=synonyms, category="stats")


def _presence(name: str, phrase: str, parent: str, threshold: float,
              synonyms: tuple[str, ...] = ()) -> Concept:
    return Concept(id=f"stats.{name}", phrase=phrase, kind="presence", parents=(parent,),
                   threshold=threshold, synonyms=synonyms, category="stats")


def _build_concepts() -> list[Concept]:
    concepts = [
        _magnitude("brightness", "brightness", "brighter", "darker", TONE,
                   synonyms=("lightness", "exposure", "luminance", "dark", "bright")),
        _magnitude("contrast", "contrast", "higher-contrast", "lower-contrast", TONE,
                   synonyms=("dynamic range", "flat", "washed out")),
        _magnitude("saturation", "colour saturation", "more saturated", "less saturated", COLOUR,
                   synonyms=("vivid", "muted", "desaturated", "saturation")),
        _magnitude("colourfulness", "colourfulness", "more colourful", "less colourful", COLOUR,
                   synonyms=("colorfulness", "vibrant", "dull colours")),
    ]
    for hue in HUES:
        word = _HUE_WORDS.get(hue, hue)
        concepts.append(_magnitude(
            f"{hue}_tint", f"{word} tint", f"more {hue}-tinted", f"less {hue}-tinted", CAST,
            synonyms=(f"{hue} cast", f"{hue} colour cast", f"{hue}dish", f"{word} colour"),
            extra_parents=(COLOUR,)))
    concepts += [
        _magnitude("warmth", "colour warmth", "warmer", "cooler", COLOUR,
                   synonyms=("colour temperature", "white balance", "warm", "cool")),
        _presence("grayscale", "are grayscale", COLOUR, GRAYSCALE_THRESHOLD,
                  synonyms=("black and white", "monochrome", "greyscale", "no colour")),
        _magnitude("sharpness", "sharpness", "sharper", "blurrier", QUALITY,
                   synonyms=("blur", "focus", "out of focus", "detail")),
        _magnitude("noise", "noise level", "noisier", "cleaner", QUALITY,
                   synonyms=("grain", "grainy", "sensor noise", "speckle")),
        _magnitude("jpeg_blockiness", "JPEG blockiness", "more blocky", "less blocky", QUALITY,
                   synonyms=("compression artefacts", "jpeg artifacts", "blocking", "low quality")),
        _magnitude("resolution", "image size", "larger", "smaller", GEOMETRY, unit="log10 px",
                   synonyms=("resolution", "pixel count", "megapixels", "low resolution")),
        _magnitude("aspect_ratio", "aspect ratio", "wider", "taller", GEOMETRY, unit="log ratio",
                   synonyms=("width to height", "panoramic", "elongated")),
        _presence("landscape", "are in landscape orientation", GEOMETRY, 0.5,
                  synonyms=("horizontal", "wider than tall")),
        _presence("portrait", "are in portrait orientation", GEOMETRY, 0.5,
                  synonyms=("vertical", "taller than wide")),
        _presence("border", "have a uniform border or frame", GEOMETRY, BORDER_THRESHOLD,
                  synonyms=("frame", "padding", "letterbox", "margin")),
        _magnitude("vignetting", "vignetting", "more vignetted", "less vignetted", GEOMETRY,
                   synonyms=("dark corners", "vignette", "light falloff")),
        _magnitude("edge_density", "edge density", "more edge-dense", "less edge-dense", "stats.structure",
                   synonyms=("clutter", "busy", "texture", "detail", "edges")),
    ]
    return concepts


class ImageStatsSource:
    """Pixel statistics (tone, colour, quality, geometry) as one concept source named ``"stats"``."""

    name = "stats"

    def __init__(self) -> None:
        self._concepts = _build_concepts()

    def concepts(self) -> list[Concept]:
        """Return the statistics' concepts, in the column order of ``score``."""
        return list(self._concepts)

    def score(self, images: Sequence[DecodedImage]) -> np.ndarray:
        """Return a float32 array (n_images, n_concepts) of the statistics of each image."""
        ids = [c.id for c in self._concepts]
        out = np.zeros((len(images), len(ids)), dtype=np.float32)
        for i, image in enumerate(images):
            values = image_statistics(image)
            out[i] = [values[cid.split(".", 1)[1]] for cid in ids]
        return out


def image_statistics(image: DecodedImage) -> dict[str, float]:
    """Return every statistic of one image, keyed by concept name (the id without ``"stats."``)."""
    full = np.ascontiguousarray(image.pixels)
    small = _downscale(full, WORK_SIDE)
    rgb = small.astype(np.float32) / 255.0
    luma = rgb @ _LUMA
    full_luma = cv2.cvtColor(full, cv2.COLOR_RGB2GRAY).astype(np.float32)

    values: dict[str, float] = {
        "brightness": float(luma.mean()),
        "contrast": float(luma.std()),
    }
    values.update(_colour_statistics(_downscale(small, COLOUR_SIDE)))
    values["sharpness"] = sharpness(luma)
    values["noise"] = noise_sigma(full_luma)
    values["jpeg_blockiness"] = jpeg_blockiness(full_luma)
    values.update(_geometry(image.original_size))
    values["border"] = border_score(rgb * 255.0)
    values["vignetting"] = vignetting(luma)
    values["edge_density"] = edge_density(small)
    return values


def _downscale(pixels: np.ndarray, side: int) -> np.ndarray:
    h, w = pixels.shape[:2]
    scale = side / max(h, w)
    if scale >= 1.0:
        return pixels
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)


def _colour_statistics(small: np.ndarray) -> dict[str, float]:
    rgb = small.astype(np.float32) / 255.0
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    # Elementwise max/min of the three planes: numpy's reductions over a length-3 axis are ~30x slower.
    maxc = np.maximum(np.maximum(r, g), b)
    chroma = maxc - np.minimum(np.minimum(r, g), b)
    # The 0.1 damps the hue-less dark pixels whose HSV saturation is dominated by noise.
    saturation = chroma / (maxc + 0.1) * 1.1
    rg, yb = 255.0 * (r - g), 255.0 * (0.5 * (r + g) - b)
    colourfulness = np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean())
    hue = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)[..., 0]  # degrees for float input
    values = {
        "saturation": float(saturation.mean()),
        "colourfulness": float(colourfulness),
        "warmth": float((r - b).mean()),
        "grayscale": grayscale_score(small),
    }
    # Bin edges every 5 degrees cover every range's boundaries; sum the chroma of each range's bins.
    per_bin = np.bincount((hue.ravel() // 5).astype(np.intp) % 72, weights=chroma.ravel(), minlength=72)
    per_bin /= chroma.size
    for name, (start, end) in HUES.items():
        first, last = int(start // 5), int(end // 5)
        bins = np.r_[first:72, 0:last] if start > end else np.r_[first:last]
        values[f"{name}_tint"] = float(per_bin[bins].sum())
    return values


def grayscale_score(pixels: np.ndarray) -> float:
    """Return 1 minus the normalised 99th-percentile channel spread: 1.0 for a gray image, 0 for colour.

    ``pixels`` is an RGB uint8 image; the spread is the per-pixel max-min channel difference. A spread of
    25 grey levels or more scores 0, so the threshold 0.8 admits at most 5 levels (JPEG chroma leakage).
    """
    r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    spread = np.maximum(np.maximum(r, g), b) - np.minimum(np.minimum(r, g), b)
    cumulative = np.cumsum(np.bincount(spread.ravel(), minlength=256))
    p99 = int(np.searchsorted(cumulative, 0.99 * spread.size))
    return float(np.clip(1.0 - p99 / 25.0, 0.0, 1.0))


def sharpness(luma: np.ndarray) -> float:
    """Return log10(1 + variance of the Laplacian) of a [0, 1] luma image, measured in 0-255 units."""
    lap = cv2.Laplacian(luma * 255.0, cv2.CV_32F, ksize=1)
    return float(np.log10(1.0 + lap.var()))


def noise_sigma(luma: np.ndarray) -> float:
    """Return the estimated standard deviation of additive noise, in grey levels of a 0-255 luma image.

    Immerkaer's mask removes locally planar structure; averaging the absolute residual over only the flatter
    half of the image (by local gradient) keeps edges and texture out of the estimate.
    """
    if min(luma.shape) < 8:
        return 0.0
    residual = np.abs(cv2.filter2D(luma, cv2.CV_32F, _NOISE_MASK))
    step = max(1, round(np.sqrt(residual.size / 65536)))  # ~65k samples are plenty for a mean
    residual = residual[::step, ::step]
    # Judge flatness on a smoothed, downsampled copy so the noise itself does not decide which pixels count.
    coarse = cv2.resize(luma, (residual.shape[1], residual.shape[0]), interpolation=cv2.INTER_AREA)
    coarse = cv2.blur(coarse, (3, 3))
    grad = np.abs(cv2.Sobel(coarse, cv2.CV_32F, 1, 0)) + np.abs(cv2.Sobel(coarse, cv2.CV_32F, 0, 1))
    residual, grad = residual[1:-1, 1:-1].ravel(), grad[1:-1, 1:-1].ravel()
    flat = grad <= np.median(grad[::4])
    # For Gaussian noise E|r| = sqrt(2/pi) * 6 * sigma (the mask's L2 norm is 6).
    return float(np.sqrt(np.pi / 2) * residual[flat].mean() / 6.0)


def jpeg_blockiness(luma: np.ndarray) -> float:
    """Return the 8x8 grid discontinuity ratio: mean step at the strongest of 8 grid phases over the next one.

    About 1.0 for images that were never JPEG-compressed (or were resized since); rises with compression.
    Dividing by the runner-up phase, not the median, keeps upsampled images (several strong phases) near 1.
    """
    ratios = []
    for axis in (1, 0):
        steps = np.abs(np.diff(luma, axis=axis))
        profile = steps.mean(axis=1 - axis)
        if profile.size < 32:
            continue
        usable = profile[: profile.size // 8 * 8].reshape(-1, 8).mean(axis=0)
        second, top = np.sort(usable)[-2:]
        ratios.append(top / max(float(second), 1e-3))
    return float(np.mean(ratios)) if ratios else 1.0


def _geometry(original_size: tuple[int, int]) -> dict[str, float]:
    w, h = (max(1, int(v)) for v in original_size)
    return {
        "resolution": float(np.log10(w * h)),
        "aspect_ratio": float(np.log(w / h)),
        "landscape": float(w > h),
        "portrait": float(h > w),
    }


def border_score(rgb: np.ndarray) -> float:
    """Return in [0, 1] how strongly the image has a uniform border, distinct from the interior, on each side.

    ``rgb`` is an H x W x 3 float array in 0-255. Each side counts the lines, from the edge inward, that are
    uniform and of the edge's colour; a side scores by how distinct the first non-border lines are from that
    colour. The result is the mean over the four sides, damped when the sides' colours disagree.
    """
    h, w = rgb.shape[:2]
    if min(h, w) < 16:
        return 0.0
    # Reducing over axis 0 of a contiguous array is fast; over axis 1 it is ~20x slower, hence the transpose.
    col_mean, col_std = rgb.mean(axis=0), rgb.std(axis=0).max(axis=1)
    transposed = np.ascontiguousarray(rgb.transpose(1, 0, 2))
    row_mean, row_std = transposed.mean(axis=0), transposed.std(axis=0).max(axis=1)
    sides = [
        (row_mean, row_std, lambda i: rgb[i]),
        (row_mean[::-1], row_std[::-1], lambda i: rgb[h - 1 - i]),
        (col_mean, col_std, lambda i: rgb[:, i]),
        (col_mean[::-1], col_std[::-1], lambda i: rgb[:, w - 1 - i]),
    ]
    scores, colours = [], []
    for means, spreads, line in sides:
        score = _side_border(means, spreads, line)
        scores.append(score)
        if score > 0:
            colours.append(means[0])
    agreement = 1.0
    if len(colours) > 1:
        spread = np.ptp(np.stack(colours), axis=0).max()
        agreement = float(np.clip(1.0 - spread / 60.0, 0.0, 1.0))
    return float(np.mean(scores) * agreement)


def _side_border(means: np.ndarray, spreads: np.ndarray, line) -> float:
    """Score one side from its lines' mean colours and spreads, ordered from the outermost line inward."""
    max_depth = max(2, int(0.3 * len(means)))
    edge = means[0]
    like_edge = (spreads[:max_depth] < 6.0) & (np.abs(means[:max_depth] - edge).max(axis=1) < 10.0)
    depth = int(np.argmin(like_edge)) if not like_edge.all() else max_depth
    if depth == 0 or depth >= max_depth:
        return 0.0
    inner = np.stack([line(i) for i in range(depth, min(depth + 3, len(means)))])
    distinct = float(np.abs(inner - edge).max(axis=-1).mean())
    return float(np.clip(distinct / 30.0, 0.0, 1.0))


def vignetting(luma: np.ndarray) -> float:
    """Return the relative darkening of the corners vs the centre: (centre - corners) / (centre + 0.05)."""
    h, w = luma.shape
    y, x = np.ogrid[:h, :w]
    r = np.sqrt(((x - (w - 1) / 2) / (w / 2)) ** 2 + ((y - (h - 1) / 2) / (h / 2)) ** 2) / np.sqrt(2)
    centre_region, corner_region = luma[r < 0.3], luma[r > 0.85]
    if centre_region.size == 0 or corner_region.size == 0:  # too few pixels to tell centre from corners
        return 0.0
    centre, corners = float(centre_region.mean()), float(corner_region.mean())
    return (centre - corners) / (centre + 0.05)


def edge_density(small: np.ndarray) -> float:
    """Return the share of pixels that are Canny edges (thresholds 50/150 on 0-255 luma) at working size."""
    gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    return float((cv2.Canny(gray, 50, 150) > 0).mean())
