"""Edits with a known effect, applied to RGB uint8 arrays.

Every function returns a new array (the input is never modified) of the same height and width.
"""

from __future__ import annotations

import io

import cv2
import numpy as np

NAMED_COLOURS = {
    "red": (220, 30, 30),
    "green": (30, 180, 60),
    "blue": (30, 60, 220),
    "yellow": (240, 220, 30),
    "white": (255, 255, 255),
    "black": (0, 0, 0),
    "magenta": (220, 40, 200),
    "cyan": (40, 210, 220),
}
# The hue of each stats.<hue>_tint concept, as the RGB colour blended in by `tint`.
TINTS = {
    "red": (255, 0, 0),
    "orange": (255, 128, 0),
    "yellow": (255, 230, 0),
    "green": (0, 200, 0),
    "cyan": (0, 220, 255),
    "blue": (0, 40, 255),
    "purple": (200, 0, 255),
}
CORNERS = ("top_left", "top_right", "bottom_left", "bottom_right")
Colour = str | tuple[int, int, int]
Position = str | tuple[int, int]


def _rgb(colour: Colour, rng: np.random.Generator | None = None) -> tuple[int, int, int]:
    if colour == "random":
        if rng is None:
            raise ValueError("colour='random' needs a random generator")
        names = sorted(NAMED_COLOURS)
        return NAMED_COLOURS[names[int(rng.integers(len(names)))]]
    if isinstance(colour, str):
        if colour not in NAMED_COLOURS:
            raise ValueError(
                f"unknown colour {colour!r}; use 'random', one of {sorted(NAMED_COLOURS)} or (r, g, b)"
            )
        return NAMED_COLOURS[colour]
    return tuple(int(c) for c in colour)  # type: ignore[return-value]


