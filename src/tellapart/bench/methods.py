"""The methods compared in the benchmark, all working on the same score matrix (images x concepts).

Each method returns its findings, strongest first, as (concept id, direction) pairs, and whether it
*reports* a difference at all under its own reporting rule (used for the false-finding rate on null pairs).
The peers are implemented from their papers' descriptions, on tellapart's concept scores instead of CLIP
image-text similarities, so that only the method differs:

- ``visdiff-auroc``: VisDiff's ranker (Dunlap et al., CVPR 2024): every hypothesis is ranked by the AUROC
  of its score for telling A from B, over all images, with no held-out data and no correction. Ranked by
  |AUROC - 0.5|, direction from the side. Reports a difference when the top AUROC is >= 0.7 or <= 0.3
  ("acceptable discrimination", Hosmer & Lemeshow).
- ``visdiff-diff-of-means``: VisDiff's difference-in-means ranking. CLIP similarities share one scale; our
  concepts do not, so each is min-max scaled to [0, 1] over the pair's images first. Reports when the top
  difference is >= 0.1 (a tenth of the concept's observed range).
- ``visdiff-t-test``: VisDiff's t-test ranking: Welch's t-test per concept, ranked by p-value. Reports when
  any uncorrected p < 0.05.
- ``domino``: Domino's slice describer (Eyuboglu et al., ICLR 2022): the slice mean minus the dataset mean
  of the (z-scored) concept scores, i.e. the mean difference projected on each concept; set A is the
  slice. Ranked by absolute projection. Reports when the top projection is >= 0.25 pooled standard
  deviations (with equal set sizes: a standardised mean difference of 0.5, Cohen's "medium").
- ``tellapart``: tellapart's full method as ``describe`` runs it by default (``stats.test_concepts`` with
  ``design="maxt"``: every reportable concept tested on every image, step-down max-T at alpha 0.05, the
  shipped learned describer ordering the significant findings, explaining-away); its findings are its
  significant ones only, those explained by a stronger finding moved after the unexplained ones. Reports
  when anything is significant. ``tellapart-untrained`` is the same without the learned describer
  (ordered by AUROC and concept kind). ``tellapart-split`` is the discovery/validation design
  (``--design split``: the describer choosing and weighting hypotheses on discovery, weighted
  Benjamini-Hochberg on validation), ``tellapart-split-holm`` the same with Holm's correction.

Peers always output their full ranking (as in VisDiff's protocol); tellapart outputs only what passed.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from tellapart.stats import mann_whitney_matrix, test_concepts
from tellapart.stats.reportable import lead_concepts, reportable_concepts

AUROC_REPORT = 0.7
DIFF_OF_MEANS_REPORT = 0.1
T_TEST_REPORT = 0.05
DOMINO_REPORT = 0.25
TOP = 10  # findings kept per method (Acc@5 needs 5)


@dataclass
class MethodOutput:
    """A method's answer for one pair: findings strongest first, and whether it reports a difference.

    ``significant`` (methods that test their findings): every significant finding as (concept,
    direction, explained), where explained means it is marked as explained by a stronger finding.
    """

    findings: list[tuple[str, str]]
    reported: bool
    significant: list[tuple[str, str, bool]] | None = None


@dataclass(frozen=True)
class Method:
    """A named method with its reporting rule (plain text, printed with the results)."""

    name: str
    reporting_rule: str
    run: Callable[[pd.DataFrame, np.ndarray, PairContext], MethodOutput]


@dataclass(frozen=True)
class PairContext:
    """What a method may know besides the scores: the seed, the library's presence thresholds and
    priorities, the learned describer's ranker for these columns (None without one), and for tellapart's
    reporting rule (``stats.reportable``) each column's category and the images' embeddings."""

    seed: int
    thresholds: dict[str, float]
    priority: dict[str, int]
    ranker: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None = None
    categories: dict[str, str] | None = None
    embeddings: np.ndarray | None = None


def _clean(scores: pd.DataFrame) -> np.ndarray:
    """Scores as float64 with NaN replaced by the column median (columns all NaN become 0)."""
    values = scores.to_numpy(dtype=np.float64)
    if np.isnan(values).any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            medians = np.nan_to_num(np.nanmedian(values, axis=0))
        values = np.where(np.isnan(values), medians, values)
    return values


def _ranked(columns: pd.Index, strength: np.ndarray, sign: np.ndarray) -> list[tuple[str, str]]:
    """Top columns by ``strength`` (NaN last; ties by column order), direction "a" where ``sign`` > 0."""
    strength = np.nan_to_num(strength, nan=-np.inf)
    order = np.argsort(-strength, kind="stable")[:TOP]
    return [(str(columns[j]), "a" if sign[j] > 0 else "b") for j in order if np.isfinite(strength[j])]


def visdiff_auroc(scores: pd.DataFrame, groups: np.ndarray, context: PairContext) -> MethodOutput:
    """Rank concepts by |AUROC - 0.5| on all images; report when the top AUROC is >= 0.7 (or <= 0.3)."""
    values = _clean(scores)
    auc, _ = mann_whitney_matrix(values[groups == "a"], values[groups == "b"])
    strength = np.abs(auc - 0.5)
    top = float(np.nanmax(strength, initial=0.0))
    return MethodOutput(_ranked(scores.columns, strength, auc - 0.5), top + 0.5 >= AUROC_REPORT)


def visdiff_diff_of_means(scores: pd.DataFrame, groups: np.ndarray, context: PairContext) -> MethodOutput:
    """Rank concepts by the difference of set means of min-max scaled scores; report when the top >= 0.1."""
    values = _clean(scores)
    low, high = values.min(axis=0), values.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    scaled = (values - low) / span
    diff = scaled[groups == "a"].mean(axis=0) - scaled[groups == "b"].mean(axis=0)
    top = float(np.abs(diff).max(initial=0.0))
    return MethodOutput(_ranked(scores.columns, np.abs(diff), diff), top >= DIFF_OF_MEANS_REPORT)


def visdiff_t_test(scores: pd.DataFrame, groups: np.ndarray, context: PairContext) -> MethodOutput:
    """Rank concepts by Welch's t-test p-value; report when any uncorrected p < 0.05."""
    values = _clean(scores)
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        t, p = scipy_stats.ttest_ind(values[groups == "a"], values[groups == "b"], equal_var=False, axis=0)
    p = np.where(np.isnan(p), 1.0, p)
    # Rank by p, ties (p underflowing to 0) broken by |t|.
    strength = -np.log(np.maximum(p, 1e-300)) + 1e-6 * np.nan_to_num(np.abs(t))
    strength = np.where(np.isnan(t), np.nan, strength)
    return MethodOutput(_ranked(scores.columns, strength, np.nan_to_num(t)), bool((p < T_TEST_REPORT).any()))


