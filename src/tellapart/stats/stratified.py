"""Testing a concept within strata of recorded covariates: "what differs beyond the scanner?".

``strata`` turns metadata columns (``ScoreMatrix.metadata``) into one stratum per image; ``van_elteren``
is the stratified Wilcoxon-Mann-Whitney test (van Elteren 1960) of one concept within those strata, with
the stratum-size-weighted mean of the within-stratum AUROCs as its effect size. A stratum where only one
set has images compares nothing and contributes nothing. A difference the covariate alone makes (scanner X
images are darker, and set A is mostly scanner X) compares like with like within each stratum, and
disappears.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from tellapart.stats.auroc import _newcombe_interval, rank_sums
from tellapart.stats.tests import Alternative

# A numeric covariate (age, kVp) is cut into this many quantile strata of all images (both sets, never their
# labels, so the test stays exact in level under the null: strata are fixed before the labels are looked
# at). Quantile strata rather than a rank regression on the covariate: they need no linearity, and a
# validation half of 20 images per set split four ways still leaves both sets in most strata; more strata
# would leave many with one set only (which then count for nothing). What is left of the covariate's effect
# inside a quarter of its range is not adjusted for.
NUMERIC_STRATA = 4
MISSING = "<missing>"


def strata(metadata: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """Return an int stratum id per row of ``metadata``: one per combination of the ``columns``' values
    (a categorical column's values as they are, a numeric one's ``NUMERIC_STRATA`` quantile bins, a
    missing value a stratum of its own). Raises KeyError naming a column ``metadata`` does not have."""
    missing = [c for c in columns if c not in metadata.columns]
    if missing:
        raise KeyError(f"no metadata column {', '.join(map(repr, missing))}")
    keys = pd.DataFrame(index=metadata.index)
    for column in columns:
        values = metadata[column]
        numbers = pd.to_numeric(values, errors="coerce")
        present = values.notna()
        if present.any() and numbers[present].notna().all() and numbers[present].nunique() > NUMERIC_STRATA:
            bins = pd.qcut(numbers, NUMERIC_STRATA, labels=False, duplicates="drop")
            keys[column] = bins.map(lambda b: MISSING if pd.isna(b) else f"q{int(b)}")
        else:
            keys[column] = values.map(lambda v: MISSING if v is None or pd.isna(v) else str(v))
    if not len(columns):
        return np.zeros(len(metadata), dtype=np.int64)
    return pd.MultiIndex.from_frame(keys).factorize()[0].astype(np.int64)


def van_elteren(
    values: ArrayLike, labels: ArrayLike, strata_ids: ArrayLike, alternative: Alternative = "greater",
    level: float = 0.95,
) -> tuple[float, tuple[float, float], float]:
    """The van Elteren test of set A's scores against set B's within strata; NaN scores are left out.

    Each stratum's Mann-Whitney U is weighted by 1 / (n_s + 1) (the locally most powerful weights when
    the shift is the same in every stratum); the statistic's null mean and tie-corrected variance are the
    sums of the strata's, and the p-value is from the normal approximation (no continuity correction).

    Returns:
        ``(auroc, (ci_low, ci_high), p)``: the A-vs-B AUROC as the stratum-size-weighted mean of the
        within-stratum AUROCs (for ``alternative="less"``, B-vs-A: one minus it, as ``test_concepts``
        states effects in the claimed direction), its ``level`` interval (the wider of the Wald interval
        from the strata's Hanley-McNeil variances and Newcombe's score interval), and the p-value. NaN
        AUROC and p = 1.0 when no stratum holds both sets.
    """
    x = np.asarray(values, dtype=np.float64)
    is_a = np.asarray(labels) == "a"
    ids = np.asarray(strata_ids)
    keep = ~np.isnan(x)
    statistic = mean = variance = 0.0
    weighted_auc = weighted_var = size = 0.0
    total_a = total_b = 0
    for stratum in np.unique(ids[keep]):
        rows = keep & (ids == stratum)
        a, b = x[rows & is_a], x[rows & ~is_a]
        n_a, n_b = a.size, b.size
        if n_a == 0 or n_b == 0:
            continue
        n = n_a + n_b
        u, tie = rank_sums(a[:, None], b[:, None])
        weight = 1.0 / (n + 1)
        statistic += weight * float(u[0])
        mean += weight * n_a * n_b / 2
        tie_share = float(tie[0]) / (n * (n - 1)) if n > 1 else 0.0
        variance += weight**2 * n_a * n_b / 12 * ((n + 1) - tie_share)
        auc = float(u[0]) / (n_a * n_b)
        weighted_auc += n * auc
        weighted_var += n**2 * _hanley_mcneil(auc, n_a, n_b)
        size += n
        total_a, total_b = total_a + n_a, total_b + n_b
    if size == 0:
        return float("nan"), (float("nan"), float("nan")), 1.0
    auc = weighted_auc / size
    spread = np.sqrt(weighted_var) / size
    if variance > 0:
        z = (statistic - mean) / np.sqrt(variance)
        upper = float(stats.norm.sf(z))
        tails = {"greater": upper, "less": 1 - upper, "two-sided": min(1.0, 2 * min(upper, 1 - upper))}
        p = tails[alternative]
    else:
        p = 1.0
    if alternative == "less":
        auc = 1.0 - auc
    z_level = float(stats.norm.ppf(0.5 + level / 2))
    # The Wald interval collapses where the strata's AUROCs are 0 or 1; Newcombe's score interval at the
    # contributing images' counts (as ``auroc_ci`` uses) stays honest there, so the wider of the two is kept.
    low, high = _newcombe_interval(auc, total_a, total_b, z_level)
    return auc, (min(low, max(0.0, auc - z_level * spread)), max(high, min(1.0, auc + z_level * spread))), p


def van_elteren_matrix(values: np.ndarray, labels: ArrayLike, strata_ids: ArrayLike
                       ) -> tuple[np.ndarray, np.ndarray]:
    """``van_elteren`` for every column of ``values`` (images x concepts), two-sided: the discovery screen
    of an adjusted run. NaN-free columns share one ranking per stratum (``rank_sums``); columns with NaN
    go one by one.

    Returns:
        ``(auroc, p)`` per column: the stratum-size-weighted A-vs-B AUROC (NaN when no stratum holds both
        sets) and the two-sided p-value (1.0 when the scores do not vary within any stratum).
    """
    values = np.asarray(values, dtype=np.float64)
    is_a = np.asarray(labels) == "a"
    ids = np.asarray(strata_ids)
    k = values.shape[1]
    statistic, mean, variance = np.zeros(k), np.zeros(k), np.zeros(k)
    weighted_auc, size = np.zeros(k), 0.0
    has_nan = np.isnan(values).any(axis=0)
    clean = values[:, ~has_nan]
    for stratum in np.unique(ids):
        rows = ids == stratum
        a, b = clean[rows & is_a], clean[rows & ~is_a]
        n_a, n_b = a.shape[0], b.shape[0]
        if n_a == 0 or n_b == 0:
            continue
        n = n_a + n_b
        u, tie = rank_sums(a, b)
        weight = 1.0 / (n + 1)
        statistic[~has_nan] += weight * u
        mean[~has_nan] += weight * n_a * n_b / 2
        tie_share = tie / (n * (n - 1)) if n > 1 else 0.0
        variance[~has_nan] += weight**2 * n_a * n_b / 12 * ((n + 1) - tie_share)
        weighted_auc[~has_nan] += n * u / (n_a * n_b)
        size += n
    auc = np.full(k, np.nan) if size == 0 else weighted_auc / size
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (statistic - mean) / np.sqrt(variance)
    p = np.where(variance > 0, np.clip(2 * stats.norm.sf(np.abs(z)), 0.0, 1.0), 1.0)
    for column in np.flatnonzero(has_nan):
        a_vs_b, _, p[column] = van_elteren(values[:, column], labels, ids, "two-sided")
        auc[column] = a_vs_b
    return auc, p


def _hanley_mcneil(auc: float, n_a: int, n_b: int) -> float:
    """Hanley & McNeil's (1982) variance of an AUROC from n_a and n_b images (finite for any stratum size)."""
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    return (auc * (1 - auc) + (n_a - 1) * (q1 - auc**2) + (n_b - 1) * (q2 - auc**2)) / (n_a * n_b)
