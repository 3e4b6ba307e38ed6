"""The statistical contract: what a reported finding means.

``test_concepts`` ranks hypotheses on a discovery half of the images and measures them on the other
(validation) half; ``test_hypotheses_on_all`` tests hypotheses written before the data was seen, on every
image. Both return one row per tested hypothesis with these columns:

- ``concept``: the concept id.
- ``direction``: "a" when the claim is that set A scores higher, "b" when set B does.
- ``auroc``: P(an image of the set named in ``direction`` scores higher than an image of the other set)
  + 0.5 P(tie). Above 0.5 means the claim holds on the tested images; for ``direction == "a"`` it is the
  usual AUROC of the score for telling A from B, for ``"b"`` it is one minus that.
- ``auroc_ci_low``, ``auroc_ci_high``: its 95% confidence interval (see ``auroc_ci``).
- ``p_value``: Mann-Whitney rank test, one-sided in ``direction`` (two-sided for an undirected
  hypothesis in ``test_hypotheses_on_all``); ``q_value``: corrected over exactly the rows returned.
- ``weight``: the hypothesis's weight in that correction (mean 1 over the rows). 1 everywhere, except
  with a learned describer: then ``stats.describer.hypothesis_weights`` sets it from the describer's
  confidence on the discovery half, and the correction is weighted Benjamini-Hochberg (or weighted Holm),
  which keeps its error rate because the weights never see the validation p-values.
- ``significant``: ``q_value < alpha``.
- ``reportable``: True for a hypothesis of the findings family, False for one of the signals family (see
  ``test_concepts``'s ``reportable``). The two families are selected, corrected and explained away each on
  its own; ``q_value``, ``weight`` and ``n_tested`` refer to the row's own family.
- ``explained_by``: None, or the id of a stronger significant finding that accounts for this one
  (see ``tellapart.stats.explain``). Only significant findings are checked.
- ``discovery_auroc``: the same AUROC on the discovery half (NaN in ``test_hypotheses_on_all``).
- ``describer_score``: the learned describer's score on the discovery half (higher: more likely the cause
  of the difference; NaN without a describer).
- ``median_a``, ``median_b``: median score per set on the tested images.
- ``share_a``, ``share_b``: share of each set's tested images scoring at or above the concept's
  threshold (presence concepts given in ``thresholds``; NaN otherwise).
- ``n_a``, ``n_b``: tested images per set with a score for the concept (NaN scores are left out).
- ``n_tested``: number of hypotheses in the row's correction (its family's size).
- ``auroc_unadjusted``, ``p_value_unadjusted``: with ``strata`` (``test_concepts``), ``auroc``, its
  interval and ``p_value`` are the stratified ones (``stats.stratified.van_elteren``) and these are the
  plain AUROC and rank-test p-value on the same images, side by side; NaN without strata.

Rows of the findings family come first, then the signals. Within each, rows are sorted significant
first, then by strength: ``auroc`` rounded to bins of ``STRENGTH_BIN`` (findings within one bin are
statistically indistinguishable at these sample sizes), then by the caller's ``priority`` (lower first:
e.g. named objects before pixel statistics), then by exact ``auroc`` and ``p_value``. Before all of
that, a presence concept that fewer than ``MIN_VISIBLE_SHARE`` of either set's validation images show
outright (its score rises but stays under the threshold) sorts after the other significant findings: it
is real but hard for a person to see. With a learned describer (``ranker``), significant
findings are sorted by its discovery score instead, which has learned all of this from synthetic pairs.
``DataFrame.attrs["n_screened"]`` holds the number of concepts looked at.
"""

from __future__ import annotations

import warnings
from collections.abc import Collection

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.stats import norm

from tellapart.stats.auroc import auroc, auroc_ci, auroc_of_ranks, mid_ranks_and_ties
from tellapart.stats.describer import (
    DESCRIBER_MAX_HYPOTHESES,
    DESCRIBER_SCREEN_LEVEL,
    Ranker,
    hypothesis_weights,
)
from tellapart.stats.explain import explain_away
from tellapart.stats.maxt import PERMUTATIONS, max_t, relabellings
from tellapart.stats.split import check_groups, split_discovery_validation
from tellapart.stats.stratified import van_elteren, van_elteren_matrix
from tellapart.stats.tests import CORRECTIONS, correct, mann_whitney_matrix, rank_test

