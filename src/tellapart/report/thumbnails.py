"""Small JPEG thumbnails embedded in the HTML report as data URIs (no files next to the report).

A thumbnail can carry a heat overlay: where a learned detector finds its concept (see
``LearnedDetectors.localise``), drawn red (weak) to yellow (strong) and semi-transparent over the image.
"""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

JPEG_QUALITY = 80
HEAT_OPACITY = 0.6  # the overlay's opacity where the heat is 1
MIN_HEAT_SCALE = 2.0  # logits: full heat needs at least this much evidence (sigmoid(2) = 0.88)


def thumbnail_data_uri(pixels: np.ndarray, max_side: int = 160) -> str:
    """Return ``"data:image/jpeg;base64,..."``: the image shrunk so its longest side is ``max_side`` at most.

    ``pixels`` is an H x W x 3 uint8 RGB array (H x W grayscale and H x W x 4 RGBA are accepted too).
    Images smaller than ``max_side`` are not enlarged.
    """
    if max_side < 1:
        raise ValueError(f"max_side must be at least 1, got {max_side}")
    image = _to_pil(np.asarray(pixels))
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return _jpeg_uri(image)


def overlay_data_uri(pixels: np.ndarray, heat: np.ndarray, max_side: int = 160) -> str:
    """Return a JPEG data URI like `thumbnail_data_uri`, with ``heat`` drawn over the image.

    ``heat`` holds values in [0, 1] (0 = nothing drawn) on any grid covering the whole frame; it is resized
    bilinearly to the thumbnail. Heat is red turning yellow as it grows, its opacity ``HEAT_OPACITY * heat``.
    """
    if max_side < 1:
        raise ValueError(f"max_side must be at least 1, got {max_side}")
    image = _to_pil(np.asarray(pixels))
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    heat = np.clip(np.nan_to_num(np.asarray(heat, dtype=np.float32)), 0.0, 1.0)
    if heat.ndim != 2:
        raise ValueError(f"heat must be a 2-d map, got shape {heat.shape}")
    heat = np.asarray(Image.fromarray(heat, mode="F").resize(image.size, Image.Resampling.BILINEAR))
    heat = np.clip(heat, 0.0, 1.0)[:, :, None]
    colour = np.concatenate([np.full_like(heat, 255.0), 255.0 * heat, np.zeros_like(heat)], axis=2)
    alpha = HEAT_OPACITY * heat
    blended = np.asarray(image, dtype=np.float32) * (1 - alpha) + colour * alpha
    return _jpeg_uri(Image.fromarray(blended.round().clip(0, 255).astype(np.uint8), mode="RGB"))


def heat_from_maps(
    maps: list[np.ndarray], quantile: float = 0.99, min_scale: float = MIN_HEAT_SCALE
) -> list[np.ndarray]:
    """Scale localisation maps (logit units) to heat in [0, 1] on one scale shared by all of them.

    Only positive values (evidence for the concept) get heat; 1 is the ``quantile`` of every map's positive
    values together, but at least ``min_scale`` logits, so a strongly detected image glows, one the detector
    rejects stays plain, and faint evidence is not stretched into a glow when no image shows it strongly.
    """
    positive = np.concatenate([np.ravel(m)[np.ravel(m) > 0] for m in maps]) if maps else np.empty(0)
    positive = positive[np.isfinite(positive)]
    if not positive.size:
        return [np.zeros_like(m, dtype=np.float32) for m in maps]
    scale = max(float(np.quantile(positive, quantile)), min_scale)
    return [np.clip(np.nan_to_num(m / scale), 0.0, 1.0).astype(np.float32) for m in maps]


def _jpeg_uri(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _to_pil(pixels: np.ndarray) -> Image.Image:
    """An RGB PIL image from a uint8 array, compositing any alpha channel on white."""
    if pixels.dtype != np.uint8:
        raise ValueError(f"pixels must be uint8, got {pixels.dtype}")
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    if pixels.ndim == 2:
        return Image.fromarray(pixels, mode="L").convert("RGB")
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        rgba = Image.fromarray(pixels, mode="RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if pixels.ndim == 3 and pixels.shape[2] == 3:
        return Image.fromarray(np.ascontiguousarray(pixels), mode="RGB")
    raise ValueError(f"pixels must be H x W, H x W x 3 or H x W x 4, got shape {pixels.shape}")
