"""DICOM files -> the 8-bit RGB frames of one sample (pydicom; compressed syntaxes through pylibjpeg).

Grey images (MONOCHROME1/2) go through the modality LUT (Rescale Slope/Intercept, per frame when the file
has functional groups), then the file's VOI LUT, else its Window Center/Width, else a percentile window
(``io.window``) over the sample's chosen frames; MONOCHROME1 is inverted so that bright means dense, as in
MONOCHROME2. Colour images are scaled from their stored bit depth. A multi-frame file is one sample, scored
from the frames `io.volume.slice_indices` picks; so is a series stored one file per slice
(`read_dicom_series`, grouped by ``io.series``), its chosen slices read exactly as such frames.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
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
from tellapart.io.window import dicom_window, percentile_window, range_to_unit, unit_to_rgb8

PREAMBLE_OFFSET = 128  # the 128-byte preamble, then b"DICM" (PS3.10 7.1)
MAGIC = b"DICM"
HEAD_SIZE = PREAMBLE_OFFSET + len(MAGIC)  # 132: the bytes read to tell a DICOM file by its start (`is_dicom`)
_PIXEL_TAGS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
# The header fields offered as metadata concepts (``concepts.metadata``): who made the scan and how, the
# fields a reviewer asks about first when a finding may be the scanner rather than the disease. Patient
# identity, dates and UIDs are left out on purpose (unique per file, or personal).
HEADER_FIELDS = (
    "Manufacturer", "ManufacturerModelName", "Modality", "BodyPartExamined", "InstitutionName",
    "StationName", "PatientSex", "PatientAge", "PixelSpacing", "SliceThickness", "KVP",
    "MagneticFieldStrength", "RepetitionTime", "EchoTime", "ConvolutionKernel",
)  # fmt: skip


def is_dicom(data: bytes) -> bool:
    """True when ``data`` carries the DICOM file preamble (``DICM`` at byte 128), whatever the file's name."""
    return data[PREAMBLE_OFFSET : PREAMBLE_OFFSET + len(MAGIC)] == MAGIC


def read_dicom(data: bytes, source: str, key: str) -> tuple[DecodedImage, ...]:
    """Decode a DICOM file's chosen frames.

    Returns the frames (``io.volume.frames_from_rgb``; format "DICOM"). Raises `UnreadableImage` for a
    damaged header, a file without pixel data (a report, a structure set...), a transfer syntax pydicom does
    not support or whose decoder is not installed, and pixel data that cannot be decoded.
    """
    pydicom = _import_pydicom()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns on harmless deviations from the standard
        dataset = _opened(pydicom, data)
        planes = [(dataset, index) for index in slice_indices(_frame_count(dataset))]
        slices = _planes_to_rgb(planes, [_frame(dataset, index) for dataset, index in planes])
    return frames_from_rgb(slices, key, source, "DICOM")


def read_dicom_series(files: Sequence[tuple[str, bytes]], source: str, key: str
                      ) -> tuple[tuple[DecodedImage, ...], list[tuple[str, str]]]:
    """Decode the chosen slices of a DICOM series stored one file per slice (``io.series``), given as
    (file name, bytes) in slice order, as the frames of one sample: each slice through its own modality LUT
    and window, as the frames of a multi-frame file are, and the percentile window (when a slice has none)
    taken over all the slices together.

    Returns the frames (format "DICOM") and the problems: one (file name, reason) per slice that could not
    be used (the sample is then scored from the others). Raises `UnreadableImage` when no slice can be used.
    """
    pydicom = _import_pydicom()
    planes: list[tuple[Any, int]] = []
    arrays: list[np.ndarray] = []
    problems: list[tuple[str, str]] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, data in files:
            try:
                dataset = _opened(pydicom, data)
                array = _frame(dataset, 0)  # decoded here, so a damaged slice is left out, not fatal
                planes.append((dataset, 0))
                arrays.append(array)
            except UnreadableImage as error:
                problems.append((name, error.reason))
            except MemoryError:
                raise UnreadableImage("not enough memory to read this DICOM series") from None
            except Exception as exc:  # untrusted input: one damaged slice is left out, never an error
                problems.append((name, f"DICOM file cannot be read ({type(exc).__name__}: "
                                       f"{error_detail(exc)})"))
        if not planes:
            raise UnreadableImage(f"none of the {len(files)} chosen slices of the DICOM series can be read: "
                                  + "; ".join(f"{name}: {why}" for name, why in problems[:3]))
        slices = _planes_to_rgb(planes, arrays)
    return frames_from_rgb(slices, key, source, "DICOM"), problems


def _opened(pydicom: Any, data: bytes) -> Any:
    """The parsed data set of an image file whose pixels can be decoded; `UnreadableImage` otherwise."""
    dataset = _parse(pydicom, data)
    _check_decodable(dataset)
    rows, columns = int(dataset.get("Rows") or 0), int(dataset.get("Columns") or 0)
    check_plane(rows, columns, "the DICOM image")
    return dataset