# Discovery screen: a concept is validated only if its one-sided rank-test p-value on the discovery half,
# in the direction observed there, is below this level (the same as a two-sided p below 0.05). Each
# validated hypothesis costs power in the correction, so the level trades concepts missed at discovery for
# a smaller correction. Simulated with a d = 1.2 shift among 60 independent null concepts and 40 + 40
# images (see tests/test_stats.py), the chance that the shift ends up significant is 0.79 at level 0.1
# (12 nulls validated on average), 0.84 at 0.05 (6), 0.87 at 0.025-0.03 (3) and 0.87 at 0.01 (1, but the
# shift itself now fails the screen 10% of the time): 0.025 sits at the optimum. With large libraries
# ``max_hypotheses`` binds first. Null calibration does not depend on the level: validation p-values of
# null concepts are uniform whatever was selected on the disjoint discovery half.
SCREEN_LEVEL = 0.025
MAX_HYPOTHESES = 30  # validated hypotheses without a learned describer
# Validated hypotheses of the signals family (concepts not reported in this run, ``stats.reportable``): a
# short list for the collapsed "signals nobody can name"; its correction is its own, so it costs the
# findings nothing whatever its size.
MAX_SIGNALS = 10

# Width of the AUROC bins within which findings count as equally strong and the caller's priority decides.
STRENGTH_BIN = 0.025
# A presence concept shown outright by less than this share of both sets is ranked after the others; one
# that less than this share of both sets' discovery images show is a signal, not a finding
# (``stats.reportable``).
MIN_VISIBLE_SHARE = 0.1

# How the images are used: a discovery half chooses and a validation half tests ("split"), or every concept
# is tested on every image with permutation max-T ("maxt", ``test_all_max_t``).
DESIGNS = ("maxt", "split")
DEFAULT_DESIGN = "maxt"

COLUMNS = [
    "concept", "direction", "auroc", "auroc_ci_low", "auroc_ci_high", "p_value", "q_value", "weight",
    "significant", "reportable", "explained_by", "discovery_auroc", "describer_score", "median_a",
    "median_b", "share_a", "share_b", "n_a", "n_b", "n_tested", "auroc_unadjusted", "p_value_unadjusted",
]
_DTYPES = {
    "concept": object, "direction": object, "significant": bool, "reportable": bool, "explained_by": object,
    "n_a": np.int64,
    "n_b": np.int64, "n_tested": np.int64,
}


def _check_settings(alpha: float, correction: str) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    if correction not in CORRECTIONS:
        raise ValueError(f"correction must be one of {sorted(CORRECTIONS)}, got {correction!r}")


def _check_inputs(scores: pd.DataFrame, groups: np.ndarray, min_per_group: int) -> np.ndarray:
    if not isinstance(scores, pd.DataFrame):
        raise TypeError(f"scores must be a pandas DataFrame (images x concept ids), got {type(scores)}")
    labels = check_groups(groups)
    if len(labels) != len(scores):
        raise ValueError(f"groups has {len(labels)} labels for {len(scores)} rows of scores")
    for label in ("a", "b"):
        if (labels == label).sum() < min_per_group:
            raise ValueError(f"set {label.upper()} needs at least {min_per_group} images")
    if scores.columns.duplicated().any():
        raise ValueError("scores has duplicate concept ids")
    return labels


def _check_strata(strata: ArrayLike | None, labels: np.ndarray) -> np.ndarray | None:
    """``strata`` as an array with one stratum id per row of the scores (None stays None)."""
    if strata is None:
        return None
    strata = np.asarray(strata)
    if strata.shape != labels.shape:
        raise ValueError(f"strata has {strata.size} ids for {len(labels)} rows of scores")
    return strata


def _check_max_hypotheses(max_hypotheses: int) -> None:
    if max_hypotheses < 1:
        raise ValueError(f"max_hypotheses must be at least 1, got {max_hypotheses}")


def _strength_bin(auroc_distance: np.ndarray) -> np.ndarray:
    """Bin index of |AUROC - 0.5| (higher is stronger); equal bins mean "about as strong"."""
    return np.round(np.asarray(auroc_distance, dtype=np.float64) / STRENGTH_BIN)


