"""The rank test behind every p-value, and the corrections for testing many hypotheses at once."""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy import special, stats

from tellapart.stats.auroc import auroc, mid_ranks_and_ties, rank_sums

Alternative = Literal["two-sided", "greater", "less"]
ALTERNATIVES = ("two-sided", "greater", "less")
# ``mannwhitneyu(method="auto")`` takes the exact distribution when a sample has at most this many scores
# and none are tied, else the normal approximation; ``rank_test`` makes the same choice.
EXACT_MAX = 8


def _check_alternative(alternative: str) -> None:
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")


def rank_test(scores_a: ArrayLike, scores_b: ArrayLike, alternative: Alternative = "two-sided", *,
              ranked: tuple[np.ndarray, np.ndarray] | None = None) -> float:
    """Mann-Whitney U test of A against B; NaN scores are left out.

    ``alternative="greater"`` asks whether A tends to score higher than B, ``"less"`` lower. The p-value is
    ``scipy.stats.mannwhitneyu``'s (``method="auto"``): the exact distribution for small samples without
    ties, else the asymptotic one (tie-corrected, continuity-corrected), computed here from one ranking.
    ``ranked``: ``auroc.mid_ranks_and_ties`` of ``concatenate([scores_a, scores_b])`` (NaN-free), when
    already taken.

    Returns:
        The p-value; 1.0 when there is no evidence to weigh: a sample is empty or every score is equal.
    """
    _check_alternative(alternative)
    a = np.asarray(scores_a, dtype=np.float64).ravel()
    b = np.asarray(scores_b, dtype=np.float64).ravel()
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if a.size == 0 or b.size == 0:
        return 1.0
    pooled = np.concatenate([a, b])
    if np.all(pooled == pooled[0]):
        return 1.0
    ranks, ties = mid_ranks_and_ties(pooled) if ranked is None else ranked
    if min(a.size, b.size) <= EXACT_MAX and not (ties > 1).any():
        return float(stats.mannwhitneyu(a, b, alternative=alternative, method="exact").pvalue)
    return _asymptotic_p(ranks[: a.size].sum(), a.size, b.size, ties, alternative)


def _asymptotic_p(rank_sum_a: float, n_a: int, n_b: int, ties: np.ndarray, alternative: Alternative) -> float:
    """The p-value of ``scipy.stats.mannwhitneyu``'s asymptotic method (tie- and continuity-corrected) from
    A's rank sum and the sizes of the groups of tied values, in scipy's order of operations, so the same
    float to the last bit (``tests/test_stats_large.py`` compares them); the rank sum and the tie term are
    sums of whole or half numbers, exact in any order."""
    u_a = rank_sum_a - n_a * (n_a + 1) / 2
    u = {"greater": u_a, "less": n_a * n_b - u_a, "two-sided": max(u_a, n_a * n_b - u_a)}[alternative]
    n = n_a + n_b
    ties = ties.astype(np.float64)
    tie_term = np.sum(ties**3 - ties)
    s = np.sqrt(n_a * n_b / 12 * ((n + 1) - tie_term / (n * (n - 1))))
    numerator = u - n_a * n_b / 2
    numerator -= 0.5
    with np.errstate(divide="ignore", invalid="ignore"):
        z = numerator / s
    p = special.ndtr(-z) * (2 if alternative == "two-sided" else 1)
    return float(np.clip(p, 0.0, 1.0))


def mann_whitney_matrix(
    S_a: np.ndarray, S_b: np.ndarray, alternative: Alternative = "two-sided"
) -> tuple[np.ndarray, np.ndarray]:
    """Mann-Whitney U test of every column of ``S_a`` (A images x k) against the same column of ``S_b``.

    Vectorised normal approximation with tie and continuity correction, the same as scipy's
    ``method="asymptotic"``; used to screen thousands of concepts at once from one ranking. Columns with
    NaN are handled one by one on their non-NaN values (``auroc``, ``rank_test``).

    Returns:
        ``(auroc, p)`` per column: the A-vs-B AUROC (NaN when a sample has no values) and the p-value
        (1.0 for columns whose scores are all equal).
    """
    _check_alternative(alternative)
    S_a = np.asarray(S_a, dtype=np.float64)
    S_b = np.asarray(S_b, dtype=np.float64)
    if S_a.ndim != 2 or S_b.ndim != 2 or S_a.shape[1] != S_b.shape[1]:
        raise ValueError(f"need two matrices with the same columns, got {S_a.shape} and {S_b.shape}")
    auc, p = np.full(S_a.shape[1], np.nan), np.ones(S_a.shape[1])
    n_a, n_b = S_a.shape[0], S_b.shape[0]
    if n_a == 0 or n_b == 0:
        return auc, p
    has_nan = np.isnan(S_a).any(axis=0) | np.isnan(S_b).any(axis=0)
    clean = np.flatnonzero(~has_nan)
    if clean.size:
        n = n_a + n_b
        u_a, tie_term = rank_sums(S_a[:, clean], S_b[:, clean])
        auc[clean] = u_a / (n_a * n_b)
        u = {"greater": u_a, "less": n_a * n_b - u_a, "two-sided": np.maximum(u_a, n_a * n_b - u_a)}
        sd = np.sqrt(n_a * n_b / 12 * ((n + 1) - tie_term / (n * (n - 1))))
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (u[alternative] - n_a * n_b / 2 - 0.5) / sd
        tail = stats.norm.sf(z) * (2 if alternative == "two-sided" else 1)
        p[clean] = np.where(sd > 0, np.clip(tail, 0.0, 1.0), 1.0)
    for j in np.flatnonzero(has_nan):
        auc[j] = auroc(S_a[:, j], S_b[:, j])
        p[j] = rank_test(S_a[:, j], S_b[:, j], alternative)
    return auc, p


