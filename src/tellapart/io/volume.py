"""A volume or multi-frame file is one sample, scored from a few of its slices: which ones, and how they
become `DecodedImage` frames."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from tellapart.io.decode import MAX_PIXELS, UnreadableImage, finish_decode
from tellapart.io.image import DecodedImage

# Five slices: enough to see a structure that spans part of the volume, few enough that a volume costs five
# images to score, not hundreds.
SLICES_PER_VOLUME = 5
# Evenly spaced through the middle 60%: the outer slices of a scan are mostly air, skull cap or coverage
# margin, and differ between scanners more than between patients.
SLICE_SPAN = (0.2, 0.8)


def slice_indices(n: int) -> list[int]:
    """Return the sorted, distinct indices (0-based) of the slices a sample of ``n`` slices is scored from:
    `SLICES_PER_VOLUME` evenly spaced through the `SLICE_SPAN` of the volume (all of them when fewer).

    E.g. 15 frames -> [3, 5, 7, 9, 11]; 2 frames -> [0, 1]; 1 frame -> [0].
    """
    if n <= 0:
        return []
    positions = np.linspace(SLICE_SPAN[0], SLICE_SPAN[1], SLICES_PER_VOLUME) * (n - 1)
    return sorted({int(round(p)) for p in positions})


def check_plane(rows: int, columns: int, what: str) -> None:
    """Raise `UnreadableImage` for a slice with no pixels or more than `MAX_PIXELS`."""
    if rows <= 0 or columns <= 0:
        raise UnreadableImage(f"{what} has no pixels (size {columns}x{rows})")
    if rows * columns > MAX_PIXELS:
        raise UnreadableImage(
            f"{what} has {rows * columns:,} pixels per slice, over the limit of {MAX_PIXELS:,} "
            "(possible decompression bomb)"
        )


def frames_from_rgb(
    slices: Sequence[np.ndarray], key: str, source: str, fmt: str, notes: Sequence[str] = ()
) -> tuple[DecodedImage, ...]:
    """Wrap H x W x 3 uint8 slices as the frames of one sample.

    Returns one `DecodedImage` per slice, downscaled like every image (``finish_decode``), keyed
    ``KEY#INDEX`` (position among the chosen slices) so no two frames share a key.
    """
    frames = []
    for index, rgb in enumerate(slices):
        height, width = rgb.shape[:2]
        image = Image.fromarray(np.ascontiguousarray(rgb), "RGB")
        frames.append(finish_decode(image, f"{key}#{index}", source, (width, height), fmt, notes))
    return tuple(frames)


# What to install when a medical reader's library (pydicom, nibabel, a decoder) is missing.
MEDICAL_INSTALL = "pip install 'tellapart[medical]'"


def error_detail(exc: BaseException) -> str:
    """An exception's message on one line, at most 200 characters (its type's name when it has none), for
    the reason a medical file is skipped."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]