def screen(values: np.ndarray, labels: np.ndarray, screen_level: float = SCREEN_LEVEL,
           strata: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The discovery screen: which columns vary and separate A from B at ``screen_level`` (one-sided);
    within ``strata`` when given (``stats.stratified.van_elteren_matrix``).

    Returns:
        ``(eligible, auroc, one_sided_p)`` per column: a bool mask, the A-vs-B AUROC and the one-sided
        p-value in the direction observed.
    """
    if strata is None:
        auc, two_sided = mann_whitney_matrix(values[labels == "a"], values[labels == "b"], "two-sided")
    else:
        auc, two_sided = van_elteren_matrix(values, labels, strata)
    one_sided = np.minimum(two_sided / 2, 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        varies = np.nanmax(values, axis=0) > np.nanmin(values, axis=0)
    eligible = varies & np.isfinite(auc) & (auc != 0.5) & (one_sided < screen_level)
    return eligible, auc, one_sided


def _select(
    values: np.ndarray,
    labels: np.ndarray,
    screen_level: float,
    priority: np.ndarray,
    ranker: Ranker | None = None,
    strata: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rank the columns that pass the discovery screen (within ``strata`` when given), from discovery
    images alone.

    The describer scores every eligible column at once, whichever family (findings or signals) it
    belongs to: its features are relative to the whole candidate set, so ranking each family alone
    would change what it sees.

    Returns:
        ``(order, discovery_auroc, describer_score)``: indices of the eligible columns in ranking order
        (the describer's when ``ranker`` is given, else furthest AUROC from 0.5 first with ``priority``
        breaking near-ties), the A-vs-B AUROC of every column on discovery, and the describer's score of
        every column (NaN for columns it did not score, or all NaN without a ranker).
    """
    eligible, auc, one_sided = screen(values, labels, screen_level, strata)
    strength = np.where(eligible, np.abs(auc - 0.5), -1.0)
    described = np.full(values.shape[1], np.nan)
    candidates = np.flatnonzero(eligible)
    if ranker is not None and len(candidates):
        described[candidates] = ranker(values, labels, candidates)
        order = candidates[np.lexsort((-strength[candidates], -described[candidates]))]
    else:
        order = np.lexsort((one_sided, -strength, priority, -_strength_bin(strength)))
        order = order[eligible[order]]
    return order, auc, described


def _row(
    concept_id: str,
    values: np.ndarray,
    labels: np.ndarray,
    direction: str | None,
    threshold: float | None,
    strata: np.ndarray | None = None,
    level: float = 0.95,
) -> dict:
    """Measure one hypothesis on the given images; direction None means two-sided, reported as observed.
    ``level`` is the confidence level of the AUROC interval.
    With ``strata`` (a stratum id per image) the effect and p-value are the within-strata ones and the
    plain ones go to ``auroc_unadjusted`` / ``p_value_unadjusted``."""
    a = values[(labels == "a") & ~np.isnan(values)]
    b = values[(labels == "b") & ~np.isnan(values)]
    if direction is None:
        observed = auroc(a, b)
        reported = "b" if observed < 0.5 else "a"
        alternative = "two-sided"
    else:
        reported, alternative = direction, ("greater" if direction == "a" else "less")
    higher, lower = (a, b) if reported == "a" else (b, a)
    if a.size and b.size:  # one ranking serves the effect, its interval and the test
        ranks, ties = mid_ranks_and_ties(np.concatenate([a, b]))
        ranks_higher, _ = _higher_first(ranks, a.size, reported == "a")
        low, high = auroc_ci(higher, lower, level, pooled=ranks_higher)
        effect = auroc_of_ranks(ranks_higher, higher.size)
        p_value = rank_test(a, b, alternative, ranked=(ranks, ties))
    else:
        low, high = auroc_ci(higher, lower, level)
        effect, p_value = auroc(higher, lower), rank_test(a, b, alternative)
    nan = float("nan")
    unadjusted = (nan, nan)
    if strata is not None:
        unadjusted = (effect, p_value)
        effect, (low, high), p_value = van_elteren(values, labels, strata, alternative, level)
    return {
        "concept": concept_id,
        "direction": reported,
        "auroc": effect,
        "auroc_ci_low": low,
        "auroc_ci_high": high,
        "p_value": p_value,
        "auroc_unadjusted": unadjusted[0],
        "p_value_unadjusted": unadjusted[1],
        "median_a": float(np.median(a)) if a.size else nan,
        "median_b": float(np.median(b)) if b.size else nan,
        "share_a": float(np.mean(a >= threshold)) if threshold is not None and a.size else nan,
        "share_b": float(np.mean(b >= threshold)) if threshold is not None and b.size else nan,
        "n_a": int(a.size),
        "n_b": int(b.size),
    }


def _higher_first(ranks: np.ndarray, n_a: int, a_higher: bool) -> tuple[np.ndarray, int]:
    """The mid-ranks of ``concatenate([a, b])`` (``a`` has ``n_a`` scores) reordered to those of
    ``concatenate([higher, lower])``, and the size of ``higher``."""
    if a_higher:
        return ranks, n_a
    return np.concatenate([ranks[n_a:], ranks[:n_a]]), ranks.size - n_a


def _finish(
    rows: list[dict],
    scores: pd.DataFrame,
    labels: np.ndarray,
    alpha: float,
    correction: str,
    explain_directions: dict[str, str],
    priority: dict[str, int],
    described: bool = False,
    weights: np.ndarray | None = None,
    reportable: bool = True,
    lead: Collection[str] = (),
    adjusted: tuple[np.ndarray, int] | None = None,
) -> pd.DataFrame:
    """Correct (with ``weights`` per row, if given; or take ``adjusted``: the q-values of the rows and the
    number of hypotheses they were adjusted over), explain away among significant findings (findings
    family only: ``reportable``), sort (``lead`` concepts first among the significant), and return the
    table of one family."""
    if not rows:
        return _empty_table()
    table = pd.DataFrame.from_records(rows, columns=COLUMNS)
    table["reportable"] = reportable
    table["weight"] = 1.0 if weights is None else weights
    if adjusted is None:
        table["q_value"] = correct(table["p_value"].to_numpy(), correction, weights)
        table["n_tested"] = len(table)
    else:
        table["q_value"], table["n_tested"] = adjusted
    table["significant"] = table["q_value"] < alpha
    hidden = np.fmax(table["share_a"], table["share_b"]) < MIN_VISIBLE_SHARE  # NaN (magnitude) is False
    table["_hidden"] = hidden
    table["_bin"] = _strength_bin(table["auroc"] - 0.5)
    table["_priority"] = table["concept"].map(lambda cid: priority.get(cid, 0))
    table["_lead"] = table["concept"].isin(set(lead))
    if described:
        keys = ["significant", "_lead", "describer_score", "auroc", "p_value", "concept"]
        ascending = [False, False, False, False, True, True]
    else:
        keys = ["significant", "_lead", "_hidden", "_bin", "_priority", "auroc", "p_value", "concept"]
        ascending = [False, False, True, False, True, False, True, True]
    table = table.sort_values(keys, ascending=ascending, kind="stable").drop(
        columns=["_hidden", "_bin", "_priority", "_lead"]).reset_index(drop=True)
    strongest_first = table.loc[table["significant"], "concept"].tolist() if reportable else []
    explained = explain_away(scores, labels, strongest_first, alpha, explain_directions)
    table["explained_by"] = pd.Series([explained.get(cid) for cid in table["concept"]], dtype=object)
    return table


def _empty_table() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=_DTYPES.get(c, np.float64)) for c in COLUMNS})