def rank_test_matrix(
    S_a: np.ndarray, S_b: np.ndarray, alternative: Alternative = "two-sided"
) -> np.ndarray:
    """Return the p-value of ``mann_whitney_matrix`` for every column (1.0 where all scores are equal)."""
    return mann_whitney_matrix(S_a, S_b, alternative)[1]


def _as_p_values(p_values: ArrayLike) -> np.ndarray:
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"p_values must be one-dimensional, got shape {p.shape}")
    if np.any((p < 0) | (p > 1)):
        raise ValueError("p-values must lie in [0, 1]")
    return p


def _ascending(p_values: ArrayLike, weights: ArrayLike | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validated p-values, their weights (mean 1 over the non-NaN p-values; all 1 when ``weights`` is
    None), an all-NaN array for the adjusted ones, and the non-NaN indices by ``p / weight``, smallest
    first."""
    p = _as_p_values(p_values)
    present = np.flatnonzero(~np.isnan(p))
    w = np.ones(p.shape)
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != p.shape:
            raise ValueError(f"got {w.size} weights for {p.size} p-values")
        if present.size and (not np.all(np.isfinite(w[present])) or np.any(w[present] <= 0)):
            raise ValueError("hypothesis weights must be positive and finite")
        w = w / w[present].mean() if present.size else w
    order = present[np.argsort(p[present] / w[present], kind="stable")]
    return p, w, np.full(p.shape, np.nan), order


def benjamini_hochberg(p_values: ArrayLike, weights: ArrayLike | None = None) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values) for the given p-values, in their order.

    ``q_(i) = min over k >= i of (m / k) p_(k)``, capped at 1, where ``p_(1) <= ... <= p_(m)`` and ``m``
    counts the non-NaN p-values; rejecting every hypothesis with ``q < alpha`` controls the false
    discovery rate at ``alpha``. NaN p-values stay NaN and do not count in ``m``.

    ``weights`` (positive, rescaled to mean 1) gives weighted Benjamini-Hochberg (Genovese, Roeder and
    Wasserman 2006): the same procedure on ``p / weight``. A hypothesis of weight 3 passes with a p-value
    up to three times what the plain procedure allows; one of weight 0.5 needs one half as large. The
    false discovery rate stays at ``alpha`` as long as the weights were fixed without looking at these
    p-values (e.g. on a discovery half of the data).

    Returns:
        A float array of q-values, the same length as ``p_values``.
    """
    p, w, q, order = _ascending(p_values, weights)
    m = order.size
    if m == 0:
        return q
    scaled = p[order] / w[order] * m / np.arange(1, m + 1)
    q[order] = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    return q


def holm(p_values: ArrayLike, weights: ArrayLike | None = None) -> np.ndarray:
    """Holm's step-down adjusted p-values for the given p-values, in their order.

    ``q_(i) = max over k <= i of min(1, (m - k + 1) p_(k))``; rejecting every hypothesis with
    ``q < alpha`` controls the family-wise error rate (the chance of any false finding) at ``alpha``.
    Stricter than Benjamini-Hochberg. NaN p-values stay NaN and do not count in ``m``.

    ``weights`` (positive, rescaled to mean 1) gives Holm's weighted procedure (Holm 1979): hypotheses
    are taken in order of ``p / weight`` and the k-th is multiplied by the weight still untested over
    its own weight, ``(w_(k) + ... + w_(m)) / w_(k)`` in place of ``m - k + 1``.

    Returns:
        A float array of adjusted p-values, the same length as ``p_values``.
    """
    p, w, q, order = _ascending(p_values, weights)
    if order.size == 0:
        return q
    remaining = np.cumsum(w[order][::-1])[::-1]
    scaled = np.minimum(p[order] * remaining / w[order], 1.0)
    q[order] = np.maximum.accumulate(scaled)
    return q


CORRECTIONS = {"bh": benjamini_hochberg, "holm": holm}


def correct(p_values: ArrayLike, method: str = "bh", weights: ArrayLike | None = None) -> np.ndarray:
    """Return ``p_values`` adjusted for multiple testing by ``method``: "bh" (default) or "holm", weighted
    by ``weights`` when given (see ``benjamini_hochberg``)."""
    if method not in CORRECTIONS:
        raise ValueError(f"correction must be one of {sorted(CORRECTIONS)}, got {method!r}")
    return CORRECTIONS[method](p_values, weights)
