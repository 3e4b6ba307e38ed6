"""Westfall-Young step-down max-T: every concept tested on every image, the family-wise error controlled by
permutation.

The statistic of a concept is its standardised rank sum: the pooled mid-ranks of its scores over all
images, centred, summed over set A's images and divided by that sum's standard deviation under random
relabelling (the Mann-Whitney z without continuity correction; positive when A scores higher). A NaN
score gets the centre rank, so it pulls towards no difference. Relabelling the images at random (within
strata, when given) and recomputing every concept's statistic at once (one matrix product of the label
permutations with the centred ranks) gives the joint null distribution of all of them, with whatever
correlation the concepts have; there is no need to assume independence or to count near-duplicate
concepts (ImageNet classes and their WordNet parents) as separate tests.

The step-down procedure (Westfall and Young 1993, algorithm 2.8) rejects, strongest |z| first, while the
concept's |z| exceeds the permutation distribution's maximum over the concepts not yet rejected; the
adjusted p-values control the family-wise error rate (the chance of any false finding, hence also the
false discovery rate) at every level at once, under subset pivotality. Because no image is held out, the
test uses all the data; because every concept is tested, nothing is chosen by looking at the labels.

``critical_z`` is the (1 - alpha) quantile of the permutation maximum over all concepts: an interval of
that many standard errors around each concept's effect covers every concept's effect at once with
probability about 1 - alpha, so it stays honest for the findings that were picked for being strong
(a simultaneous, selection-adjusted interval).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tellapart.stats.auroc import column_blocks, mid_ranks_and_ties, row_blocks

# Permutations of the labels per run. The Monte Carlo standard error of an adjusted p-value near 0.05 is
# sqrt(0.05 * 0.95 / 2000) = 0.005. 2000 permutations of 200 images x 1500 concepts take 0.47 s here, of
# 1000 images 1.3 s (2026-12-01, with other work running; ``benchmarks/bench_stats_speed.py`` times the
# whole contract): the cost grows with images x concepts x permutations.
PERMUTATIONS = 2000
# Permutations scored per matrix product: bounds memory at CHUNK x concepts floats.
CHUNK = 250


@dataclass(frozen=True)
class MaxTResult:
    """The outcome of ``max_t`` for the tested columns.

    Attributes:
        z: standardised rank-sum statistic per column (positive: set A scores higher; 0 for a column
            that does not vary).
        p_adjusted: step-down max-T adjusted p-value per column (1.0 for a column that does not vary).
        critical_z: the (1 - alpha) quantile of max |z| over all varying columns under relabelling.
        n_tested: columns that vary (the size of the family).
        n_permutations: relabellings drawn.
    """

    z: np.ndarray
    p_adjusted: np.ndarray
    critical_z: float
    n_tested: int
    n_permutations: int


def centred_ranks(values: np.ndarray, strata: np.ndarray | None = None,
                  columns: np.ndarray | None = None) -> np.ndarray:
    """Return float64 (n, k): per column the mid-ranks of the non-NaN scores, minus their mean, with NaN
    scores at 0; with ``strata``, ranked and centred within each stratum and divided by the stratum's
    size + 1 (van Elteren's weights, so each stratum counts by its information, not its size).

    ``columns`` (indices) ranks only those columns of ``values``, in that order, without copying the rest.
    ``values`` may be float32 (ranks do not depend on the precision); the columns are ranked a block at a
    time into the one output array (``auroc.column_blocks``: ranking all columns of 100,000 x 1,600 scores at
    once held several full-size temporaries, the argsort's indices, the ranks and the centred copy)."""
    values = np.asarray(values)
    columns = np.arange(values.shape[1]) if columns is None else np.asarray(columns)
    if strata is None:
        return _centred(values, columns)
    out = np.empty((values.shape[0], columns.size))
    for stratum in np.unique(strata):
        rows = strata == stratum
        out[rows] = _centred(values[rows], columns) / (rows.sum() + 1)
    return out


def _centred(values: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """``centred_ranks`` of ``values[:, columns]`` without strata."""
    out = np.empty((values.shape[0], columns.size))
    for block in column_blocks(values.shape[0], columns.size):
        # One column per row of a contiguous float64 copy: numpy sorts those fastest (AVX-512 argsort of
        # 64-bit numbers; float32 or a column of a row-major matrix sort 2-3 times slower).
        rows = values[:, columns[block]].T.astype(np.float64)
        ranks = mid_ranks_and_ties(rows)[0]
        absent = np.isnan(rows)
        ranks -= ((~absent).sum(axis=1, keepdims=True) + 1) / 2
        ranks[absent] = 0.0
        out[:, block] = ranks.T
    return out


def relabellings(is_a: np.ndarray, strata: np.ndarray | None, seed: int,
                 permutations: int = PERMUTATIONS) -> np.ndarray:
    """Return the relabellings ``max_t`` draws with ``seed``: (permutations, images) bits, one permutation of
    ``is_a`` (within each stratum) per row, packed along the rows (``np.packbits``: 25 MB for 2,000
    relabellings of 100,000 images).

    Drawn ``CHUNK`` rows at a time, each row a Fisher-Yates shuffle of the labels as bytes: the same swaps,
    from the same random numbers, as ``rng.permuted`` of float64 rows, in half the time (0.4 s instead of
    0.8 per 250 rows of 100,000 labels; 2026-12-02). ``contract.test_all_max_t`` draws them once for both of
    its families, which used to draw the same ones each."""
    is_a = np.asarray(is_a, dtype=bool)
    rng = np.random.default_rng([seed, 15])
    blocks = [np.arange(is_a.size)] if strata is None else [np.flatnonzero(strata == s)
                                                            for s in np.unique(strata)]
    packed = np.empty((permutations, (is_a.size + 7) // 8), dtype=np.uint8)
    for start in range(0, permutations, CHUNK):
        count = min(CHUNK, permutations - start)
        labels = np.empty((count, is_a.size), dtype=np.uint8)
        for rows in blocks:
            shuffled = np.tile(is_a[rows].view(np.uint8), (count, 1))
            for row in shuffled:
                rng.shuffle(row)
            labels[:, rows] = shuffled
        packed[start:start + count] = np.packbits(labels, axis=1)
    return packed


def max_t(
    values: np.ndarray,
    is_a: np.ndarray,
    *,
    seed: int,
    alpha: float = 0.05,
    strata: np.ndarray | None = None,
    permutations: int = PERMUTATIONS,
    columns: np.ndarray | None = None,
    relabelled: np.ndarray | None = None,
) -> MaxTResult:
    """Test every column of ``values`` (images x concepts) for a difference between the images where
    ``is_a`` is True and the rest, with step-down max-T over all columns (module docstring).

    Parameters:
        values: scores, NaN allowed.
        is_a: bool per row.
        seed: seeds the relabellings (the same seed gives the same adjusted p-values).
        alpha: level of ``critical_z``.
        strata: an int stratum id per row (fixed without the labels): relabel and rank within strata.
        permutations: relabellings to draw.
        columns: indices of the columns to test (default all), without copying them out of ``values``.
        relabelled: ``relabellings(is_a, strata, seed, permutations)`` when already drawn.

    Returns:
        A ``MaxTResult`` for all tested columns (``columns``, in that order).
    """
    values = np.asarray(values)
    if not np.issubdtype(values.dtype, np.floating):
        values = values.astype(np.float64)
    is_a = np.asarray(is_a, dtype=bool)
    if values.ndim != 2 or values.shape[0] != is_a.size:
        raise ValueError(f"need one label per row of an (images x concepts) matrix, got {values.shape} "
                         f"and {is_a.size} labels")
    if permutations < 1:
        raise ValueError(f"permutations must be at least 1, got {permutations}")
    columns = np.arange(values.shape[1]) if columns is None else np.asarray(columns)
    ranks = centred_ranks(values, strata, columns)
    z = np.zeros(columns.size)
    p_adjusted = np.ones(columns.size)
    tested = np.flatnonzero(np.concatenate([(ranks[:, block] != 0).any(axis=0)
                                            for block in column_blocks(*ranks.shape)] or [[]]))
    if tested.size == 0 or is_a.all() or not is_a.any():
        return MaxTResult(z, p_adjusted, float("nan"), 0, permutations)
    ranks = _kept(ranks, tested, exact=strata is None)
    sd = _null_sd(ranks, is_a, strata)
    observed = np.abs(is_a.astype(np.float64) @ ranks / sd)
    order = np.argsort(-observed, kind="stable")
    exceed = np.zeros(tested.size)
    maxima = np.empty(permutations)
    if relabelled is None:
        relabelled = relabellings(is_a, strata, seed, permutations)
    labels = np.empty((min(CHUNK, permutations), is_a.size))  # one buffer: 200 MB at 100,000 images
    for start in range(0, permutations, CHUNK):
        count = min(CHUNK, permutations - start)
        labels[:count] = np.unpackbits(relabelled[start:start + count], axis=1, count=is_a.size)
        null = np.abs(labels[:count] @ ranks / sd)[:, order]
        successive = np.maximum.accumulate(null[:, ::-1], axis=1)[:, ::-1]
        exceed += (successive >= observed[order] - 1e-9).sum(axis=0)
        maxima[start:start + count] = successive[:, 0]
    adjusted = np.maximum.accumulate((exceed + 1) / (permutations + 1))
    z[tested] = is_a.astype(np.float64) @ ranks / sd
    p_adjusted[tested[order]] = adjusted
    return MaxTResult(z, p_adjusted, float(np.quantile(maxima, 1 - alpha)), int(tested.size), permutations)


def _kept(ranks: np.ndarray, tested: np.ndarray, exact: bool) -> np.ndarray:
    """``ranks[:, tested]`` for increasing ``tested``.

    With ``exact`` ranks (whole or half numbers: no strata), whose products with 0/1 labels are exact in
    any order, the columns are packed into the front of ``ranks``' own memory a block of rows at a time,
    since the fancy-indexed copy doubled max-T's peak (1.3 GB more at 100,000 x 1,600); row block r's
    columns are gathered before they are written and land before any later row's, so nothing is
    overwritten before it is read. Stratified ranks are divided by the strata's sizes, and BLAS rounds
    their products by the layout of the matrix: they keep the copy (column-major, as numpy makes it)."""
    n, k = ranks.shape
    if tested.size == k:
        return ranks
    if not exact:
        return ranks[:, tested]
    flat = ranks.reshape(-1)
    for rows in row_blocks(n):
        gathered = ranks[rows, tested]
        flat[rows.start * tested.size:rows.start * tested.size + gathered.size] = gathered.ravel()
    return flat[: n * tested.size].reshape(n, tested.size)


def _null_sd(ranks: np.ndarray, is_a: np.ndarray, strata: np.ndarray | None) -> np.ndarray:
    """Standard deviation of the A-sum of centred ranks under relabelling (within strata), per column."""
    blocks = [np.ones(is_a.size, dtype=bool)] if strata is None else [strata == s for s in np.unique(strata)]
    variance = np.zeros(ranks.shape[1])
    for rows in blocks:
        n, n_a = int(rows.sum()), int(is_a[rows].sum())
        if n < 2 or n_a in (0, n):
            continue
        for columns in column_blocks(*ranks.shape):  # a block of columns at a time: no full-size copies
            part = ranks[rows, columns]
            part = part - part.mean(axis=0)
            variance[columns] += n_a * (n - n_a) / (n * (n - 1)) * (part**2).sum(axis=0)
    return np.sqrt(np.where(variance > 0, variance, np.inf))