def test_concepts(
    scores: pd.DataFrame,
    groups: np.ndarray,
    *,
    seed: int,
    alpha: float = 0.05,
    max_hypotheses: int | None = None,
    correction: str = "bh",
    thresholds: dict[str, float] | None = None,
    screen_level: float | None = None,
    priority: dict[str, int] | None = None,
    ranker: Ranker | None = None,
    reportable: ArrayLike | None = None,
    max_signals: int = MAX_SIGNALS,
    lead: Collection[str] = (),
    strata: ArrayLike | None = None,
    design: str = "split",
) -> pd.DataFrame:
    """Find which concepts tell set A from set B, with held-out evidence.

    ``design`` chooses how the images are used: ``"split"`` (described here) or ``"maxt"``, which tests
    every concept on every image with a permutation-calibrated step-down max-T (``test_all_max_t``; the
    other parameters mean the same there, except ``screen_level``, which it does not use).

    The images are split per set with ``seed`` (``split_discovery_validation``). On the discovery half
    only, every concept's AUROC and one-sided rank-test p-value are computed; concepts whose p-value is
    below ``screen_level`` are ranked by how far their AUROC is from 0.5, and the first ``max_hypotheses``
    become hypotheses, each with its direction fixed on discovery. Concepts constant or all-NaN on
    discovery are never chosen. On the validation half only, each hypothesis gets its AUROC, confidence
    interval and one-sided p-value; the p-values are corrected (``correction``: "bh" or "holm") over
    exactly these hypotheses, ``significant`` is ``q_value < alpha``, and significant findings are
    explained away strongest first on validation images. ``priority`` (concept id -> int, lower first,
    default 0) orders concepts of about equal strength, in the discovery ranking and in the output.
    ``ranker`` (a learned describer's ``LearnedDescriber.ranker``) replaces that ordering: called with the
    discovery scores, labels and the screened column indices, it returns one score per column (higher
    first), which chooses the hypotheses and orders the significant findings and the explaining-away;
    its confidence also weights the hypotheses in the correction (column ``weight``).
    ``screen_level`` defaults to ``SCREEN_LEVEL`` without a ranker and ``DESCRIBER_SCREEN_LEVEL`` with one;
    ``max_hypotheses`` to ``MAX_HYPOTHESES`` without and ``DESCRIBER_MAX_HYPOTHESES`` with one.

    ``reportable`` (a bool per column of ``scores``; None = all) splits the concepts into two families:
    those that may be reported as findings, and signals nobody can name in these images
    (``stats.reportable.reportable_concepts``; the mask must not depend on the validation half's labels).
    All
    columns are screened and ranked once on discovery; each family takes its first ``max_hypotheses``
    (signals: ``max_signals``) from that order, and is validated and corrected on its own, so a signal
    never costs a finding power; only findings are explained away (by findings).

    ``lead`` (concept ids) are listed first among the significant findings, and explained away first,
    whatever their strength: e.g. the measured structures on scans and micrographs, which a clinician names
    before the image-wide statistics that often move with them (``describe`` decides it without the
    labels). It never changes which hypotheses are tested or their p-values; it does change which finding
    may explain which: a lead finding is never explained by a stronger non-lead one, and may itself
    explain a stronger one away (the same rank ANCOVA test, in that order).

    ``strata`` (an int stratum id per row, e.g. ``stats.stratified.strata`` of the scanner column, fixed
    without the labels) adjusts for what the strata record: on validation each hypothesis's AUROC, interval
    and p-value are the van Elteren ones within strata (``stats.stratified.van_elteren``), the plain ones
    kept beside them (``auroc_unadjusted``, ``p_value_unadjusted``), and the correction runs on the
    adjusted p-values. The discovery screen is stratified too, so hypotheses are chosen, and their
    directions fixed, by what differs within strata (the pooled direction can be the opposite one); the
    learned describer's features stay unadjusted.

    Returns:
        One row per validated hypothesis (columns in the module docstring; empty when no concept passes
        the screen), the findings family first, with ``attrs["n_screened"]`` (concepts looked at),
        ``attrs["n_discovery"]`` and ``attrs["n_validation"]`` (images per half).
    """
    _check_settings(alpha, correction)
    if design not in DESIGNS:
        raise ValueError(f"design must be one of {DESIGNS}, got {design!r}")
    if design == "maxt":
        return test_all_max_t(scores, groups, seed=seed, alpha=alpha, max_hypotheses=max_hypotheses,
                              thresholds=thresholds, priority=priority, ranker=ranker, reportable=reportable,
                              max_signals=max_signals, lead=lead, strata=strata)
    if screen_level is None:
        screen_level = SCREEN_LEVEL if ranker is None else DESCRIBER_SCREEN_LEVEL
    if max_hypotheses is None:
        max_hypotheses = MAX_HYPOTHESES if ranker is None else DESCRIBER_MAX_HYPOTHESES
    if not 0 < screen_level <= 1:
        raise ValueError(f"screen_level must be in (0, 1], got {screen_level}")
    labels = _check_inputs(scores, groups, min_per_group=2)
    strata = _check_strata(strata, labels)
    _check_max_hypotheses(max_hypotheses)
    family = _reportable_mask(reportable, scores.shape[1])
    values = scores.to_numpy(dtype=np.float64)
    validation = split_discovery_validation(labels, seed)
    priority = priority or {}
    thresholds = thresholds or {}
    ranks = np.array([priority.get(cid, 0) for cid in scores.columns], dtype=np.int64)
    validation_scores = scores.iloc[np.flatnonzero(validation)]
    discovery_strata = None if strata is None else strata[~validation]
    order, discovery_auc, described = _select(values[~validation], labels[~validation], screen_level,
                                              ranks, ranker, discovery_strata)
    tables = []
    for is_reportable, members, cap in ((True, family, max_hypotheses), (False, ~family, max_signals)):
        if not members.any() or cap < 1:
            continue
        chosen = order[members[order]][:cap]
        rows, directions = _validate(chosen, scores.columns, values[validation], labels[validation],
                                     discovery_auc, described, thresholds,
                                     None if strata is None else strata[validation])
        weights = None if ranker is None else hypothesis_weights(described[chosen])
        tables.append(_finish(rows, validation_scores, labels[validation], alpha, correction, directions,
                              priority, described=ranker is not None, weights=weights,
                              reportable=is_reportable, lead=lead))
    filled = [t for t in tables if len(t)]
    table = pd.concat(filled, ignore_index=True) if filled else _empty_table()
    table.attrs.update(n_screened=int(scores.shape[1]), n_discovery=int((~validation).sum()),
                       n_validation=int(validation.sum()), seed=seed, screen_level=screen_level)
    return table