def _place(
    img: np.ndarray, rng: np.random.Generator, rw: int, rh: int, position: Position
) -> tuple[int, int]:
    """Top-left (x, y) of a ``rw`` x ``rh`` box: random, a few pixels in from a corner, or given."""
    h, w = img.shape[:2]
    if rw < 1 or rh < 1 or rw > w or rh > h:
        raise ValueError(f"a shape of {rw}x{rh} px does not fit an image of {w}x{h} px")
    margin = max(2, min(h, w) // 20)
    corners = {
        "top_left": (margin, margin),
        "top_right": (w - rw - margin, margin),
        "bottom_left": (margin, h - rh - margin),
        "bottom_right": (w - rw - margin, h - rh - margin),
    }
    if position == "random":
        return int(rng.integers(0, w - rw + 1)), int(rng.integers(0, h - rh + 1))
    if position == "random_corner":
        position = CORNERS[int(rng.integers(len(CORNERS)))]
    if isinstance(position, str):
        if position not in corners:
            raise ValueError(
                f"unknown position {position!r}; use 'random', 'random_corner', "
                f"{', '.join(corners)} or (x, y)"
            )
        x, y = corners[position]
        return max(0, x), max(0, y)
    return int(position[0]), int(position[1])


def darken(img: np.ndarray, factor: float = 0.6) -> np.ndarray:
    """Return the image with every pixel value multiplied by ``factor`` (0 < factor <= 1)."""
    if not 0 < factor <= 1:
        raise ValueError(f"darken factor must be in (0, 1], got {factor}")
    return (img.astype(np.float32) * factor).round().clip(0, 255).astype(np.uint8)


def brighten(img: np.ndarray, amount: float) -> np.ndarray:
    """Return the image moved ``amount`` (0-1) of the way from each pixel value towards white."""
    if not 0 <= amount <= 1:
        raise ValueError(f"brighten amount must be in [0, 1], got {amount}")
    out = img.astype(np.float32)
    return (out + (255 - out) * amount).round().clip(0, 255).astype(np.uint8)


def paste_rectangle(
    img: np.ndarray,
    rng: np.random.Generator,
    size: int | tuple[int, int] = 20,
    colour: Colour = "red",
    position: Position = "random",
) -> np.ndarray:
    """Return a copy with a solid rectangle of ``size`` pixels (side, or (w, h)) pasted on it.

    ``position`` is "random", a corner name ("top_left", "top_right", "bottom_left", "bottom_right";
    placed a few pixels in from the corner), "random_corner", or an (x, y) top-left coordinate.
    """
    out = img.copy()
    rw, rh = (size, size) if isinstance(size, int) else size
    x, y = _place(out, rng, rw, rh, position)
    out[y : y + rh, x : x + rw] = _rgb(colour, rng)
    return out


def paste_circle(
    img: np.ndarray,
    rng: np.random.Generator,
    diameter: int = 20,
    colour: Colour = "red",
    position: Position = "random",
) -> np.ndarray:
    """Return a copy with a solid disc ``diameter`` px wide drawn on it (``position`` as paste_rectangle)."""
    out = np.ascontiguousarray(img.copy())
    x, y = _place(out, rng, diameter, diameter, position)
    r = diameter / 2
    cv2.circle(
        out,
        (int(round(x + r - 0.5)), int(round(y + r - 0.5))),
        max(1, int(r)),
        _rgb(colour, rng),
        -1,
        lineType=cv2.LINE_8,
    )
    return out


def paste_triangle(
    img: np.ndarray,
    rng: np.random.Generator,
    size: int = 20,
    colour: Colour = "red",
    position: Position = "random",
) -> np.ndarray:
    """Return a copy with a solid upward triangle (base and height ``size`` px) drawn on it."""
    out = np.ascontiguousarray(img.copy())
    x, y = _place(out, rng, size, size, position)
    points = np.array([[x, y + size - 1], [x + size - 1, y + size - 1], [x + (size - 1) // 2, y]], np.int32)
    cv2.fillPoly(out, [points], _rgb(colour, rng), lineType=cv2.LINE_8)
    return out


def draw_line(
    img: np.ndarray,
    rng: np.random.Generator,
    length: int = 40,
    thickness: int = 3,
    colour: Colour = "red",
    position: Position = "random",
) -> np.ndarray:
    """Return a copy with a straight bar ``length`` x ``thickness`` px, horizontal or vertical at random."""
    horizontal = bool(rng.integers(2))
    rw, rh = (length, thickness) if horizontal else (thickness, length)
    return paste_rectangle(img, rng, (rw, rh), colour, position)


WORDS = ("SAMPLE", "DRAFT", "TEST", "COPY", "2024", "ID 17", "LOT 42", "OK", "NO", "REF")


def draw_text(
    img: np.ndarray,
    rng: np.random.Generator,
    height: int = 16,
    colour: Colour = "white",
    position: Position = "random",
    text: str | None = None,
) -> np.ndarray:
    """Return a copy with a short text string about ``height`` px tall written on it (OpenCV Hershey font)."""
    out = np.ascontiguousarray(img.copy())
    word = text if text is not None else WORDS[int(rng.integers(len(WORDS)))]
    font = cv2.FONT_HERSHEY_SIMPLEX
    scale = max(0.2, height / 22.0)
    thickness = max(1, int(round(height / 10)))
    (tw, th), base = cv2.getTextSize(word, font, scale, thickness)
    h, w = out.shape[:2]
    while tw > w - 4 and scale > 0.2:
        scale *= 0.8
        (tw, th), base = cv2.getTextSize(word, font, scale, thickness)
    x, y = _place(out, rng, min(tw, w), min(th + base, h), position)
    cv2.putText(out, word, (x, y + th), font, scale, _rgb(colour, rng), thickness, cv2.LINE_AA)
    return out


def paste_image(
    img: np.ndarray, rng: np.random.Generator, sticker: np.ndarray, size: int, position: Position = "random"
) -> np.ndarray:
    """Return a copy with ``sticker`` (RGB or RGBA uint8) scaled so its longer side is ``size`` px pasted on.

    An alpha channel is respected (transparent parts leave the image as it was).
    """
    out = img.copy()
    sh, sw = sticker.shape[:2]
    scale = size / max(sh, sw)
    new = (max(1, round(sw * scale)), max(1, round(sh * scale)))
    small = cv2.resize(sticker, new, interpolation=cv2.INTER_AREA)
    x, y = _place(out, rng, new[0], new[1], position)
    region = out[y : y + new[1], x : x + new[0]].astype(np.float32)
    if small.shape[-1] == 4:
        alpha = small[..., 3:4].astype(np.float32) / 255
        blended = small[..., :3].astype(np.float32) * alpha + region * (1 - alpha)
    else:
        blended = small.astype(np.float32)
    out[y : y + new[1], x : x + new[0]] = blended.round().clip(0, 255).astype(np.uint8)
    return out


def emblem(size: int = 64, seed: int = 0) -> np.ndarray:
    """Return a procedural RGBA emblem (a disc with a contrasting star), used when clip-art is missing."""
    rng = np.random.default_rng(seed)
    out = np.zeros((size, size, 4), np.uint8)
    names = sorted(NAMED_COLOURS)
    ring, star = (NAMED_COLOURS[names[i]] for i in rng.choice(len(names), 2, replace=False))
    centre = (size // 2, size // 2)
    cv2.circle(out, centre, size // 2 - 1, (*ring, 255), -1, lineType=cv2.LINE_AA)
    angles = np.linspace(-np.pi / 2, 1.5 * np.pi, 11)[:-1]
    radii = np.where(np.arange(10) % 2 == 0, size * 0.4, size * 0.17)
    points = np.stack([centre[0] + radii * np.cos(angles), centre[1] + radii * np.sin(angles)], 1).astype(
        np.int32
    )
    cv2.fillPoly(out, [points], (*star, 255), lineType=cv2.LINE_AA)
    return out


def adjust_contrast(img: np.ndarray, factor: float) -> np.ndarray:
    """Return the image with each value's distance from the mean grey level scaled by ``factor`` (> 0)."""
    if factor <= 0:
        raise ValueError(f"contrast factor must be positive, got {factor}")
    out = img.astype(np.float32)
    mean = out.mean()
    return ((out - mean) * factor + mean).round().clip(0, 255).astype(np.uint8)


def adjust_saturation(img: np.ndarray, factor: float) -> np.ndarray:
    """Return the image with its colour saturation scaled by ``factor`` (0 = grayscale, 1 = unchanged)."""
    if factor < 0:
        raise ValueError(f"saturation factor must be >= 0, got {factor}")
    out = img.astype(np.float32)
    grey = (out @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]
    return (grey + (out - grey) * factor).round().clip(0, 255).astype(np.uint8)


def tint(img: np.ndarray, hue: str, amount: float) -> np.ndarray:
    """Return the image blended ``amount`` (0-1) towards the hue ``hue`` (a TINTS key), keeping lightness."""
    if hue not in TINTS:
        raise ValueError(f"unknown tint {hue!r}; use one of {sorted(TINTS)}")
    if not 0 <= amount <= 1:
        raise ValueError(f"tint amount must be in [0, 1], got {amount}")
    out = img.astype(np.float32)
    weights = np.array([0.299, 0.587, 0.114], np.float32)
    colour = np.array(TINTS[hue], np.float32)
    grey = (out @ weights)[..., None]
    coloured = colour * grey / max(float(colour @ weights), 1.0)
    return (out * (1 - amount) + coloured * amount).round().clip(0, 255).astype(np.uint8)


def blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Return the image smoothed by a Gaussian of ``sigma`` pixels."""
    if sigma <= 0:
        raise ValueError(f"blur sigma must be positive, got {sigma}")
    return cv2.GaussianBlur(img, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT)


def add_noise(img: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    """Return the image with independent Gaussian noise of ``sigma`` grey levels added to every value."""
    if sigma < 0:
        raise ValueError(f"noise sigma must be >= 0, got {sigma}")
    noisy = img.astype(np.float32) + rng.normal(0, sigma, img.shape).astype(np.float32)
    return noisy.round().clip(0, 255).astype(np.uint8)


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    """Return the image after a round trip through JPEG at ``quality`` (1-95, lower = more artefacts)."""
    from PIL import Image

    if not 1 <= quality <= 95:
        raise ValueError(f"JPEG quality must be in [1, 95], got {quality}")
    buffer = io.BytesIO()
    Image.fromarray(img).save(buffer, format="JPEG", quality=int(quality))
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def down_up(img: np.ndarray, factor: float) -> np.ndarray:
    """Return the image shrunk by ``factor`` (> 1) and enlarged back to its size (a loss of resolution)."""
    if factor <= 1:
        raise ValueError(f"downscale factor must be above 1, got {factor}")
    h, w = img.shape[:2]
    small = cv2.resize(
        img, (max(1, round(w / factor)), max(1, round(h / factor))), interpolation=cv2.INTER_AREA
    )
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def add_border(
    img: np.ndarray, rng: np.random.Generator, width: int, colour: Colour = "random"
) -> np.ndarray:
    """Return the image with a uniform frame ``width`` px wide painted over its outer pixels."""
    h, w = img.shape[:2]
    if not 1 <= width < min(h, w) // 2:
        raise ValueError(f"border width {width} px does not fit an image of {w}x{h} px")
    out = img.copy()
    rgb = _rgb(colour, rng)
    out[:width], out[-width:], out[:, :width], out[:, -width:] = rgb, rgb, rgb, rgb
    return out


def vignette(img: np.ndarray, amount: float) -> np.ndarray:
    """Return the image darkened towards its corners: by ``amount`` (0-1) of the value at the corners."""
    if not 0 <= amount <= 1:
        raise ValueError(f"vignette amount must be in [0, 1], got {amount}")
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.hypot((xx - (w - 1) / 2) / (w / 2), (yy - (h - 1) / 2) / (h / 2)) / np.sqrt(2)
    gain = 1 - amount * np.clip(r, 0, 1) ** 2
    return (img.astype(np.float32) * gain[..., None]).round().clip(0, 255).astype(np.uint8)


def rotate(img: np.ndarray, degrees: float) -> np.ndarray:
    """Return the image rotated by ``degrees`` and zoomed just enough that no empty corner shows."""
    h, w = img.shape[:2]
    theta = np.deg2rad(abs(degrees))
    # Zoom so the rotated image covers the whole frame (the rotated frame's inscribed box >= w x h).
    zoom = max((w * np.cos(theta) + h * np.sin(theta)) / w, (w * np.sin(theta) + h * np.cos(theta)) / h)
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), degrees, zoom)
    return cv2.warpAffine(img, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def zoom(img: np.ndarray, factor: float) -> np.ndarray:
    """Return the central 1/``factor`` of the image enlarged back to full size (a crop-zoom)."""
    if factor <= 1:
        raise ValueError(f"zoom factor must be above 1, got {factor}")
    h, w = img.shape[:2]
    ch, cw = max(1, round(h / factor)), max(1, round(w / factor))
    y, x = (h - ch) // 2, (w - cw) // 2
    return cv2.resize(img[y : y + ch, x : x + cw], (w, h), interpolation=cv2.INTER_LINEAR)
