"""Safe decoding: bytes or in-memory images -> `DecodedImage` (H x W x 3 uint8 RGB), or `UnreadableImage`.

Every way an image can fail to decode ends in `UnreadableImage` whose ``reason`` is a sentence a person can
act on; nothing else escapes `decode_bytes`. Pixel data is never decoded before the image's size has been
checked against `MAX_PIXELS`.
"""

from __future__ import annotations

import io
import numbers
import re
import struct
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import ExifTags, Image, UnidentifiedImageError

from tellapart.io.image import DecodedImage

ANALYSIS_MAX_SIDE = 1024
MAX_PIXELS = 89_478_485

# (magic bytes, offset, message) for formats Pillow cannot read, so the reason says what the file is.
_KNOWN_UNSUPPORTED = (
    # Only reached when DICOM bytes are decoded as a photo (``decode_bytes`` called directly): image sets
    # read DICOM files with pydicom (``io.frames.read_frames``).
    (b"DICM", 128, "a DICOM file, which Pillow cannot decode; read it through an image set (a folder, a "
                   "path, ImageSet.from_spec), which decodes DICOM with pydicom (pip install "
                   "'tellapart[medical]')"),
    (b"%PDF", 0, "a PDF document; export its pages to PNG or JPEG"),
    (b"ftypheic", 4, "a HEIC photo; install pillow-heif and call pillow_heif.register_heif_opener()"),
    (b"ftypheix", 4, "a HEIC photo; install pillow-heif and call pillow_heif.register_heif_opener()"),
    (b"ftypmif1", 4, "a HEIF image; install pillow-heif and call pillow_heif.register_heif_opener()"),
    (b"ftypavif", 4, "an AVIF image, which this Pillow build cannot read; install pillow-avif-plugin"),
    (b"\x1a\x45\xdf\xa3", 0, "a video (Matroska/WebM); extract frames first"),
    (b"PK\x03\x04", 0, "a ZIP archive; unpack it first"),
)
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_HIGH_DEPTH_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I", "F"})
_WHITE = (255, 255, 255)
_TRUNCATED = "truncated image data: the file ends early (an incomplete download or copy?)"
# EXIF orientation -> the transpose that shows the image upright (PIL.ImageOps.exif_transpose's table).
_TRANSPOSES = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# What Pillow raises for an EXIF block it cannot parse: SyntaxError (no valid TIFF header), struct.error
# (the block ends inside a header or directory), ValueError (bad hex in a PNG "Raw profile type exif").
_EXIF_ERRORS = (SyntaxError, struct.error, ValueError)