def test_all_max_t(
    scores: pd.DataFrame,
    groups: np.ndarray,
    *,
    seed: int,
    alpha: float = 0.05,
    max_hypotheses: int | None = None,
    thresholds: dict[str, float] | None = None,
    priority: dict[str, int] | None = None,
    ranker: Ranker | None = None,
    reportable: ArrayLike | None = None,
    max_signals: int = MAX_SIGNALS,
    lead: Collection[str] = (),
    strata: ArrayLike | None = None,
    permutations: int = PERMUTATIONS,
) -> pd.DataFrame:
    """Find which concepts tell set A from set B, testing every concept on every image.

    Each family (``reportable``, as in ``test_concepts``; the mask must not depend on the labels at all
    here) is tested with Westfall-Young step-down max-T over all its concepts (``stats.maxt``): no image
    is held out and nothing is chosen by looking at the labels, so the family-wise error rate (and with
    it the false discovery rate) stays at ``alpha`` over every concept of the family. ``q_value`` is the
    max-T adjusted p-value and ``n_tested`` the family's size; ``p_value`` is the concept's own one-sided
    rank-test p-value in the direction its max-T statistic observed (uncorrected, for reference).

    The effect is the AUROC on all images in the direction observed. Picked for being strong, it is
    biased upwards; its interval is therefore simultaneous: built at ``critical_z`` (the permutation
    quantile of the largest |z| over the family) instead of 1.96 standard errors, so with probability
    about 0.95 every tested concept's interval covers its AUROC at once, including those picked.

    Returned rows: per family, the significant concepts and the strongest others, up to
    ``max_hypotheses`` (default ``MAX_HYPOTHESES``; signals ``max_signals``) rows when fewer are
    significant. ``ranker`` (the learned describer, run on all images) orders the significant findings,
    the explaining-away and ``describer_score``; it never changes what is significant. ``lead`` and
    ``strata`` as in ``test_concepts`` (with strata the relabelling and the ranks are within strata).
    ``discovery_auroc`` is NaN and ``weight`` 1.

    Returns:
        The table of ``test_concepts``, with ``attrs`` ``design="maxt"``, ``n_screened``,
        ``n_discovery`` (0), ``n_validation`` (all images), ``critical_z`` per family
        (``{"findings": z, "signals": z}``) and ``permutations``.
    """
    _check_settings(alpha, "bh")
    labels = _check_inputs(scores, groups, min_per_group=2)
    strata = _check_strata(strata, labels)
    max_hypotheses = MAX_HYPOTHESES if max_hypotheses is None else max_hypotheses
    _check_max_hypotheses(max_hypotheses)
    family = _reportable_mask(reportable, scores.shape[1])
    # The scores as stored (float32 from a library): max-T ranks them and the describer and the rows take
    # the columns they need in float64, so no float64 copy of the whole matrix is made (1.3 GB at 100,000
    # images x 1,600 concepts).
    values = scores.to_numpy()
    thresholds, priority = thresholds or {}, priority or {}
    is_a = labels == "a"
    tables, critical = [], {}
    relabelled = relabellings(is_a, strata, seed, permutations)  # the same for both families
    for name, members, cap in (("findings", family, max_hypotheses), ("signals", ~family, max_signals)):
        columns = np.flatnonzero(members)
        if not columns.size or cap < 1:
            continue
        result = max_t(values, is_a, seed=seed, alpha=alpha, strata=strata, permutations=permutations,
                       columns=None if columns.size == values.shape[1] else columns, relabelled=relabelled)
        critical[name] = result.critical_z
        strength = np.abs(result.z)
        order = np.argsort(-strength, kind="stable")
        keep = order[(result.p_adjusted[order] < alpha) | (np.arange(order.size) < cap)]
        keep = keep[strength[keep] > 0]
        described = np.full(values.shape[1], np.nan)
        chosen = columns[keep]
        if ranker is not None and chosen.size:
            described[chosen] = ranker(values, labels, chosen)
        level = _simultaneous_level(result.critical_z)
        rows, directions = [], {}
        for index, column in zip(keep, chosen, strict=True):
            concept_id = scores.columns[column]
            # The direction the max-T statistic observed (within strata, when given).
            direction = "a" if result.z[index] > 0 else "b"
            row = _row(concept_id, values[:, column].astype(np.float64), labels, direction,
                       thresholds.get(concept_id), strata, level=level)
            directions[concept_id] = direction
            row.update(discovery_auroc=float("nan"), describer_score=float(described[column]))
            rows.append(row)
        tables.append(_finish(rows, scores, labels, alpha, "bh", directions, priority,
                              described=ranker is not None, reportable=name == "findings", lead=lead,
                              adjusted=(result.p_adjusted[keep], result.n_tested)))
    filled = [t for t in tables if len(t)]
    table = pd.concat(filled, ignore_index=True) if filled else _empty_table()
    table.attrs.update(n_screened=int(scores.shape[1]), n_discovery=0, n_validation=int(len(labels)),
                       seed=seed, design="maxt", critical_z=critical, permutations=permutations)
    return table


