"""Windowing: medical pixel values (Hounsfield units, MR signal, dose...) -> 8-bit grey levels.

A scan's values span far more than 256 levels; a window picks the range a person looks at. The file's own
window is used when it has one (DICOM Window Center/Width, NIfTI cal_min/cal_max); otherwise the
`DEFAULT_PERCENTILES` of the values themselves.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Clip the darkest and brightest 0.5% (metal, air, hot voxels) so the tissue range gets the grey levels, as a
# viewer's automatic window does; a min-max stretch lets one bright voxel turn the whole scan dark.
DEFAULT_PERCENTILES = (0.5, 99.5)


def percentile_window(arrays: Sequence[np.ndarray]) -> tuple[float, float]:
    """Return (low, high) = the `DEFAULT_PERCENTILES` of the finite values of all ``arrays`` together.

    One window for all the frames of a sample, so its slices stay comparable. Returns (0.0, 1.0) when no
    value is finite.
    """
    values = np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays])
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0, 1.0
    low, high = np.percentile(values, DEFAULT_PERCENTILES)
    return float(low), float(high)


def range_to_unit(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Map ``low``..``high`` linearly to 0..1 (clipped; NaN -> 0). Returns float32.

    A window with no width (a constant image) maps values at or above ``low`` to 1 and the rest to 0.
    """
    values = np.nan_to_num(np.asarray(values, dtype=np.float64), nan=low, posinf=high, neginf=low)
    if high <= low:
        return (values >= low).astype(np.float32)
    return np.clip((values - low) / (high - low), 0.0, 1.0).astype(np.float32)


def dicom_window(values: np.ndarray, center: float, width: float, function: str = "LINEAR") -> np.ndarray:
    """Apply a DICOM VOI window (PS3.3 C.11.2.1.2: LINEAR, LINEAR_EXACT or SIGMOID) and return 0..1 float32.

    An unknown function is treated as LINEAR, the standard's default.
    """
    values = np.asarray(values, dtype=np.float64)
    function = function.upper()
    if function == "SIGMOID":
        out = 1.0 / (1.0 + np.exp(np.clip(-4.0 * (values - center) / max(width, 1e-6), -500, 500)))
        return out.astype(np.float32)
    if function == "LINEAR_EXACT":
        return range_to_unit(values, center - width / 2.0, center + width / 2.0)
    # LINEAR: the standard's half-pixel offsets; a width below 1 is invalid and treated as 1.
    width = max(width, 1.0)
    return range_to_unit(values, center - 0.5 - (width - 1.0) / 2.0, center - 0.5 + (width - 1.0) / 2.0)


def unit_to_rgb8(unit: np.ndarray) -> np.ndarray:
    """Return an H x W x 3 uint8 array from H x W (grey) or H x W x 3 values in 0..1."""
    grey = np.rint(np.clip(unit, 0.0, 1.0) * 255.0).astype(np.uint8)
    if grey.ndim == 2:
        grey = np.repeat(grey[:, :, None], 3, axis=2)
    return np.ascontiguousarray(grey)
