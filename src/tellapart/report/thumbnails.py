"""Small JPEG thumbnails embedded in the HTML report as data URIs (no files next to the report)."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

JPEG_QUALITY = 80


def thumbnail_data_uri(pixels: np.ndarray, max_side: int = 160) -> str:
    """Return ``"data:image/jpeg;base64,..."``: the image shrunk so its longest side is ``max_side`` at most.

    ``pixels`` is an H x W x 3 uint8 RGB array (H x W grayscale and H x W x 4 RGBA are accepted too).
    Images smaller than ``max_side`` are not enlarged.
    """
    if max_side < 1:
        raise ValueError(f"max_side must be at least 1, got {max_side}")
    image = _to_pil(np.asarray(pixels))
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
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