def _simultaneous_level(critical_z: float) -> float:
    """The two-sided confidence level of an interval ``critical_z`` standard errors wide (0.95 when no
    critical value could be drawn)."""
    return float(2 * norm.cdf(critical_z) - 1) if np.isfinite(critical_z) else 0.95


def _reportable_mask(reportable: ArrayLike | None, n_columns: int) -> np.ndarray:
    """The findings family as a bool per column (all columns when None)."""
    if reportable is None:
        return np.ones(n_columns, dtype=bool)
    mask = np.asarray(reportable)
    if mask.dtype != bool or mask.shape != (n_columns,):
        raise ValueError(f"reportable must be one bool per concept column ({n_columns}), got "
                         f"{mask.dtype} of shape {mask.shape}")
    return mask


def _validate(
    chosen: np.ndarray,
    columns: pd.Index,
    values: np.ndarray,
    labels: np.ndarray,
    discovery_auc: np.ndarray,
    described: np.ndarray,
    thresholds: dict[str, float],
    strata: np.ndarray | None = None,
) -> tuple[list[dict], dict[str, str]]:
    """Measure the chosen hypotheses on the validation images (``values``, ``labels``; within ``strata``
    when given), each in the direction discovery showed. Returns the rows and concept id -> direction."""
    rows, directions = [], {}
    for column in chosen:
        concept_id = columns[column]
        direction = "a" if discovery_auc[column] > 0.5 else "b"
        directions[concept_id] = direction
        row = _row(concept_id, values[:, column], labels, direction, thresholds.get(concept_id), strata)
        shown = discovery_auc[column]
        row["discovery_auroc"] = float(shown if direction == "a" else 1 - shown)
        row["describer_score"] = float(described[column])
        rows.append(row)
    return rows, directions


