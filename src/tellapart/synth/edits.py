"""Edits with a known effect, applied to RGB uint8 arrays."""

from __future__ import annotations

import numpy as np

NAMED_COLOURS = {
    "red": (220, 30, 30), "green": (30, 180, 60), "blue": (30, 60, 220), "yellow": (240, 220, 30),
    "white": (255, 255, 255), "black": (0, 0, 0), "magenta": (220, 40, 200), "cyan": (40, 210, 220),
}


def darken(img: np.ndarray, factor: float = 0.6) -> np.ndarray:
    """Return the image with every pixel value multiplied by ``factor`` (0 < factor <= 1)."""
    if not 0 < factor <= 1:
        raise ValueError(f"darken factor must be in (0, 1], got {factor}")
    return (img.astype(np.float32) * factor).round().clip(0, 255).astype(np.uint8)


def paste_rectangle(img: np.ndarray, rng: np.random.Generator, size: int | tuple[int, int] = 20,
                    colour: str | tuple[int, int, int] = "red",
                    position: str | tuple[int, int] = "random") -> np.ndarray:
    """Return a copy with a solid rectangle of ``size`` pixels (side, or (w, h)) pasted on it.

    ``position`` is "random", a corner name ("top_left", "top_right", "bottom_left", "bottom_right";
    placed a few pixels in from the corner), or an (x, y) top-left coordinate.
    """
    out = img.copy()
    h, w = out.shape[:2]
    rw, rh = (size, size) if isinstance(size, int) else size
    if rw < 1 or rh < 1 or rw > w or rh > h:
        raise ValueError(f"rectangle of {rw}x{rh} px does not fit an image of {w}x{h} px")
    rgb = NAMED_COLOURS[colour] if isinstance(colour, str) else colour
    margin = max(2, min(h, w) // 20)
    corners = {
        "top_left": (margin, margin), "top_right": (w - rw - margin, margin),
        "bottom_left": (margin, h - rh - margin), "bottom_right": (w - rw - margin, h - rh - margin),
    }
    if position == "random":
        x, y = int(rng.integers(0, w - rw + 1)), int(rng.integers(0, h - rh + 1))
    elif isinstance(position, str):
        if position not in corners:
            raise ValueError(f"unknown position {position!r}; use 'random', {', '.join(corners)} or (x, y)")
        x, y = corners[position]
    else:
        x, y = position
    out[max(0, y) : y + rh, max(0, x) : x + rw] = rgb
    return out