def domino(scores: pd.DataFrame, groups: np.ndarray, context: PairContext) -> MethodOutput:
    """Rank concepts by |slice mean - dataset mean| of z-scored scores (A is the slice); report >= 0.25."""
    values = _clean(scores)
    sd = values.std(axis=0)
    z = (values - values.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    projection = z[groups == "a"].mean(axis=0) - z.mean(axis=0)
    top = float(np.abs(projection).max(initial=0.0))
    return MethodOutput(_ranked(scores.columns, np.abs(projection), projection), top >= DOMINO_REPORT)


def _tellapart(
    correction: str, trained: bool, design: str = "split"
) -> Callable[[pd.DataFrame, np.ndarray, PairContext], MethodOutput]:
    def run(scores: pd.DataFrame, groups: np.ndarray, context: PairContext) -> MethodOutput:
        # What describe reports: only the concepts this run may name (the rest are signals).
        reportable, lead = None, []
        if context.categories is not None:
            reportable, _, domain = reportable_concepts(
                scores, groups, context.categories, context.thresholds, context.seed,
                embeddings=context.embeddings, design=design)
            lead = lead_concepts(context.categories, domain)
        table = test_concepts(
            scores,
            groups,
            seed=context.seed,
            alpha=0.05,
            correction=correction,
            thresholds=context.thresholds,
            priority=context.priority,
            ranker=context.ranker if trained else None,
            reportable=reportable,
            lead=lead,
            design=design,
        )
        if "reportable" in table:
            table = table[table["reportable"].astype(bool)]
        significant = table[table["significant"]]
        unexplained = significant[significant["explained_by"].isna()]
        explained = significant[significant["explained_by"].notna()]
        ordered = pd.concat([unexplained, explained])
        findings = [(r.concept, r.direction) for r in ordered.itertuples()]
        marked = [(r.concept, r.direction, isinstance(r.explained_by, str)) for r in ordered.itertuples()]
        return MethodOutput(findings[:TOP], bool(len(significant)), marked)

    return run


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method(
            "tellapart",
            "any finding with step-down max-T adjusted p < 0.05 over every reportable concept, all images",
            _tellapart("bh", trained=True, design="maxt"),
        ),
        Method(
            "tellapart-untrained",
            "any finding with step-down max-T adjusted p < 0.05 over every reportable concept, all images",
            _tellapart("bh", trained=False, design="maxt"),
        ),
        Method(
            "tellapart-split",
            "any finding with describer-weighted Benjamini-Hochberg q < 0.05 on held-out images",
            _tellapart("bh", trained=True, design="split"),
        ),
        Method(
            "tellapart-split-holm",
            "any finding with describer-weighted Holm-adjusted p < 0.05 on held-out images",
            _tellapart("holm", trained=True, design="split"),
        ),
        Method(
            "visdiff-auroc",
            f"top AUROC >= {AUROC_REPORT} or <= {1 - AUROC_REPORT:.1f} (all images)",
            visdiff_auroc,
        ),
        Method(
            "visdiff-diff-of-means",
            f"top difference of min-max scaled means >= {DIFF_OF_MEANS_REPORT}",
            visdiff_diff_of_means,
        ),
        Method("visdiff-t-test", f"any uncorrected Welch t-test p < {T_TEST_REPORT}", visdiff_t_test),
        Method("domino", f"top |slice mean - dataset mean| >= {DOMINO_REPORT} standard deviations", domino),
    )
}
