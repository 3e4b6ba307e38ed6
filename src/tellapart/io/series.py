"""A DICOM series stored as one file per slice is one sample, like a NIfTI volume or a multi-frame file.

A scanner writes a CT or MR series as many files, one slice each, that share a Series Instance UID. Scored
as separate images they would be hundreds of correlated samples from one patient, and the held-out
statistics would be false. So within one set, the single-frame image files that share a Series Instance
UID and hold at least two distinct instances (SOP Instance UIDs) are one sample: its slices are ordered
(`order_slices`) and it is scored from the `io.volume.slice_indices` of them (5 through the middle 60%), the
frames averaged into one row by the concept library, exactly as a volume's slices are.

Headers are read without pixel data (`slice_header`), once, when the set is listed. A file that repeats an
instance already in the series (the same SOP Instance UID: a copy, or the same slice in another transfer
syntax) is counted once. Multi-frame files, files without an image (no Rows/Columns), files without a
Series Instance UID and lone instances stay samples of their own.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Read from each file's header when a set is listed; pixel data is never read here.
SERIES_TAGS = (
    "SeriesInstanceUID", "SOPInstanceUID", "ImagePositionPatient", "ImageOrientationPatient",
    "InstanceNumber", "NumberOfFrames", "Rows", "Columns",
)  # fmt: skip


@dataclass(frozen=True)
class SliceHeader:
    """What groups and orders one single-frame DICOM image file into its series.

    Attributes:
        series: the Series Instance UID.
        instance: the SOP Instance UID ("" when absent: then the file is its own instance).
        position: ImagePositionPatient (x, y, z in mm), or None.
        orientation: ImageOrientationPatient (row and column direction cosines, 6 numbers), or None.
        number: InstanceNumber, or None.
    """

    series: str
    instance: str
    position: tuple[float, float, float] | None
    orientation: tuple[float, ...] | None
    number: int | None


def slice_header(path: Path) -> SliceHeader | None:
    """Return the series header of a single-frame DICOM image file, or None when the file is not one (not
    DICOM, unreadable header, no image, several frames, no Series Instance UID) or pydicom is missing:
    such a file stays a sample of its own, and is read (or skipped with its reason) like any other."""
    try:
        import pydicom
    except ImportError:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dataset = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=list(SERIES_TAGS))
            series = str(dataset.get("SeriesInstanceUID") or "").strip()
            frames = dataset.get("NumberOfFrames")
            if not series or "Rows" not in dataset or "Columns" not in dataset:
                return None
            if frames not in (None, "") and _integer(frames) not in (None, 1):
                return None
            return SliceHeader(
                series=series,
                instance=str(dataset.get("SOPInstanceUID") or "").strip(),
                position=_numbers(dataset.get("ImagePositionPatient"), 3),  # type: ignore[arg-type]
                orientation=_numbers(dataset.get("ImageOrientationPatient"), 6),
                number=_integer(dataset.get("InstanceNumber")),
            )
    except Exception:  # untrusted input: a header pydicom cannot read is not part of a series
        return None


def order_slices(headers: Sequence[SliceHeader], names: Sequence[str]) -> list[int]:
    """Return the order (indices into ``headers``) in which a series' slices are read: by position along
    the slice normal (the cross product of ImageOrientationPatient's row and column directions, projected
    from ImagePositionPatient) when every slice has both; else by InstanceNumber when every slice has one;
    else by file name (``names``). Ties keep the file-name order."""
    by_name = sorted(range(len(headers)), key=lambda i: names[i])
    if all(h.position is not None and h.orientation is not None for h in headers):
        orientation = np.asarray(headers[0].orientation, dtype=np.float64)
        normal = np.cross(orientation[:3], orientation[3:])
        if np.linalg.norm(normal) > 0:
            depth = [float(np.dot(normal, h.position)) for h in headers]  # type: ignore[arg-type]
            return sorted(by_name, key=lambda i: depth[i])
    if all(h.number is not None for h in headers):
        return sorted(by_name, key=lambda i: headers[i].number)  # type: ignore[arg-type, return-value]
    return by_name


def find_series(headers: Sequence[SliceHeader | None], names: Sequence[str]
                ) -> tuple[list[list[int]], dict[int, int]]:
    """Group files into DICOM series.

    ``headers[i]`` is file i's `slice_header` (None: not part of any series); ``names[i]`` its name.
    Returns the series (each a list of file indices in slice order, `order_slices`; only series of at least
    two distinct instances) and the repeats: file index -> index of the file of the same series and SOP
    Instance UID that is read instead (the first in name order), counted once.
    """
    by_series: dict[str, list[int]] = {}
    for index, header in enumerate(headers):
        if header is not None:
            by_series.setdefault(header.series, []).append(index)
    groups: list[list[int]] = []
    repeats: dict[int, int] = {}
    for members in by_series.values():
        first_of: dict[str, int] = {}
        kept: list[int] = []
        for index in sorted(members, key=lambda i: names[i]):
            instance = headers[index].instance  # type: ignore[union-attr]
            if instance and instance in first_of:
                repeats[index] = first_of[instance]
            else:
                first_of.setdefault(instance, index)
                kept.append(index)
        if len(kept) < 2:
            for index in members:
                repeats.pop(index, None)  # a lone instance (in several encodings) is no series
            continue
        order = order_slices([headers[i] for i in kept], [names[i] for i in kept])  # type: ignore[misc]
        groups.append([kept[i] for i in order])
    return groups, repeats


def _numbers(value: object, count: int) -> tuple[float, ...] | None:
    """``count`` finite numbers from a multi-valued DICOM element, or None."""
    if value is None or isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        return None
    try:
        numbers = tuple(float(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return None
    return numbers if len(numbers) == count and all(np.isfinite(numbers)) else None


def _integer(value: object) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None