def _planes_to_rgb(planes: list[tuple[Any, int]], arrays: list[np.ndarray]) -> list[np.ndarray]:
    """8-bit RGB images of frames (data set, frame index) from their decoded pixels: grey ones windowed
    together (``_grey``)."""
    kinds = [str(dataset.get("PhotometricInterpretation", "MONOCHROME2")).upper() for dataset, _ in planes]
    if all(kind.startswith("MONOCHROME") for kind in kinds):
        return _grey(planes, arrays, [kind == "MONOCHROME1" for kind in kinds])
    out = []
    for (dataset, index), array, kind in zip(planes, arrays, kinds, strict=True):
        if kind.startswith("MONOCHROME"):
            out += _grey([(dataset, index)], [array], [kind == "MONOCHROME1"])
        elif kind == "PALETTE COLOR":
            out.append(_palette(dataset, array))
        else:
            out.append(_colour(dataset, array))
    return out


def dicom_header(data: bytes) -> dict[str, Any]:
    """Return the ``HEADER_FIELDS`` present in a DICOM file's header (pixel data not read): text as
    stripped strings, numbers as floats (a multi-valued one such as PixelSpacing: its mean), PatientAge
    ("045Y", "006M") in years. Returns {} when pydicom is missing or the header cannot be read."""
    try:
        import pydicom
    except ImportError:
        return {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dataset = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
    except Exception:  # untrusted input: a header pydicom cannot read has no fields
        return {}
    fields: dict[str, Any] = {}
    for name in HEADER_FIELDS:
        value = _header_value(name, dataset.get(name))
        if value is not None:
            fields[name] = value
    return fields


def _header_value(name: str, value: Any) -> Any:
    """One header element as a plain value (see ``dicom_header``), None when empty or unusable."""
    if value is None:
        return None
    if name == "PatientAge":
        text = str(value).strip().upper()
        units = {"Y": 1.0, "M": 1 / 12, "W": 1 / 52, "D": 1 / 365}
        if len(text) >= 2 and text[-1] in units and text[:-1].isdigit():
            return round(float(text[:-1]) * units[text[-1]], 2)
        return None
    if not isinstance(value, (str, bytes)) and hasattr(value, "__len__"):
        numbers = [_number(v, float("nan")) for v in value]
        finite = [v for v in numbers if np.isfinite(v)]
        return float(np.mean(finite)) if finite and len(finite) == len(numbers) else None
    if isinstance(value, (int, float)) or type(value).__name__ in ("DSfloat", "IS", "DSdecimal"):
        number = _number(value, float("nan"))
        return None if np.isnan(number) else number
    text = str(value).strip()
    return text or None


def _import_pydicom() -> Any:
    try:
        import pydicom
    except ImportError:
        raise UnreadableImage(f"a DICOM file, but pydicom is not installed: {MEDICAL_INSTALL}") from None
    return pydicom


def _parse(pydicom: Any, data: bytes) -> Any:
    try:
        return pydicom.dcmread(io.BytesIO(data))
    except Exception as exc:  # untrusted input: every parser failure is "damaged"
        detail = error_detail(exc)
        raise UnreadableImage(f"damaged DICOM file: its header cannot be read ({detail})") from None


def _check_decodable(dataset: Any) -> None:
    from pydicom.pixels import get_decoder

    if not any(tag in dataset for tag in _PIXEL_TAGS):
        what = getattr(dataset.get("SOPClassUID"), "name", None) or dataset.get("Modality") or "unknown"
        raise UnreadableImage(f"DICOM file without pixel data, not an image (SOP class or modality: {what})")
    syntax = getattr(dataset, "file_meta", {}).get("TransferSyntaxUID")
    if syntax is None:
        raise UnreadableImage("DICOM file without a transfer syntax in its header: its pixels cannot be read")
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError:
        raise UnreadableImage(f"unsupported DICOM transfer syntax: {syntax.name} ({syntax})") from None
    if not decoder.is_available:
        raise UnreadableImage(
            f"compressed DICOM ({syntax.name}) whose decoder is not installed: {MEDICAL_INSTALL} (pylibjpeg)"
        )


def _frame_count(dataset: Any) -> int:
    try:
        return max(1, int(dataset.get("NumberOfFrames") or 1))
    except (TypeError, ValueError):
        raise UnreadableImage(
            f"damaged DICOM file: Number of Frames is {dataset.get('NumberOfFrames')!r}, not a number"
        ) from None


def _frame(dataset: Any, index: int) -> np.ndarray:
    from pydicom.pixels import pixel_array

    try:
        return pixel_array(dataset, index=index)
    except MemoryError:
        raise UnreadableImage("not enough memory to decode this DICOM image") from None
    except Exception as exc:  # untrusted input: every decoder failure is "cannot be decoded"
        raise UnreadableImage(f"DICOM pixel data cannot be decoded ({error_detail(exc)})") from None


# --- grey -------------------------------------------------------------------------------------------------


def _grey(planes: list[tuple[Any, int]], arrays: list[np.ndarray], inverts: list[bool]) -> list[np.ndarray]:
    """Frames (data set, frame index) and their stored pixels -> 8-bit RGB: the modality LUT, then the
    data set's VOI LUT, else every frame's window, else (when any frame has none) the percentile window over
    all those frames together; MONOCHROME1 frames (``inverts``) inverted."""
    from pydicom.pixels import apply_modality_lut, apply_voi

    units: dict[int, np.ndarray] = {}
    values: dict[int, np.ndarray] = {}
    windows: dict[int, tuple[float, float, str] | None] = {}
    for position, ((dataset, index), array) in enumerate(zip(planes, arrays, strict=True)):
        if array.ndim != 2:
            raise UnreadableImage(f"DICOM grey image has pixels of shape {array.shape}, not rows x columns")
        if dataset.get("VOILUTSequence"):
            raw = apply_voi(apply_modality_lut(array, dataset), dataset)
            depth = int(dataset.VOILUTSequence[0].LUTDescriptor[2])
            units[position] = range_to_unit(raw, 0.0, float(2 ** min(depth, 16) - 1))
        else:
            values[position] = _rescaled(dataset, array, index)
            windows[position] = _window(dataset, index)
    if values and any(w is None for w in windows.values()):
        low, high = percentile_window(list(values.values()))
        units.update({p: range_to_unit(v, low, high) for p, v in values.items()})
    else:
        units.update({p: dicom_window(v, *windows[p]) for p, v in values.items()})  # type: ignore[misc]
    return [unit_to_rgb8(1.0 - units[p] if inverts[p] else units[p]) for p in range(len(planes))]


def _rescaled(dataset: Any, array: np.ndarray, index: int) -> np.ndarray:
    """Stored values -> modality values (e.g. Hounsfield units), frame ``index``'s own rescale first."""
    from pydicom.pixels import apply_modality_lut

    if dataset.get("ModalityLUTSequence"):
        return apply_modality_lut(array, dataset).astype(np.float64)
    item = _functional(dataset, index, "PixelValueTransformationSequence")
    holder = item if item is not None and "RescaleSlope" in item else dataset
    slope = _number(holder.get("RescaleSlope"), 1.0)
    intercept = _number(holder.get("RescaleIntercept"), 0.0)
    return array.astype(np.float64) * slope + intercept


def _window(dataset: Any, index: int) -> tuple[float, float, str] | None:
    """(center, width, function) of frame ``index`` (its functional group's, else the file's), or None."""
    item = _functional(dataset, index, "FrameVOILUTSequence")
    holder = item if item is not None and "WindowCenter" in item else dataset
    center, width = _first(holder.get("WindowCenter")), _first(holder.get("WindowWidth"))
    if center is None or width is None or width <= 0:
        return None
    return center, width, str(holder.get("VOILUTFunction", "LINEAR") or "LINEAR")


def _functional(dataset: Any, index: int, name: str) -> Any | None:
    """The first item of sequence ``name`` in frame ``index``'s functional group, else the shared group."""
    places = (("PerFrameFunctionalGroupsSequence", index), ("SharedFunctionalGroupsSequence", 0))
    for group, position in places:
        groups = dataset.get(group)
        if groups and position < len(groups):
            sequence = groups[position].get(name)
            if sequence:
                return sequence[0]
    return None


def _first(value: Any) -> float | None:
    """The first value of a DICOM number element (one or several values); None if absent or not a number."""
    if value is None:
        return None
    if not isinstance(value, (str, bytes)) and hasattr(value, "__len__"):
        if len(value) == 0:
            return None
        value = value[0]
    number = _number(value, float("nan"))
    return None if np.isnan(number) else number


def _number(value: Any, default: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if np.isfinite(number) else default


# --- colour -----------------------------------------------------------------------------------------------


def _palette(dataset: Any, array: np.ndarray) -> np.ndarray:
    from pydicom.pixels import apply_color_lut

    try:
        rgb = apply_color_lut(array, dataset)
    except Exception as exc:  # a damaged palette
        raise UnreadableImage(f"DICOM palette cannot be applied ({error_detail(exc)})") from None
    top = 65535.0 if rgb.dtype.itemsize > 1 else 255.0
    return unit_to_rgb8(range_to_unit(rgb, 0.0, top))


def _colour(dataset: Any, array: np.ndarray) -> np.ndarray:
    """RGB (pydicom has already converted YBR) scaled from Bits Stored to 8 bits."""
    if array.ndim != 3 or array.shape[2] != 3:
        raise UnreadableImage(f"DICOM colour image has pixels of shape {array.shape}, not rows x columns x 3")
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    bits = int(dataset.get("BitsStored") or 8 * array.dtype.itemsize)
    return unit_to_rgb8(range_to_unit(array, 0.0, float(2**bits - 1)))
