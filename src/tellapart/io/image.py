"""The two value types that leave `tellapart.io`: a decoded image and a skipped file."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DecodedImage:
    """One readable image, ready for concept scorers.

    Attributes:
        key: content hash of the image (hex sha256 of the file bytes, or of the array for in-memory images).
        source: where it came from: a file path, or ``"<memory:INDEX>"`` for in-memory images.
        pixels: H x W x 3 uint8 RGB array, EXIF orientation applied, alpha composited on white,
            16-bit and palette images converted; downscaled so the longest side is at most
            ``tellapart.io.decode.ANALYSIS_MAX_SIDE`` (aspect ratio kept).
        original_size: (width, height) of the image as stored, after EXIF rotation, before downscaling.
        format: the container format PIL reported ("JPEG", "PNG", ...), or None for in-memory images.
        notes: what was degraded while decoding, one sentence each, e.g. ``"EXIF orientation could not be
            read (SyntaxError: ...); used as stored"``; empty when the image decoded as intended.
    """

    key: str
    source: str
    pixels: np.ndarray
    original_size: tuple[int, int]
    format: str | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Skipped:
    """A file that could not be used, and why (a sentence a person can act on)."""

    source: str
    reason: str


class Notice(UserWarning):
    """How the data were read or used, when it is not what a person might assume and changes what the
    counts mean, though nothing went wrong: e.g. "12 files read as 1 DICOM series", a subject scored from
    some of its images, a metadata column with more values than are tested. Issued with `warnings.warn`
    (and kept on the object it is about, e.g. ``ImageSet.notes``), so a run's output can say it."""