def test_hypotheses_on_all(
    scores: pd.DataFrame,
    groups: np.ndarray,
    concept_ids: list[str],
    *,
    alpha: float = 0.05,
    directions: dict[str, str] | None = None,
    thresholds: dict[str, float] | None = None,
    correction: str = "bh",
    priority: dict[str, int] | None = None,
) -> pd.DataFrame:
    """Test hypotheses stated before the data was seen, on all images (no split is needed).

    A concept with a direction in ``directions`` ("a": A scores higher, "b": B does) is tested one-sided
    in that direction; any other is tested two-sided and reported in the direction observed. p-values are
    corrected over ``concept_ids`` (duplicates counted once).

    Returns:
        One row per concept id (columns in the module docstring; ``discovery_auroc`` is NaN), with
        ``attrs["n_screened"]`` = number of distinct ids.
    """
    _check_settings(alpha, correction)
    labels = _check_inputs(scores, groups, min_per_group=1)
    unique_ids = list(dict.fromkeys(concept_ids))
    missing = [cid for cid in unique_ids if cid not in scores.columns]
    if missing:
        raise KeyError(f"concept ids not in the score matrix: {missing}")
    directions = directions or {}
    bad = {cid: d for cid, d in directions.items() if d not in ("a", "b")}
    if bad:
        raise ValueError(f"directions must be 'a' or 'b', got {bad}")
    thresholds = thresholds or {}
    rows = []
    for concept_id in unique_ids:
        row = _row(concept_id, scores[concept_id].to_numpy(dtype=np.float64), labels,
                   directions.get(concept_id), thresholds.get(concept_id))
        row["discovery_auroc"] = float("nan")
        row["describer_score"] = float("nan")
        rows.append(row)
    stated = {cid: d for cid, d in directions.items() if cid in unique_ids}
    table = _finish(rows, scores, labels, alpha, correction, stated, priority or {})
    table.attrs.update(n_screened=len(unique_ids))
    return table


# Random halvings of the validation images over which the explained share is measured
# (``named_on_folds``): each gives two (declare, measure) folds. One halving left the share of a pair
# swinging by 0.1-0.2 between seeds at 20 validation images per set; five average most of that out, at a
# few milliseconds each.
FOLD_REPEATS = 5


