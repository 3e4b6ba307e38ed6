"""Is there any difference at all? A classifier learns it from image embeddings; held-out images judge it.

A concept can only find a difference somebody named. This test needs no name: an L2-regularised logistic
regression learns to tell set A from set B on the discovery half of the images (their backbone embeddings,
standardised; the regularisation strength chosen by cross-validation within discovery, on a seeded sample of
``CV_ROWS_PER_SET`` discovery images per set when a set has more), and is scored on the validation half,
which it never saw. An embedding made of blocks of different widths (one per network
stage) has each block scaled by 1 / sqrt(width) after standardising, so every block weighs the same in the
penalty and the wide head does not drown out the earlier stages. The classifier's validation AUROC and a
one-sided Mann-Whitney p-value (do held-out images of A score higher than those of B?) say whether the sets
differ in any way the embedding can see. Nothing of the validation half is used before it is scored, so the
p-value is exact under "no difference" whatever the model learned.

Then: how much of that signal do the named findings account for? The same kind of model is fitted on the
scores of the named findings (discovery half) and scored on validation images. The explained share is

    explained_share = clip((AUROC_named - 0.5) / (AUROC_images - 0.5), 0, 1)

i.e. the part of the image classifier's separation above chance that the named findings alone reproduce
(1 = they separate the sets as well as the images do; 0 = not at all, or there are none). It is undefined
(None) when the image classifier does no better than chance.

The named findings must be measured on images that did not choose them. A run's findings are chosen on
discovery and declared significant on validation, so scored on the validation half they would look better
than they are (they were declared *because* they separated those images; the share came out at 80-98% on
real scans where the findings were readouts of the backbone itself). So the declaration is cross-fitted
(``stats.contract.named_on_folds``, passed in as ``named_folds``): the validation half is split in two per
set; the hypotheses the run tested are declared on the discovery half and one fold together (significant
after the same correction, and not explained away), the model on the declared set is fitted on discovery
and scored on the other fold; the folds swap; and ``AUROC_named`` is the mean over both folds and
``FOLD_REPEATS`` random halvings. The image classifier never saw the validation half, so its
``AUROC_images`` is measured on all of it. No named set is measured on an image that helped declare it, so
the share no longer leans high; hypotheses admitted by the discovery half's selection bias can only weaken
the named model on the measuring fold, so if anything it leans low ("the named findings explain at least
this much"). ``benchmarks/overall_rate.py`` (40 vs 40 images): median share 0.78 -> 0.64 on text pairs,
0.94 -> 0.70 triangle, 0.77 -> 0.54 rotation, 1.00 -> 1.00 zoom, 0.94 -> 0.79 logo.

Numbers only: embeddings and scores in, statistics and row indices out.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from tellapart.stats.auroc import ROW_BLOCK, auroc, auroc_ci, row_blocks
from tellapart.stats.split import check_groups
from tellapart.stats.tests import rank_test

# Inverse regularisation strengths tried by cross-validation (on standardised, block-scaled features): with
# many more features than images, weakly regularised fits (large C) separated edited sets best.
C_GRID = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0)
MAX_FOLDS = 5
N_EXAMPLES = 6
# BLAS threads for the fits and the other small matrix work of the statistics. With OpenBLAS's default of one
# thread per core, a warm `describe` on 2 x 500 photos spent 19.6 s (two threads) vs 3.4 s (one) on a busy
# 2-core machine, the SVD of the 500 x 2024 discovery embeddings 3.3 s vs 0.18 s, the 30 cross-validation fits
# 3.9 s vs 0.47 s: a matrix of a few hundred rows is too small to share, and a second thread waiting for a
# core that other work holds stalls every call. Same chosen C, same decision values.
BLAS_THREADS = 1
# Above this many discovery rows of either set (2 x 10,000 images), C is chosen by cross-validation on a
# seeded sample of this many rows per set (warm-started up the grid), and only the final fit sees every row
# (`_fit_large`); at or below it nothing changes. Synthetic 2 x 50,000 x 2,024 float32 embeddings with 80
# named columns (benchmarks/bench_stats_speed.py --classifier --named 80, one BLAS thread, load 1-4, medians
# of 3): difference_test took 162 s and 4.66 GB with 31 fits on all 50,000 discovery rows (and 31 per named
# fold), this 19.3 s and 1.62 GB, same C and the same validation and named AUROC. With 200 columns shifted by
# 0.03 SD instead, validation AUROC 0.601 at C = 0.1 down to 0.583 at C = 30: a sample of 5,000 per set chose
# 0.1 (19.8 s warm-started, 38.4 s cold, load 5), one of 1,000 per set chose 0.3 (0.594).
CV_ROWS_PER_SET = 5000


@contextmanager
def blas_threads(limit: int = BLAS_THREADS) -> Iterator[None]:
    """Run the enclosed numpy / scipy / scikit-learn work on at most ``limit`` BLAS threads (`BLAS_THREADS`);
    also a decorator."""
    with threadpool_limits(limits=limit, user_api="blas"):
        yield


class Memo(Protocol):
    """Where `difference_test` keeps what it fitted, to give it back when asked again with the same inputs
    (e.g. the score cache, ``describe``'s ``_StatsMemo``). Keys name every input; the memo's owner adds
    what else decides the numbers (this module's code, the libraries' versions)."""

    def recall(self, key: str) -> bytes | None:
        """Return the bytes stored under ``key``, or None."""

    def remember(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``."""


def digest(*parts: Any) -> str:
    """Return a hex digest of ``parts``: arrays by dtype, shape and contents, anything else by ``repr``."""
    hasher = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            array = np.ascontiguousarray(part)
            hasher.update(f"{array.dtype.str}{array.shape}".encode())
            if array.dtype == object:
                hasher.update(repr(array.tolist()).encode())
            else:  # the array's own buffer, not a copy of it (a score matrix can be gigabytes)
                hasher.update(memoryview(array.reshape(-1)).cast("B"))
        else:
            hasher.update(repr(part).encode())
        hasher.update(b"|")
    return hasher.hexdigest()


def _memoised(memo: Memo | None, what: str, parts: tuple, compute: Callable[[], np.ndarray]) -> np.ndarray:
    """``compute()`` (float64 numbers), or what ``memo`` kept for the same ``what`` and ``parts``: the
    very floats computed then, so a result read back is the result computed."""
    if memo is None:
        return np.asarray(compute(), dtype=np.float64)
    key = f"classifier.{what}:{digest(*parts)}"
    kept = memo.recall(key)
    if kept is not None:
        return np.frombuffer(kept, dtype=np.float64).copy()
    value = np.asarray(compute(), dtype=np.float64)
    memo.remember(key, value.tobytes())
    return value


@dataclass(frozen=True)
class DifferenceTest:
    """The outcome of ``difference_test``.

    Attributes:
        auroc, auroc_ci, p_value, significant: the image classifier on validation images (AUROC of its
            A-vs-B decision value, 0.5 = chance; one-sided Mann-Whitney p; ``p_value < alpha``).
        named_auroc: the named findings' model on validation (0.5 when there are none; None when the test
            could not run).
        explained_share: see the module docstring; None when undefined.
        n_named: number of named findings used.
        c: the regularisation chosen.
        n_features, n_discovery, n_validation: what the classifier saw.
        most_a_like: row indices of the validation images of set A with the highest decision values,
            highest first; most_b_like: of set B with the lowest, lowest first.
        decision: the decision value of every row (NaN for discovery and left-out rows).
        reason: None, or why the test could not run (then the numbers are NaN / None).
    """

    n_features: int
    n_discovery: int
    n_validation: int
    decision: np.ndarray = field(repr=False)
    auroc: float = math.nan
    auroc_ci: tuple[float, float] = (math.nan, math.nan)
    p_value: float = math.nan
    significant: bool = False
    named_auroc: float | None = None
    explained_share: float | None = None
    n_named: int = 0
    c: float = math.nan
    most_a_like: list[int] = field(default_factory=list)
    most_b_like: list[int] = field(default_factory=list)
    reason: str | None = None


@blas_threads()
def difference_test(
    embeddings: ArrayLike,
    groups: ArrayLike,
    validation_mask: ArrayLike,
    named_scores: ArrayLike | None = None,
    seed: int = 0,
    alpha: float = 0.05,
    n_examples: int = N_EXAMPLES,
    blocks: tuple[int, ...] | None = None,
    named_folds: Sequence[tuple[ArrayLike, Sequence[int]]] | None = None,
    memo: Memo | None = None,
) -> DifferenceTest:
    """Test whether a classifier trained on the discovery half tells A from B on the validation half.

    Parameters:
        embeddings: images x features (e.g. the backbone's pooled features). Rows with a non-finite value
            are left out.
        groups: "a" or "b" per row.
        validation_mask: True for validation rows, False for discovery rows.
        named_scores: images x named findings (the concept scores of the significant, unexplained findings),
            or None / zero columns when there are none; with ``named_folds``, images x every hypothesis the
            folds may declare. NaN scores are filled with the discovery median.
        seed: seeds the cross-validation folds.
        alpha: ``significant`` is ``p_value < alpha``.
        n_examples: how many validation images of each set to return as most A-like / most B-like.
        blocks: widths of the embedding's consecutive column blocks (summing to the number of columns);
            None = one block.
        named_folds: the cross-fitted named sets (module docstring): per fold, ``(measure_rows, columns)``:
            a bool mask of the validation rows to measure on, and the columns of ``named_scores`` declared
            without them. None: every column of ``named_scores``, measured on all validation rows (leans
            optimistic when the columns were declared on those rows).
        memo: where to keep the image classifier's decision values and the named model's AUROC, keyed by
            every input they depend on, and read them back from (`Memo`): a run repeated on the same images
            fits nothing again (the image classifier also not with another ``alpha`` or other named
            findings). On 2 x 500 photos the fits took 1.2 s of a 3.4 s warm run.

    Returns:
        A ``DifferenceTest``.
    """
    X = _as_float(embeddings)
    labels = check_groups(np.asarray(groups))
    validation = np.asarray(validation_mask, dtype=bool)
    if X.ndim != 2 or X.shape[0] != labels.shape[0] or validation.shape != labels.shape:
        raise ValueError(f"embeddings {X.shape}, groups {labels.shape} and validation_mask "
                         f"{validation.shape} must have one row per image")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    y = labels == "a"
    usable = np.isfinite(X).all(axis=1)
    train, test = usable & ~validation, usable & validation
    decisions = np.full(len(labels), np.nan)
    empty = DifferenceTest(int(X.shape[1]), int(train.sum()), int(test.sum()), decisions)
    reason = _cannot_run(y, train, test)
    if reason:
        return replace(empty, reason=reason)

    c, *decision = _memoised(memo, "image", (X, y, train, test, seed, blocks),
                             lambda: _image_decisions(X, y, train, test, seed, blocks))
    decision = np.asarray(decision, dtype=np.float64)
    decisions[test] = decision
    a_values, b_values = decision[y[test]], decision[~y[test]]
    image_auroc = auroc(a_values, b_values)
    p_value = rank_test(a_values, b_values, "greater")
    most_a_like, most_b_like = _extremes(decisions, y, test, n_examples)
    named = _as_named(named_scores, len(labels))
    if named_folds is None:
        named_value = float(_memoised(memo, "named", (named, y, train, test, seed),
                                      lambda: [named_auroc(named, y, train, test, seed)])[0])
    else:
        folds = [(np.asarray(rows, dtype=bool), [int(i) for i in columns]) for rows, columns in named_folds]
        named_value = float(_memoised(
            memo, "named_folds", (named, y, train, test, seed, *(part for fold in folds for part in fold)),
            lambda: [cross_fitted_named_auroc(named, y, train, test, folds, seed)])[0])
    return replace(
        empty, auroc=image_auroc, auroc_ci=auroc_ci(a_values, b_values), p_value=p_value,
        significant=bool(p_value < alpha), c=float(c), most_a_like=most_a_like, most_b_like=most_b_like,
        n_named=int(named.shape[1]), named_auroc=named_value,
        explained_share=explained_share(named_value, image_auroc),
    )


def _image_decisions(
    X: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray, seed: int,
    blocks: tuple[int, ...] | None,
) -> np.ndarray:
    """The image classifier fitted on the ``train`` rows: its C, then its decision values on the ``test``
    rows."""
    model = fit_classifier(X[train], y[train], seed, blocks)
    return np.concatenate([[model.C], model.decision_function(X[test])])


def cross_fitted_named_auroc(
    named: np.ndarray,
    y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    folds: Sequence[tuple[ArrayLike, Sequence[int]]],
    seed: int = 0,
) -> float:
    """Return the mean over ``folds`` of the named model's AUROC on each fold's measuring rows (within
    ``test``), the model fitted on ``train`` rows with that fold's declared columns (0.5 for a fold that
    declared none; a fold with fewer than one image of a set to measure on is left out; 0.5 when all are).
    Folds that declared the same columns share one fit (the same inputs would give the same model)."""
    decisions: dict[tuple[int, ...], np.ndarray] = {}  # declared columns -> decision value of every row
    values = []
    for measure_rows, columns in folds:
        measure = test & np.asarray(measure_rows, dtype=bool)
        if not (measure & y).any() or not (measure & ~y).any():
            continue
        key = tuple(int(i) for i in columns)
        if not key:
            values.append(0.5)
            continue
        if key not in decisions:
            decisions[key] = np.full(len(y), np.nan)
            decisions[key][test] = _named_decisions(named[:, list(key)], y, train, test, seed)
        decision = decisions[key][measure]
        values.append(auroc(decision[y[measure]], decision[~y[measure]]))
    return float(np.mean(values)) if values else 0.5


@blas_threads()
def fit_classifier(
    X: np.ndarray, y: np.ndarray, seed: int = 0, blocks: tuple[int, ...] | None = None,
    cv_rows: int | None = None,
) -> EmbeddingClassifier:
    """Return a fitted classifier: standardise, scale each block by 1 / sqrt(width), L2 logistic regression.

    ``y`` is boolean (True = set A). C is the value of ``C_GRID`` with the best pooled out-of-fold AUROC in
    stratified cross-validation (folds shuffled with ``seed``; ties go to the stronger regularisation); with
    fewer than 2 images of a set, the middle of the grid. When a set has more than ``cv_rows`` rows (None:
    `CV_ROWS_PER_SET`), C is chosen on a seeded sample of at most ``cv_rows`` rows per set and the model is
    then fitted once on all rows, C scaled by sample / all rows to keep its penalty per row (`_fit_large`;
    the returned ``C`` is the chosen one).
    """
    y = np.asarray(y, dtype=bool)
    weights = _block_weights(X.shape[1], blocks)
    cv_rows = CV_ROWS_PER_SET if cv_rows is None else cv_rows
    if max(int(y.sum()), int((~y).sum())) > cv_rows:
        return _fit_large(X, y, seed, weights, cv_rows)
    X = np.asarray(X, dtype=np.float64)
    scaler = StandardScaler().fit(X)
    basis = _row_space(scaler.transform(X) * weights)
    classifier = EmbeddingClassifier(scaler, weights, C_GRID[len(C_GRID) // 2], basis)
    classifier.C = _chosen_c(lambda: classifier.features(X), y, seed)
    classifier.model.set_params(C=classifier.C)
    return classifier.fit(X, y)


def _chosen_c(features: Callable[[], np.ndarray], y: np.ndarray, seed: int, warm: bool = False) -> float:
    """Return the value of ``C_GRID`` with the best pooled out-of-fold AUROC on ``features()`` (computed only
    when there are at least 2 folds; ties go to the smaller C), or the middle of the grid with fewer than 2
    images of a set. ``warm``: each fold's fits go up the grid from the previous C's weights."""
    folds = min(MAX_FOLDS, int(y.sum()), int((~y).sum()))
    if folds < 2:
        return C_GRID[len(C_GRID) // 2]
    Z = features()
    splits = list(StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(Z, y))
    out_of_fold = {c: np.empty(len(y)) for c in C_GRID}
    for fit_rows, held_rows in splits:
        Z_fit, y_fit, Z_held = Z[fit_rows], y[fit_rows], Z[held_rows]
        model = None
        for c in C_GRID:
            if model is None or not warm:
                model = _logistic(c).set_params(warm_start=warm)
            model.set_params(C=c).fit(Z_fit, y_fit)
            out_of_fold[c][held_rows] = model.decision_function(Z_held)
    best, best_c = -np.inf, C_GRID[len(C_GRID) // 2]
    for c in C_GRID:
        score = auroc(out_of_fold[c][y], out_of_fold[c][~y])
        if score > best + 1e-9:
            best, best_c = score, c
    return best_c


def _fit_large(
    X: np.ndarray, y: np.ndarray, seed: int, weights: np.ndarray, cv_rows: int
) -> EmbeddingClassifier:
    """Return the classifier of `fit_classifier` for many rows: the scaler fitted ``ROW_BLOCK`` rows at a
    time, C chosen by cross-validation (warm-started up the grid) on at most ``cv_rows`` rows per set drawn
    with ``seed`` (`_cv_sample`), then one fit on all rows with that C scaled by sample / all rows. The
    standardised rows are built once, in float64 (what the solver needs), ``ROW_BLOCK`` rows at a time: ``X``
    is not converted whole."""
    scaler = StandardScaler()
    for rows in row_blocks(len(X)):
        scaler.partial_fit(np.asarray(X[rows], dtype=np.float64))
    classifier = EmbeddingClassifier(scaler, weights, C_GRID[len(C_GRID) // 2])
    Z = classifier.features(X)
    sample = _cv_sample(y, cv_rows, seed)
    classifier.C = _chosen_c(lambda: Z[sample], y[sample], seed, warm=True)
    # scikit-learn's objective sums the loss over rows, so the same C on more rows regularises less: the fit
    # on all rows takes C x sample / all, the penalty per row that cross-validation chose (as the full path
    # does up to its folds' 4/5). 2 x 25,000 synthetic rows, 200 of 2,024 features shifted 0.03 SD, C 0.1
    # chosen: validation AUROC 0.5943 with the scaled C (0.04), 0.5923 with 0.1 (2026-12-01).
    classifier.model.set_params(C=classifier.C * len(sample) / len(y)).fit(Z, y)
    return classifier


def _cv_sample(y: np.ndarray, per_set: int, seed: int) -> np.ndarray:
    """Return the sorted indices of at most ``per_set`` rows of each set (True / False in ``y``), drawn
    without replacement with ``seed``."""
    rng = np.random.default_rng(seed)
    chosen = []
    for members in (np.flatnonzero(y), np.flatnonzero(~y)):
        chosen.append(members if len(members) <= per_set else rng.choice(members, per_set, replace=False))
    return np.sort(np.concatenate(chosen))


def _row_space(Z: np.ndarray) -> np.ndarray | None:
    """Orthonormal basis (columns) of the span of the rows of ``Z``; None (the identity) when rows outnumber
    columns.

    With more features than images, an L2 logistic regression's weights lie in the span of the training rows
    (the penalty removes any other component), so fitting in these coordinates gives the same decision
    function as fitting on all the features, several times faster.
    """
    n, d = Z.shape
    if n >= d:
        return None
    _, singular, vt = np.linalg.svd(Z, full_matrices=False)
    keep = singular > singular[0] * 1e-10 if singular.size else singular.astype(bool)
    return vt[keep].T


class EmbeddingClassifier:
    """Standardise with a fitted scaler, weight the columns, project on ``basis`` (see `_row_space`; None =
    keep every column, as the identity), then an L2 logistic regression with ``C = c``."""

    def __init__(
        self, scaler: StandardScaler, weights: np.ndarray, c: float, basis: np.ndarray | None = None
    ) -> None:
        self.scaler, self.weights, self.C = scaler, weights, float(c)
        # The identity is kept as a matrix for train.detectors.fold_classifier, but never multiplied by.
        self.basis = np.eye(len(weights)) if basis is None else basis
        self._project = basis is not None
        self.model = _logistic(self.C)

    def fit(self, X: np.ndarray, y: np.ndarray) -> EmbeddingClassifier:
        """Fit the logistic regression on the transformed ``X``; return self."""
        self.model.fit(self.features(X), y)
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Return the log-odds that each row belongs to set A (computed ``ROW_BLOCK`` rows at a time)."""
        return np.concatenate([self.model.decision_function(self._transform(X[rows]))
                               for rows in row_blocks(len(X))])

    def features(self, X: np.ndarray) -> np.ndarray:
        """Return ``X`` standardised, weighted and projected: float64, built ``ROW_BLOCK`` rows at a time."""
        if len(X) <= ROW_BLOCK:
            return self._transform(X)
        out = np.empty((len(X), self.basis.shape[1]))
        for rows in row_blocks(len(X)):
            out[rows] = self._transform(X[rows])
        return out

    def _transform(self, X: np.ndarray) -> np.ndarray:
        Z = self.scaler.transform(np.asarray(X, dtype=np.float64)) * self.weights
        return Z @ self.basis if self._project else Z


def _logistic(c: float) -> LogisticRegression:
    return LogisticRegression(C=c, max_iter=5000)


def _block_weights(n_columns: int, blocks: tuple[int, ...] | None) -> np.ndarray:
    blocks = tuple(blocks) if blocks else (n_columns,)
    if sum(blocks) != n_columns or min(blocks) < 1:
        raise ValueError(f"blocks {blocks} do not add up to the {n_columns} embedding columns")
    return np.concatenate([np.full(width, 1.0 / np.sqrt(width)) for width in blocks])


def named_auroc(
    named: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray, seed: int = 0
) -> float:
    """Return the validation AUROC of the same model fitted on the named findings' scores (discovery rows).

    0.5 when there are no named findings; a single finding is scored directly in the direction the
    discovery half shows (the model would only rescale it).
    """
    if named.shape[1] == 0:
        return 0.5
    decision = _named_decisions(named, y, train, test, seed)
    return auroc(decision[y[test]], decision[~y[test]])


def _named_decisions(
    named: np.ndarray, y: np.ndarray, train: np.ndarray, rows: np.ndarray, seed: int
) -> np.ndarray:
    """Return the named model's decision values on ``rows`` (`named_auroc`: fitted on the ``train`` rows of
    the NaN-filled ``named``, at least one column; one column is its own decision, signed as discovery
    shows)."""
    named = _fill_nan(named, train)
    if named.shape[1] == 1:
        values = named[:, 0]
        sign = 1.0 if auroc(values[train & y], values[train & ~y]) >= 0.5 else -1.0
        return sign * values[rows]
    return fit_classifier(named[train], y[train], seed).decision_function(named[rows])


def explained_share(named: float | None, images: float | None) -> float | None:
    """Return clip((named - 0.5) / (images - 0.5), 0, 1); None when undefined (images <= 0.5 or missing)."""
    if named is None or images is None or not math.isfinite(named) or not math.isfinite(images):
        return None
    if images <= 0.5:
        return None
    return float(np.clip((named - 0.5) / (images - 0.5), 0.0, 1.0))


def _cannot_run(y: np.ndarray, train: np.ndarray, test: np.ndarray) -> str | None:
    for name, rows in (("discovery", train), ("validation", test)):
        for label, members in (("A", y), ("B", ~y)):
            if (rows & members).sum() < 2:
                return f"fewer than 2 usable images of set {label} in the {name} half"
    return None


def _extremes(
    decision: np.ndarray, y: np.ndarray, test: np.ndarray, n: int
) -> tuple[list[int], list[int]]:
    a_rows = np.flatnonzero(test & y)
    b_rows = np.flatnonzero(test & ~y)
    most_a = a_rows[np.argsort(-decision[a_rows], kind="stable")][:n]
    most_b = b_rows[np.argsort(decision[b_rows], kind="stable")][:n]
    return [int(i) for i in most_a], [int(i) for i in most_b]


def _as_float(embeddings: ArrayLike) -> np.ndarray:
    """Return ``embeddings`` as an array of float32 or float64 (as given; other types become float64): rows
    are converted to float64 when fitted, so 2 x 50,000 float32 embeddings are not copied whole as float64."""
    X = np.asarray(embeddings)
    return X if X.dtype in (np.float32, np.float64) else X.astype(np.float64)


def _as_named(named_scores: ArrayLike | None, n_rows: int) -> np.ndarray:
    if named_scores is None:
        return np.empty((n_rows, 0))
    named = np.asarray(named_scores, dtype=np.float64)
    if named.ndim == 1:
        named = named[:, None]
    if named.shape[0] != n_rows:
        raise ValueError(f"named_scores has {named.shape[0]} rows for {n_rows} images")
    return named


def _fill_nan(named: np.ndarray, train: np.ndarray) -> np.ndarray:
    """Replace NaN by the column's discovery median (0 when the column has none there)."""
    if not np.isnan(named).any():
        return named
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        medians = np.nanmedian(named[train], axis=0)
    medians = np.where(np.isnan(medians), 0.0, medians)
    return np.where(np.isnan(named), medians, named)
