"""Distribution plots for the HTML report, returned as PNG data URIs.

The figures are drawn on a ``matplotlib.figure.Figure`` with an explicit Agg canvas, never through
``pyplot``: nothing is registered globally, the user's chosen backend is left alone, and the figure is
freed as soon as the function returns.
"""

from __future__ import annotations

import base64
import io

import numpy as np

# Okabe-Ito palette: distinguishable with every common form of colour blindness.
COLOR_A = "#0072B2"
COLOR_B = "#E69F00"
FIGSIZE = (5.0, 2.0)
DPI = 90


def distribution_plot(
    values_a: np.ndarray,
    values_b: np.ndarray,
    title: str,
    xlabel: str,
    *,
    threshold: float | None = None,
) -> str:
    """Return ``"data:image/png;base64,..."``: overlaid histograms of both sets' scores, medians dashed.

    Each histogram is normalised to its own set's size (the y axis is the share of that set's images),
    so sets of different sizes compare fairly. Non-finite values are left out. ``threshold`` (presence
    concepts) draws the score above which an image counts as showing the concept.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    a, b = _finite(values_a), _finite(values_b)
    figure = Figure(figsize=FIGSIZE, dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    if a.size + b.size == 0:
        axes.text(0.5, 0.5, "no scores to show", ha="center", va="center", transform=axes.transAxes)
        axes.set_yticks([])
    else:
        _draw_histograms(axes, a, b)
    if threshold is not None:
        axes.axvline(threshold, color="0.3", linewidth=1, linestyle=":", label="threshold")
    # parse_math=False: a "$" in a user's phrase or path must print as is, not start mathtext.
    axes.set_title(title, fontsize=9, parse_math=False)
    axes.set_xlabel(xlabel, fontsize=8, parse_math=False)
    axes.set_ylabel("share of set", fontsize=8)
    axes.tick_params(labelsize=7)
    axes.spines[["top", "right"]].set_visible(False)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize=7, frameon=False, loc="best")
    # Fixed margins: tight_layout would cost more than the drawing itself.
    figure.subplots_adjust(left=0.11, right=0.98, bottom=0.23, top=0.87)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    figure.clear()
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _finite(values: np.ndarray) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).ravel()
    return array[np.isfinite(array)]


def _draw_histograms(axes, a: np.ndarray, b: np.ndarray) -> None:
    """Both sets on shared bins, each weighted to sum to 1, with a dashed line at each median."""
    both = np.concatenate([a, b])
    n_bins = int(np.clip(np.sqrt(both.size) * 2, 10, 30))
    edges = np.histogram_bin_edges(both, bins=n_bins)
    for values, color, name in ((a, COLOR_A, "Set A"), (b, COLOR_B, "Set B")):
        if values.size == 0:
            continue
        weights = np.full(values.size, 1.0 / values.size)
        axes.hist(values, bins=edges, weights=weights, histtype="stepfilled", facecolor=color, alpha=0.5,
                  edgecolor=color, linewidth=1.0, label=f"{name} (n={values.size})")
        axes.axvline(float(np.median(values)), color=color, linewidth=1.2, linestyle="--")
