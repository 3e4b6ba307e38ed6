"""NIfTI volumes (``.nii``, ``.nii.gz``; NIfTI-1 and -2) -> the 8-bit RGB axial slices of one sample.

The volume is turned to nibabel's canonical orientation (RAS+: the third axis runs from the feet to the
head), so ``[:, :, k]`` is an axial slice whatever the scanner stored; `io.volume.slice_indices` picks the
slices. Each is shown with the front of the head at the top and the patient's left on the left. A 4-D series
(fMRI, diffusion) is scored from its first volume: its later volumes show the same anatomy. One window for
the whole sample: the header's cal_min/cal_max when set, else the percentile window of the chosen slices.
"""

from __future__ import annotations

import gzip
import io
import warnings
import zlib
from typing import Any

import numpy as np

from tellapart.io.decode import UnreadableImage
from tellapart.io.image import DecodedImage
from tellapart.io.volume import (
    MEDICAL_INSTALL,
    check_plane,
    error_detail,
    frames_from_rgb,
    slice_indices,
)
from tellapart.io.window import percentile_window, range_to_unit, unit_to_rgb8

# A header is 348 bytes (NIfTI-1) or 540 (NIfTI-2); the magic is at byte 344 or 4.
_HEADER_BYTES = 540
_GZIP_MAGIC = b"\x1f\x8b"
# Voxels read for one volume (3-D after taking the first of a 4-D series): 512^3 float64 is 1 GiB, so a
# larger "volume" is more likely a decompression bomb than a scan.
MAX_VOXELS = 512**3


def nifti_version(data: bytes) -> int | None:
    """Return 1 or 2 when ``data`` (gzip-compressed or not) is a single-file NIfTI image, else None."""
    head = data[:_HEADER_BYTES]
    if data[:2] == _GZIP_MAGIC:
        try:
            head = zlib.decompressobj(wbits=31).decompress(data[:4096], _HEADER_BYTES)
        except zlib.error:
            return None
    if head[344:348] in (b"n+1\x00",):
        return 1
    if head[4:8] == b"n+2\x00":
        return 2
    return None


def read_nifti(data: bytes, source: str, key: str) -> tuple[DecodedImage, ...]:
    """Decode a NIfTI volume's chosen axial slices.

    Returns the frames (``io.volume.frames_from_rgb``; format "NIfTI"). Raises `UnreadableImage` for a
    damaged header or data, a volume of more than `MAX_VOXELS` voxels, and one with no finite values.
    """
    nibabel = _import_nibabel()
    version = nifti_version(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nibabel warns on unusual but readable headers
        image = _open(nibabel, data, version)
        shape = tuple(int(s) for s in image.shape)
        if len(shape) < 2 or any(s <= 0 for s in shape):
            raise UnreadableImage(f"NIfTI image of shape {shape} holds no slices")
        if len(shape) > 3:
            image = image.slicer[(..., *([0] * (len(shape) - 3)))]  # the first volume of a series
        elif len(shape) == 2:  # a single slice stored as a 2-D image
            image = nibabel.Nifti1Image(np.asarray(image.dataobj)[:, :, None], image.affine)
        if int(np.prod(image.shape)) > MAX_VOXELS:
            raise UnreadableImage(
                f"NIfTI volume of shape {image.shape} has more than {MAX_VOXELS:,} voxels (possible "
                "decompression bomb)"
            )
        check_plane(image.shape[1], image.shape[0], "the NIfTI volume")
        volume = _canonical_data(nibabel, image)
        picks = slice_indices(volume.shape[2])
        planes = [_display(volume[:, :, k]) for k in picks]
        low, high = _window(image.header, planes)
    return frames_from_rgb([unit_to_rgb8(range_to_unit(p, low, high)) for p in planes], key, source, "NIfTI")


def _import_nibabel() -> Any:
    try:
        import nibabel
    except ImportError:
        raise UnreadableImage(f"a NIfTI volume, but nibabel is not installed: {MEDICAL_INSTALL}") from None
    return nibabel


def _open(nibabel: Any, data: bytes, version: int | None) -> Any:
    stream = io.BytesIO(data)
    fileobj = gzip.GzipFile(fileobj=stream) if data[:2] == _GZIP_MAGIC else stream
    holder = nibabel.FileHolder(fileobj=fileobj)
    kind = nibabel.Nifti2Image if version == 2 else nibabel.Nifti1Image
    try:
        return kind.from_file_map({"header": holder, "image": holder})
    except Exception as exc:  # untrusted input: every parser failure is "damaged"
        detail = error_detail(exc)
        raise UnreadableImage(f"damaged NIfTI file: its header cannot be read ({detail})") from None


def _canonical_data(nibabel: Any, image: Any) -> np.ndarray:
    try:
        canonical = nibabel.as_closest_canonical(image)
        return np.asarray(canonical.dataobj, dtype=np.float64)
    except MemoryError:
        raise UnreadableImage("not enough memory to read this NIfTI volume") from None
    except (EOFError, gzip.BadGzipFile, zlib.error):
        raise UnreadableImage("truncated NIfTI data: the file ends early (an incomplete download?)") from None
    except Exception as exc:  # untrusted input
        raise UnreadableImage(f"NIfTI voxel data cannot be read ({error_detail(exc)})") from None


def _display(plane: np.ndarray) -> np.ndarray:
    """An axial RAS+ plane [x, y] -> rows from front (top) to back, columns from the patient's left."""
    return np.ascontiguousarray(plane.T[::-1, :])


def _window(header: Any, planes: list[np.ndarray]) -> tuple[float, float]:
    low, high = float(header.get("cal_min", 0) or 0), float(header.get("cal_max", 0) or 0)
    if np.isfinite(low) and np.isfinite(high) and high > low:
        return low, high
    if not any(np.isfinite(p).any() for p in planes):
        raise UnreadableImage("NIfTI volume holds no finite values (all NaN or infinite)")
    return percentile_window(planes)
