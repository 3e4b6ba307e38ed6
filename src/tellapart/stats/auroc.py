"""AUROC as the effect size of a concept: how well its score tells set A from set B.

``auroc(a, b)`` is the probability that an image of A scores higher than an image of B, counting ties
as one half. 0.5 means no difference, 1.0 that every A image scores above every B image, 0.0 the reverse.
NaN scores are left out.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize, special, stats

# Scores (images x columns) ranked at once by ``rank_sums`` and max-T (``column_blocks``). 10,000 images x
# 1,600 concepts (16M) in
# one piece: 592 MB over its input, 8.0 s; in pieces of 4M: 296 MB, 4.6-8.1 s; of 1M: 74 MB, 4.8 s (the
# memory grew with images x concepts before; 2026-12-01, load average 5-8 on 2 cores, so the times are rough).
RANK_CHUNK = 1_000_000
# Rows converted to float64 (standardised, scored, packed) at a time when there are many: a float64 copy of
# 4,096 x 2,024 (the backbone's embedding) is 66 MB.
ROW_BLOCK = 4096


def _finite(values: ArrayLike) -> np.ndarray:
    x = np.asarray(values, dtype=np.float64).ravel()
    return x[~np.isnan(x)]


def auroc(scores_a: ArrayLike, scores_b: ArrayLike) -> float:
    """Return P(score_a > score_b) + 0.5 P(score_a == score_b); NaN if either sample is empty."""
    a, b = _finite(scores_a), _finite(scores_b)
    if a.size == 0 or b.size == 0:
        return float("nan")
    return auroc_of_ranks(mid_ranks(np.concatenate([a, b])), a.size)


def auroc_of_ranks(pooled: np.ndarray, n_a: int) -> float:
    """Return ``auroc(a, b)`` from ``pooled``, the mid-ranks of ``concatenate([a, b])`` (``a`` has ``n_a``
    scores): the same float, since the rank sum is exact."""
    u_a = pooled[:n_a].sum() - n_a * (n_a + 1) / 2
    return float(u_a / (n_a * (pooled.size - n_a)))


def mid_ranks(values: np.ndarray) -> np.ndarray:
    """Return float64 mid-ranks (1-based, ties sharing their mean rank) of a NaN-free 1-D array.

    The same numbers as ``scipy.stats.rankdata`` (mid-ranks are whole or half numbers, exact in float64,
    whatever the order they are found in), from numpy's default sort, which ``rankdata``'s stable one
    does not use: at 100,000 scores 4 ms instead of 11 (2026-12-02, AVX-512 machine, load 2). The
    statistics rank one column at a time thousands of times per run (max-T's rows, explaining-away's rank
    tests, the named findings' declarations on folds).
    """
    return mid_ranks_and_ties(values)[0]


def mid_ranks_and_ties(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``mid_ranks`` of each row of ``values`` (1-D, or 2-D ranked along its rows; float64) and the
    sizes of all groups of tied values, row after row in sorted order. NaN sorts last, each NaN a group
    of its own, so the other values' ranks are those of ``rankdata(..., nan_policy="omit")``."""
    rows = np.atleast_2d(values)
    k, n = rows.shape
    order = np.argsort(rows, axis=1)
    ordered = np.take_along_axis(rows, order, axis=1)
    new = np.ones((k, n), dtype=bool)
    new[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    starts = np.flatnonzero(new)
    counts = np.diff(np.append(starts, k * n))
    ranks = np.empty((k, n))
    np.put_along_axis(ranks, order, np.repeat(starts % max(n, 1) + (counts + 1) / 2, counts).reshape(k, n),
                      axis=1)
    return ranks.reshape(np.shape(values)), counts


def column_ranks(values: ArrayLike) -> np.ndarray:
    """Return ``scipy.stats.rankdata(values, axis=0)`` of a 2-D array: each column's float64 mid-ranks, in
    scipy's memory layout (the transpose of a C-ordered array: BLAS rounds products by layout).

    Without NaN from `mid_ranks_and_ties`: the same numbers, faster (on the inputs captured from
    ``benchmarks/large_sets.py --replay 50``, 100,000 rows, one BLAS thread, 2026-12-02, one alternated run
    each: ``named_on_folds``, mostly explaining-away's rank fits, 79.4 -> 58.3 s; ``test_concepts`` 90.2 ->
    79.1 s; the same outputs). With NaN from scipy, which makes such a column all NaN.
    """
    values = np.asarray(values, dtype=np.float64)
    if np.isnan(values).any():
        return stats.rankdata(values, axis=0)
    out = np.empty(values.shape[::-1])  # ranked as rows, returned transposed, as scipy does
    for block in column_blocks(*values.shape):  # bounded working arrays, as in `rank_sums`
        out[block] = mid_ranks_and_ties(np.ascontiguousarray(values[:, block].T))[0]
    return out.T


def _delong_components(a: np.ndarray, b: np.ndarray, pooled: np.ndarray | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
    """DeLong's placement values: for each A image the share of B below it, for each B the share of A above.

    Uses the midrank identity of Sun & Xu (2014): rank in the pooled sample minus rank within the own sample
    counts the other sample's images below (ties as one half). ``pooled``: the mid-ranks of
    ``concatenate([a, b])``, when already taken.
    """
    pooled = mid_ranks(np.concatenate([a, b])) if pooled is None else pooled
    v_a = (pooled[: a.size] - _ranks_within(pooled[: a.size])) / b.size
    v_b = 1.0 - (pooled[a.size :] - _ranks_within(pooled[a.size :])) / a.size
    return v_a, v_b


def _ranks_within(pooled: np.ndarray) -> np.ndarray:
    """``mid_ranks`` of a sample from its mid-ranks in a larger pooled sample, by counting instead of sorting
    (equal pooled ranks are equal scores): the sample's scores below each one plus half its ties and one."""
    keys = np.rint(2 * pooled).astype(np.int64)  # mid-ranks are whole or half numbers
    counts = np.bincount(keys)
    below = np.cumsum(counts) - counts
    return below[keys] + (counts[keys] + 1) / 2


def delong_variance(scores_a: ArrayLike, scores_b: ArrayLike) -> float:
    """Return DeLong's variance estimate of ``auroc(scores_a, scores_b)``; NaN below 2 per sample."""
    return _delong_variance(_finite(scores_a), _finite(scores_b))


def _delong_variance(a: np.ndarray, b: np.ndarray, pooled: np.ndarray | None = None) -> float:
    """``delong_variance`` of NaN-free ``a`` and ``b`` (``pooled`` as in ``_delong_components``)."""
    if a.size < 2 or b.size < 2:
        return float("nan")
    v_a, v_b = _delong_components(a, b, pooled)
    return float(v_a.var(ddof=1) / a.size + v_b.var(ddof=1) / b.size)


def _newcombe_interval(theta_hat: float, n_a: int, n_b: int, z: float) -> tuple[float, float]:
    """Newcombe's (2006, method 5) score interval: solve (theta_hat - theta)^2 = z^2 V(theta).

    V is the Hanley-McNeil variance with both sample sizes replaced by their mean. Because the variance is
    taken at the candidate theta rather than at the estimate, the interval stays informative when the
    estimate is 0, 1 or rests on all-tied scores, where DeLong's estimate collapses to zero.
    """
    n_star = (n_a + n_b) / 2

    def excess(theta: float) -> float:
        spread = 1 + (n_star - 1) * ((1 - theta) / (2 - theta) + theta / (1 + theta))
        return (theta_hat - theta) ** 2 - z**2 * theta * (1 - theta) * spread / (n_a * n_b)

    eps = 1e-12
    low = 0.0 if theta_hat <= eps else optimize.brentq(excess, 0.0, min(theta_hat, 1 - eps))
    high = 1.0 if theta_hat >= 1 - eps else optimize.brentq(excess, max(theta_hat, eps), 1.0)
    return float(low), float(high)


def auroc_ci(scores_a: ArrayLike, scores_b: ArrayLike, level: float = 0.95, *,
             pooled: np.ndarray | None = None) -> tuple[float, float]:
    """Return a two-sided ``level`` confidence interval (low, high) for ``auroc(scores_a, scores_b)``.

    The interval is DeLong's, built on the logit scale and mapped back, so it always lies inside [0, 1],
    widened where Newcombe's score interval is wider. Near 0 and 1 DeLong's plug-in variance shrinks
    faster than the real uncertainty (it is exactly zero for a perfect split, and for all-tied scores),
    which would make one stray image narrow the interval; Newcombe's variance is taken at each candidate
    value instead, so it stays honest there, e.g. about (0.90, 1.0) for a perfect split of 20 vs 20
    images. Elsewhere the two agree closely and coverage stays near ``level`` (measured in the tests).
    (NaN, NaN) if a sample is empty. ``pooled``: the mid-ranks of ``concatenate([scores_a, scores_b])``
    (NaN-free scores), when already taken.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    a, b = _finite(scores_a), _finite(scores_b)
    if a.size == 0 or b.size == 0:
        return float("nan"), float("nan")
    z = float(stats.norm.ppf(0.5 + level / 2))
    pooled = mid_ranks(np.concatenate([a, b])) if pooled is None else pooled
    theta = auroc_of_ranks(pooled, a.size)
    low, high = _newcombe_interval(theta, a.size, b.size, z)
    variance = _delong_variance(a, b, pooled)
    if 0 < theta < 1 and variance > 0:
        half_width = z * np.sqrt(variance) / (theta * (1 - theta))
        centre = special.logit(theta)
        low = min(low, float(special.expit(centre - half_width)))
        high = max(high, float(special.expit(centre + half_width)))
    return low, high


def rank_sums(S_a: np.ndarray, S_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mann-Whitney U of A for every column of two NaN-free matrices, from one pooled sort per column.

    The columns are taken ``RANK_CHUNK`` elements at a time, so the working arrays (about ten of the pooled
    size) stay bounded however many images there are.

    Returns:
        ``(u_a, tie_term)``: per column the number of (A, B) pairs where A scores higher, ties counting
        one half (so ``u_a / (n_a * n_b)`` is the AUROC), and the sum of ``t^3 - t`` over groups of ``t``
        tied values in the pooled column (the tie correction of the U variance).
    """
    blocks = column_blocks(S_a.shape[0] + S_b.shape[0], S_a.shape[1])
    if len(blocks) <= 1:
        return _rank_sums(S_a, S_b)
    parts = [_rank_sums(S_a[:, block], S_b[:, block]) for block in blocks]
    return np.concatenate([u for u, _ in parts]), np.concatenate([t for _, t in parts])


def row_blocks(n_rows: int, size: int | None = None) -> list[slice]:
    """Return slices covering ``range(n_rows)`` in order, ``size`` (`ROW_BLOCK`) rows each (the last shorter;
    one empty slice when there are no rows): the pieces in which large float32 matrices are converted to
    float64 or rewritten in place."""
    size = size or ROW_BLOCK
    return [slice(start, start + size) for start in range(0, max(n_rows, 1), size)]


def column_blocks(n_rows: int, n_columns: int) -> list[slice]:
    """Return slices of the columns of an (n_rows x n_columns) matrix holding at most ``RANK_CHUNK``
    numbers each (at least one column): the pieces in which the statistics rank large score matrices."""
    step = max(1, RANK_CHUNK // max(n_rows, 1))
    return [slice(start, start + step) for start in range(0, n_columns, step)]


def _rank_sums(S_a: np.ndarray, S_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``rank_sums`` of all the columns at once."""
    n_a = S_a.shape[0]
    pooled = np.concatenate([S_a, S_b], axis=0)
    n, k = pooled.shape
    order = np.argsort(pooled, axis=0)
    ordered = np.take_along_axis(pooled, order, axis=0)
    starts = np.ones((n, k), dtype=bool)
    starts[1:] = ordered[1:] != ordered[:-1]
    # Number the runs of equal values with ids unique across columns, so one bincount serves all columns.
    run_id = (np.cumsum(starts, axis=0) - 1 + np.arange(k) * n).ravel()
    lengths = np.bincount(run_id, minlength=n * k).astype(np.float64)
    position_sum = np.bincount(run_id, weights=np.repeat(np.arange(n, dtype=np.float64), k), minlength=n * k)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_rank = position_sum / lengths + 1
    rank_sum_a = np.where(order < n_a, mean_rank[run_id].reshape(n, k), 0.0).sum(axis=0)
    tie_term = (lengths**3 - lengths).reshape(k, n).sum(axis=1)
    return rank_sum_a - n_a * (n_a + 1) / 2, tie_term


def auroc_matrix(S_a: np.ndarray, S_b: np.ndarray) -> np.ndarray:
    """Return the AUROC of each column (concept) of ``S_a`` (A images x k) against ``S_b`` (B images x k).

    Columns without NaN are ranked together in one vectorised pass; a column with NaN is computed on its
    non-NaN values (NaN if a sample has none left).
    """
    S_a = np.asarray(S_a, dtype=np.float64)
    S_b = np.asarray(S_b, dtype=np.float64)
    if S_a.ndim != 2 or S_b.ndim != 2 or S_a.shape[1] != S_b.shape[1]:
        raise ValueError(f"need two matrices with the same columns, got {S_a.shape} and {S_b.shape}")
    result = np.full(S_a.shape[1], np.nan)
    if S_a.shape[0] == 0 or S_b.shape[0] == 0:
        return result
    has_nan = np.isnan(S_a).any(axis=0) | np.isnan(S_b).any(axis=0)
    clean = ~has_nan
    if clean.any():
        u_a, _ = rank_sums(S_a[:, clean], S_b[:, clean])
        result[clean] = u_a / (S_a.shape[0] * S_b.shape[0])
    for j in np.flatnonzero(has_nan):
        result[j] = auroc(S_a[:, j], S_b[:, j])
    return result