class UnreadableImage(Exception):
    """An image that cannot be used; ``reason`` says why, in a sentence a person can act on."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def decode_bytes(data: bytes, source: str, key: str) -> DecodedImage:
    """Decode an encoded image file's bytes.

    Returns a `DecodedImage` whose pixels are RGB uint8 with EXIF orientation applied, alpha composited on
    white, at most `ANALYSIS_MAX_SIDE` pixels on the longest side. Raises `UnreadableImage` for empty,
    non-image, truncated, corrupt or over-large (more than `MAX_PIXELS` pixels) data.
    """
    if len(data) == 0:
        raise UnreadableImage("empty file (0 bytes)")
    with warnings.catch_warnings():
        # Pillow only warns between its limit and twice its limit; treat the warning as the error it is.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            raise UnreadableImage(_not_an_image_reason(data)) from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise UnreadableImage(_bomb_reason(_pixels_in_message(exc))) from None
        except Exception as exc:  # untrusted input: every parser failure is "corrupt"
            raise UnreadableImage(_corrupt_reason(exc)) from None
        with img:
            fmt, stored_size = img.format, img.size
            _check_size(img)
            _draft_jpeg(img)
            _load(img)
            orientation, notes = read_orientation(img)
            original_size = _oriented_size(stored_size, orientation)
            rgb = _to_rgb(_transposed(img, orientation))
            return finish_decode(rgb, key, source, original_size, fmt, notes)


def decode_object(obj: Image.Image | np.ndarray, source: str, key: str) -> DecodedImage:
    """Decode an in-memory image: a PIL image, or an array (HxW, HxWx1, HxWx3 or HxWx4; uint8, uint16,
    other integers, bool, or float in [0, 1]).

    Returns a `DecodedImage` like `decode_bytes` does (with ``format`` None for arrays). Raises
    `UnreadableImage` if the object is not an image this module can convert. The object is not modified
    (a lazily opened PIL image is loaded).
    """
    prepared = prepare_image(obj)
    return finish_decode(prepared.rgb, key, source, prepared.original_size, prepared.format, prepared.notes)


@dataclass(frozen=True)
class PreparedImage:
    """An in-memory image converted to full-size RGB, not yet downscaled (see `finish_decode`).

    Attributes:
        rgb: the RGB PIL image, EXIF orientation applied.
        original_size: (width, height) as stored, after EXIF rotation.
        format: the PIL format of the object, or None for arrays.
        notes: what was degraded on the way (see `DecodedImage.notes`).
    """

    rgb: Image.Image
    original_size: tuple[int, int]
    format: str | None
    notes: tuple[str, ...] = ()


def prepare_image(obj: object) -> PreparedImage:
    """Convert an in-memory image (PIL image or array) to a full-size RGB PIL image, EXIF orientation applied.

    Returns a `PreparedImage`. Raises `UnreadableImage`. Hash ``np.asarray(image)`` to key the object by
    its pixels.
    """
    if isinstance(obj, Image.Image):
        return _prepare_pil(obj)
    if isinstance(obj, np.ndarray):
        rgb = Image.fromarray(array_to_rgb(obj), "RGB")
        return PreparedImage(rgb, rgb.size, None)
    raise UnreadableImage(
        f"a {type(obj).__name__} is not an image; give a file path, a PIL image or a numpy array"
    )


def array_to_rgb(arr: np.ndarray) -> np.ndarray:
    """Convert an image array to H x W x 3 uint8 RGB.

    Returns the converted array (the input itself if it already is contiguous H x W x 3 uint8). bool
    becomes 0/255; uint16 (and other integers with values beyond 0..255) are scaled from their actual
    min..max to 0..255; floats must lie in [0, 1]. A fourth channel is alpha and is composited on white.
    Raises `UnreadableImage` with the reason otherwise.
    """
    _check_array_shape(arr)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    alpha = None
    if arr.ndim == 3 and arr.shape[2] == 4:
        arr, alpha = arr[:, :, :3], _alpha_fraction(arr[:, :, 3])
    rgb = _values_to_uint8(arr)
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[:, :, None], 3, axis=2)
    if alpha is not None:
        blended = rgb * alpha[:, :, None] + 255.0 * (1.0 - alpha[:, :, None])
        rgb = np.rint(blended).astype(np.uint8)
    return np.ascontiguousarray(rgb)


# --- PIL pipeline -----------------------------------------------------------------------------------------


def _prepare_pil(img: Image.Image) -> PreparedImage:
    fmt, stored_size = getattr(img, "format", None), img.size
    _check_size(img)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        _load(img)
    orientation, notes = read_orientation(img)
    rgb = _to_rgb(_transposed(img, orientation))
    return PreparedImage(rgb, _oriented_size(stored_size, orientation), fmt, notes)


def _check_size(img: Image.Image) -> None:
    width, height = img.size
    if width <= 0 or height <= 0:
        raise UnreadableImage(f"image has no pixels (size {width}x{height})")
    if width * height > MAX_PIXELS:
        raise UnreadableImage(_bomb_reason(width * height))


def _draft_jpeg(img: Image.Image) -> None:
    """Let the JPEG decoder skip detail we would throw away (decodes at 1/2, 1/4 or 1/8 scale)."""
    if img.format not in ("JPEG", "MPO") or max(img.size) <= ANALYSIS_MAX_SIDE:
        return
    img.draft("RGB", _target_size(img.size))


def _load(img: Image.Image) -> None:
    try:
        img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise UnreadableImage(_bomb_reason(_pixels_in_message(exc))) from None
    except MemoryError:
        raise UnreadableImage("not enough memory to decode this image") from None
    except (OSError, EOFError) as exc:
        if isinstance(exc, EOFError) or "truncated" in str(exc).lower():
            raise UnreadableImage(_TRUNCATED) from None
        raise UnreadableImage(_corrupt_reason(exc)) from None
    except Exception as exc:  # untrusted input: every decoder failure is "corrupt"
        raise UnreadableImage(_corrupt_reason(exc)) from None


def read_orientation(img: Image.Image) -> tuple[int, tuple[str, ...]]:
    """Read the EXIF orientation of a loaded image.

    Returns (orientation to apply, 1-8 with 1 meaning "as stored"; notes). When the EXIF block cannot be
    parsed, or its orientation is not one of 1-8, or a damaged block holds none, the image is used as
    stored and the one note says so: a wrong orientation must show up in the result, not as a finding.
    """
    try:
        value, damage = _exif_orientation(img)
    except _EXIF_ERRORS as exc:
        return 1, (f"EXIF orientation could not be read ({type(exc).__name__}: {exc}); used as stored",)
    if value is None:
        if damage:
            return 1, (f"EXIF block is damaged ({damage}) and gives no orientation; used as stored",)
        return 1, ()
    orientation = _valid_orientation(value)
    if orientation is None:
        return 1, (f"EXIF orientation {value!r} is not one of 1-8; used as stored",)
    return orientation, ()


def _exif_orientation(img: Image.Image) -> tuple[object, str | None]:
    """Return (the raw EXIF/XMP Orientation value or None, Pillow's first warning while parsing or None).

    Raises one of `_EXIF_ERRORS` for a block Pillow cannot parse.
    """
    raw = img.info.get("exif")
    with warnings.catch_warnings(record=True) as caught:
        # Pillow warns, and skips the rest, on a directory that ends early: the orientation may be lost.
        warnings.simplefilter("always", UserWarning)
        if isinstance(raw, bytes):
            # The JPEG opener parses this block too but hides its errors (keeping an empty EXIF), so
            # parse it again to see them.
            Image.Exif().load(raw)
        value = img.getexif().get(ExifTags.Base.Orientation)
    warned = [str(w.message).strip() for w in caught if issubclass(w.category, UserWarning)]
    return value, (warned[0] if warned else None)


def _valid_orientation(value: object) -> int | None:
    """Return ``value`` as an int if it is a whole number from 1 to 8 (of any numeric type), else None."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    number = float(value)  # a rational with a zero denominator is NaN
    return int(number) if number.is_integer() and 1 <= number <= 8 else None


def _oriented_size(stored_size: tuple[int, int], orientation: int) -> tuple[int, int]:
    """(width, height) as stored, before any draft-mode reduction, after EXIF rotation."""
    width, height = stored_size
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def _transposed(img: Image.Image, orientation: int) -> Image.Image:
    """Return the image turned upright for ``orientation`` (``img`` itself for 1; never modified)."""
    method = _TRANSPOSES.get(orientation)
    return img if method is None else img.transpose(method)


def _to_rgb(img: Image.Image) -> Image.Image:
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in _HIGH_DEPTH_MODES:
        gray = _stretch_finite(np.asarray(img))
        return Image.fromarray(gray, "L").convert("RGB")
    if mode in _ALPHA_MODES or (mode in ("P", "L", "RGB") and "transparency" in img.info):
        return _composite_on_white(img.convert("RGBA"))
    try:
        return img.convert("RGB")
    except (ValueError, OSError) as exc:
        raise UnreadableImage(f"unsupported pixel mode {mode!r} ({exc})") from None


def _composite_on_white(rgba: Image.Image) -> Image.Image:
    background = Image.new("RGB", rgba.size, _WHITE)
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background


def _target_size(size: tuple[int, int]) -> tuple[int, int]:
    width, height = size
    scale = ANALYSIS_MAX_SIDE / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def finish_decode(
    rgb: Image.Image,
    key: str,
    source: str,
    original_size: tuple[int, int],
    fmt: str | None,
    notes: Sequence[str] = (),
) -> DecodedImage:
    """Downscale a full-size RGB image to at most `ANALYSIS_MAX_SIDE` and wrap it.

    Returns the `DecodedImage` (pixels are a writable H x W x 3 uint8 array; ``notes`` say what was
    degraded on the way, e.g. by `read_orientation`).
    """
    if max(rgb.size) > ANALYSIS_MAX_SIDE:
        # reducing_gap: a fast box reduction first, then an antialiased bilinear pass (near-identical output).
        rgb = rgb.resize(_target_size(rgb.size), Image.Resampling.BILINEAR, reducing_gap=3.0)
    pixels = np.asarray(rgb, dtype=np.uint8)
    if not pixels.flags.writeable:
        pixels = pixels.copy()
    return DecodedImage(
        key=key, source=source, pixels=pixels, original_size=original_size, format=fmt, notes=tuple(notes)
    )


# --- arrays -----------------------------------------------------------------------------------------------


def _check_array_shape(arr: np.ndarray) -> None:
    shape = tuple(arr.shape)
    if arr.ndim == 3 and shape[0] in (1, 3, 4) and shape[2] not in (1, 3, 4):
        raise UnreadableImage(
            f"array has shape {shape}, which looks channels-first; an image needs HxW or HxWxC, "
            "so transpose it with arr.transpose(1, 2, 0)"
        )
    if not (arr.ndim == 2 or (arr.ndim == 3 and shape[2] in (1, 3, 4))):
        raise UnreadableImage(f"array has shape {shape} but an image needs HxW or HxWxC with C = 1, 3 or 4")
    if arr.size == 0:
        raise UnreadableImage(f"array has shape {shape}, which holds no pixels")
    if arr.shape[0] * arr.shape[1] > MAX_PIXELS:
        raise UnreadableImage(_bomb_reason(arr.shape[0] * arr.shape[1]))
    if arr.dtype.kind not in "buif":
        raise UnreadableImage(
            f"array has dtype {arr.dtype}, but an image needs uint8, uint16, other integers, bool or float"
        )


def _values_to_uint8(arr: np.ndarray) -> np.ndarray:
    kind = arr.dtype.kind
    if arr.dtype == np.uint8:
        return arr
    if kind == "b":
        return arr.astype(np.uint8) * 255
    if kind == "f":
        if not np.isfinite(arr).all():
            raise UnreadableImage("float array contains NaN or infinite values")
        low, high = float(arr.min()), float(arr.max())
        if low < 0.0 or high > 1.0:
            raise UnreadableImage(
                f"float array has values from {low:.4g} to {high:.4g}, but float images must lie in [0, 1]; "
                "divide by the maximum (or convert to uint8) first"
            )
        return np.rint(arr * 255.0).astype(np.uint8)
    low, high = int(arr.min()), int(arr.max())
    if arr.dtype != np.uint16 and low >= 0 and high <= 255:
        return arr.astype(np.uint8)  # e.g. int64 arrays holding 8-bit values
    return _stretch(arr, low, high)


def _stretch(arr: np.ndarray, low: float, high: float) -> np.ndarray:
    """Scale the actual value range to 0..255 (16-bit data rarely spans the full 0..65535).

    A constant image has no range; it is placed on the type's nominal scale (1.0 for floats, else 65535).
    """
    if high == low:
        full_scale = 1.0 if arr.dtype.kind == "f" else 65535.0
        level = int(np.clip(round(255 * high / full_scale), 0, 255))
        return np.full(arr.shape, level, dtype=np.uint8)
    scaled = (arr.astype(np.float32) - low) * (255.0 / (high - low))
    return np.rint(scaled).astype(np.uint8)


def _stretch_finite(values: np.ndarray) -> np.ndarray:
    """16-bit, 32-bit and float images: scale the finite values' actual range to 0..255 (NaN -> 0)."""
    finite = np.isfinite(values) if values.dtype.kind == "f" else None
    if finite is not None and not finite.all():
        if not finite.any():
            raise UnreadableImage("image holds no finite values (all NaN or infinite)")
        values = np.where(finite, values, np.nanmin(values[finite]))
    return _stretch(values, float(values.min()), float(values.max()))


def _alpha_fraction(alpha: np.ndarray) -> np.ndarray:
    kind = alpha.dtype.kind
    if kind == "b":
        return alpha.astype(np.float32)
    if kind == "f":
        return np.clip(np.nan_to_num(alpha.astype(np.float32)), 0.0, 1.0)
    top = 65535.0 if alpha.dtype == np.uint16 or alpha.max() > 255 else 255.0
    return np.clip(alpha.astype(np.float32) / top, 0.0, 1.0)


# --- reasons ----------------------------------------------------------------------------------------------


def _bomb_reason(pixels: int | None) -> str:
    count = f"{pixels:,}" if pixels is not None else "more"
    return f"image has {count} pixels, over the limit of {MAX_PIXELS:,} (possible decompression bomb)"


def _pixels_in_message(exc: BaseException) -> int | None:
    match = re.search(r"\((\d+) pixels\)", str(exc))
    return int(match.group(1)) if match else None


def _corrupt_reason(exc: BaseException) -> str:
    detail = str(exc).strip() or type(exc).__name__
    return f"corrupt image data: the decoder failed ({detail})"


def _not_an_image_reason(data: bytes) -> str:
    for magic, offset, what in _KNOWN_UNSUPPORTED:
        if data[offset : offset + len(magic)] == magic:
            return f"not an image: the file is {what}"
    head = data[:512]
    if head.lstrip()[:1] == b"<" and b"<svg" in head.lower():
        return "not an image: the file is an SVG drawing; render it to PNG first"
    if _looks_like_text(head):
        lines = head.decode("utf-8", errors="replace").strip().splitlines() or [""]
        return f"not an image: the file holds text ({lines[0][:40]!r}...), not image data"
    return "not an image: the content is not in any image format Pillow can read (corrupt or wrong file?)"


def _looks_like_text(head: bytes) -> bool:
    text = head.decode("utf-8", errors="replace")  # the 512-byte cut may split a character
    printable = sum((ch.isprintable() and ch != "\ufffd") or ch in "\r\n\t" for ch in text)
    return printable >= 0.95 * max(1, len(text))
