"""One way to read a file: its bytes -> the frames of one sample.

A photo is one frame (``io.decode.decode_bytes``, Pillow). A DICOM file (found by its ``DICM`` preamble,
whatever its name) and a NIfTI volume (found by its header's magic) are one sample each, read by
``io.dicom`` and ``io.nifti`` and scored from several frames (``io.volume``); the concept library
aggregates their scores into one row.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from tellapart.io import dicom, nifti, series, volume, window
from tellapart.io.decode import UnreadableImage, decode_bytes
from tellapart.io.hashing import content_hash
from tellapart.io.image import DecodedImage

DICOM_SUFFIXES = (".dcm", ".dicom")
NIFTI_SUFFIXES = (".nii", ".nii.gz")
# The libraries whose releases change the pixels a medical file yields.
_MEDICAL_PACKAGES = (
    "pydicom", "nibabel", "pylibjpeg", "pylibjpeg-libjpeg", "pylibjpeg-openjpeg", "pylibjpeg-rle",
)


def medical_kind(data: bytes) -> str | None:
    """Return "dicom" or "nifti" for a file read by a medical reader, else None (a Pillow image)."""
    if dicom.is_dicom(data):
        return "dicom"
    if nifti.nifti_version(data) is not None:
        return "nifti"
    return None


def read_frames(data: bytes, source: str, key: str) -> tuple[DecodedImage, ...]:
    """Decode a file's bytes into the frames of its sample (one for a photo, the chosen slices of a volume).

    Returns at least one `DecodedImage`; raises `UnreadableImage` with the reason otherwise.
    """
    kind = medical_kind(data)
    if kind is not None:
        reader = dicom.read_dicom if kind == "dicom" else nifti.read_nifti
        with _untrusted("DICOM file" if kind == "dicom" else "NIfTI file", "file"):
            return reader(data, source, key)
    if source.lower().endswith(DICOM_SUFFIXES) and data:
        raise UnreadableImage(
            "named as DICOM but without the DICM preamble (a bare data set with no file meta information), "
            "which tellapart does not read; rewrite it as a DICOM file (pydicom: "
            "dcmwrite(path, ds, enforce_file_format=True))"
        )
    return (decode_bytes(data, source, key),)


def read_series_frames(files: list[tuple[str, bytes]], source: str, key: str
                       ) -> tuple[tuple[DecodedImage, ...], list[tuple[str, str]]]:
    """Decode the chosen slices of a DICOM series stored one file per slice (``dicom.read_dicom_series``):
    returns its frames and the slices left out (file name, reason); raises `UnreadableImage` with the reason
    when none can be used, whatever failed inside pydicom."""
    with _untrusted("DICOM series", "DICOM series"):
        return dicom.read_dicom_series(files, source, key)


@contextmanager
def _untrusted(what: str, unit: str) -> Iterator[None]:
    """Around a medical reader on untrusted input: whatever it raises that it did not foresee becomes
    `UnreadableImage` ("WHAT cannot be read (Type: detail)"; "not enough memory to read this UNIT"), so
    one bad file or series is skipped with its reason and the run goes on."""
    try:
        yield
    except UnreadableImage:
        raise
    except MemoryError:
        raise UnreadableImage(f"not enough memory to read this {unit}") from None
    except Exception as exc:
        detail = volume.error_detail(exc)
        raise UnreadableImage(f"{what} cannot be read ({type(exc).__name__}: {detail})") from None


def series_key(member_hashes: list[str]) -> str:
    """Return the cache key of a DICOM series sample from its files' content hashes in slice order: covers
    every file (a slice changed anywhere changes which are read, or how they are windowed) and
    `reader_fingerprint` (which slices are read, and how)."""
    text = "\n".join(["dicom series", reader_fingerprint(), *member_hashes])
    return hashlib.sha256(text.encode()).hexdigest()


def sample_key(data: bytes) -> str:
    """Return the cache key of a file's sample: the hex SHA-256 of its bytes, or for a DICOM or NIfTI file
    the SHA-256 of that hash together with `reader_fingerprint` (which slices are read and how they are
    windowed is decided by code the sources' cache versions do not cover). The same bytes always get the
    same key, so a repeated file is still counted once."""
    digest = content_hash(data)
    if medical_kind(data) is None:
        return digest
    return hashlib.sha256(f"{reader_fingerprint()}\n{digest}".encode()).hexdigest()


@cache
def reader_fingerprint() -> str:
    """Return a hex digest of the medical readers' code and the installed versions of their libraries."""
    hasher = hashlib.sha256()
    for module in (dicom, nifti, series, volume, window):
        hasher.update(Path(module.__file__).read_bytes())
    for package in _MEDICAL_PACKAGES:
        try:
            hasher.update(f"{package} {importlib.metadata.version(package)}\n".encode())
        except importlib.metadata.PackageNotFoundError:
            hasher.update(f"{package} absent\n".encode())
    return hasher.hexdigest()


def is_medical_name(name: str) -> bool:
    """True for a file name a medical reader claims by its extension (``.dcm``, ``.nii.gz``...)."""
    return name.lower().endswith(DICOM_SUFFIXES + NIFTI_SUFFIXES)