def named_on_folds(
    scores: pd.DataFrame,
    groups: np.ndarray,
    validation: np.ndarray,
    tested: pd.DataFrame,
    *,
    alpha: float = 0.05,
    correction: str = "bh",
    seed: int = 0,
    repeats: int = FOLD_REPEATS,
) -> list[tuple[np.ndarray, list[str]]]:
    """Declare the named findings without one fold of the validation images, to be measured on that fold.

    The findings a run reports were chosen on discovery and declared significant on validation, so no
    image is left on which they were not chosen. This repeats the declaration without half the validation
    images instead: the validation half is split in two per set (``split_discovery_validation`` seeded by
    ``seed`` and the repeat); on the discovery half and one fold together, the findings family's hypotheses
    (``tested`` rows with ``reportable``, in the directions and with the correction weights they were
    tested with) are tested again, corrected over all of them, and the significant ones explained away in
    the order of their discovery describer score (or, without one, of their AUROC on those images). What
    is left is the named set measured on the other fold, which was not used to choose it. Declaring on one
    fold alone would be as valid, but at half the validation images it declares too little to be the run's
    named set (``benchmarks/overall_rate.py``, 20 validation images per set: the median explained share of
    text, triangle and rotation pairs was 0.78, 0.94, 0.77 declared on all validation images, 0.23, 0.29,
    0.13 declared on one fold, 0.64, 0.70, 0.54 on discovery and one fold); the discovery half adds power,
    and its selection bias can only admit extra hypotheses, which weaken the named model on the measuring
    fold rather than flatter it.

    Returns:
        One ``(measure_rows, named_ids)`` per fold and repeat (``2 * repeats``): a bool mask over all rows
        of ``scores`` (the fold's images) and the concept ids declared without them.
    """
    labels = check_groups(groups)
    validation = np.asarray(validation, dtype=bool)
    family = tested[tested["reportable"].astype(bool)] if "reportable" in tested else tested
    ids = list(family["concept"])
    directions = dict(zip(family["concept"], family["direction"], strict=True))
    weights = family["weight"].to_numpy(dtype=np.float64) if len(family) else None
    described = family["describer_score"].to_numpy(dtype=np.float64) if len(family) else np.empty(0)
    rows = np.flatnonzero(validation)
    frame = scores[ids]  # the family's columns: all that the declarations read
    values = frame.to_numpy(dtype=np.float64) if ids else np.empty((len(labels), 0))
    folds = []
    for repeat in range(repeats):
        second = split_discovery_validation(labels[rows], seed=seed * 1000 + repeat + 1)
        for fold, measure_rows in ((rows[~second], rows[second]), (rows[second], rows[~second])):
            declare_rows = np.concatenate([np.flatnonzero(~validation), fold])
            measure = np.zeros(len(labels), dtype=bool)
            measure[measure_rows] = True
            folds.append((measure, _declare(values[declare_rows], labels[declare_rows], ids, directions,
                                            weights, described, frame.iloc[declare_rows], alpha,
                                            correction)))
    return folds


def _declare(
    values: np.ndarray,
    labels: np.ndarray,
    ids: list[str],
    directions: dict[str, str],
    weights: np.ndarray | None,
    described: np.ndarray,
    scores: pd.DataFrame,
    alpha: float,
    correction: str,
) -> list[str]:
    """The hypotheses significant on these images and not explained away by a stronger one among them."""
    if not ids:
        return []
    is_a = labels == "a"
    p_values, aurocs = [], []
    for column, cid in enumerate(ids):
        a, b = values[is_a, column], values[~is_a, column]
        a, b = a[~np.isnan(a)], b[~np.isnan(b)]
        if not (a.size and b.size):
            aurocs.append(0.5)
            p_values.append(1.0)
            continue
        ranks, ties = mid_ranks_and_ties(np.concatenate([a, b]))  # one ranking for the effect and the test
        a_higher = directions[cid] == "a"
        aurocs.append(auroc_of_ranks(*_higher_first(ranks, a.size, a_higher)))
        p_values.append(rank_test(a, b, "greater" if a_higher else "less", ranked=(ranks, ties)))
    q_values = correct(np.asarray(p_values), correction, weights)
    strength = np.where(np.isnan(described), np.asarray(aurocs), described)
    order = [i for i in np.argsort(-strength, kind="stable") if q_values[i] < alpha]
    significant = [ids[i] for i in order]
    explained = explain_away(scores, labels, significant, alpha, directions)
    return [cid for cid in significant if cid not in explained]


# Not tests: keep pytest from collecting these when a test module imports them by name.
test_concepts.__test__ = False  # type: ignore[attr-defined]
test_hypotheses_on_all.__test__ = False  # type: ignore[attr-defined]
