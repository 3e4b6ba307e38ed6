"""Which concepts may be *reported* as findings in a run, and which stay signals nobody can name.

Two rules, decided per run from the concepts' declared categories (the concept table's ``category``
column; no concept id is parsed) and the scores:

1. **Domain** (label-blind): ``domain_check`` asks whether the bundled ImageNet model recognises the
   images as photos of its classes. The ``semantic_class`` columns are its softmax probabilities over the
   1000 ImageNet classes, so an image's top-1 probability is the row maximum over them; the run is
   photo-like when the median top-1 probability over *all* images of both sets is at least
   ``PHOTO_LIKE_TOP1``. When it is not (grey scans, micrographs), ImageNet classes and categories
   (``semantic_class``, ``semantic_category``) and the detectors trained on synthetic edits of photos
   (``learned``, ``shape``) are not reported: "contain a bird of prey" or "carry a pasted solid disc" says
   nothing about a brain MRI. The set labels are never looked at, so this is a pre-filter: it cannot bias
   any p-value.
2. **Visibility** (labels, discovery half only): ``hidden_on_discovery`` marks a presence concept that
   fewer than ``MIN_VISIBLE_SHARE`` of either set's discovery images show outright (score at or above its
   threshold). Its score may still rise in one set, but nobody could point at it in an image.

``reportable_concepts`` combines both into a mask over the score matrix's columns and one reason per
withheld concept. The statistics (``stats.contract.test_concepts(reportable=...)``) then treat the
reportable concepts and the signals as two families: each is selected on discovery, validated and
corrected on its own, so signals never cost the findings power.

Numbers in, tables out: scores, categories, thresholds and labels; no pixels, no concept sources.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd

from tellapart.schema import Domain
from tellapart.stats.contract import MIN_VISIBLE_SHARE
from tellapart.stats.split import check_groups, split_discovery_validation

# A run is photo-like when the median top-1 ImageNet probability of its images is at least this. Measured
# with `python benchmarks/domain_confidence.py --runs 50` (runs of 80 images drawn from each collection;
# per-run medians min-max): bundled photo crops, train part 0.142-0.288, bench part 0.107-0.163; lfw faces
# 0.194-0.246; Fashion-MNIST 0.175-0.236; openclipart 0.188-0.249 (all must be photo-like); textiles
# 0.022-0.025; scikit-image's grey cell micrograph 0.070-0.089, immunohistochemistry 0.103-0.153, colour
# fundus 0.267-0.380, grey retinal scan (microaneurysms) 0.425-0.590 ("nematode"); pydicom's CT/MR slices
# 0.109-0.170 (all should not be). The two overlap: no threshold keeps every photo collection photo-like
# and withholds every scan. 0.10 keeps the photos (the bench part's lowest run, 0.107, decides it) and
# withholds only where the model recognises almost nothing (textiles, the grey cell micrograph); the rest
# of the off-domain names are caught by the visibility rule (``MIN_VISIBLE_SHARE``). On ../shared/real
# (information, not tuning): pneumonia 0.091 (withheld), pneumonia_null 0.117, brain_tumor 0.163, malaria
# 0.209, wbc_lymph_neut 0.202.
PHOTO_LIKE_TOP1 = 0.10
# Categories read from the ImageNet model, and detectors trained on synthetic edits of photos: not
# reported on images the model does not recognise as photos.
IMAGENET_CATEGORIES = ("semantic_class", "semantic_category")
EDIT_DETECTOR_CATEGORIES = ("learned", "shape")
WITHHELD_OFF_DOMAIN = IMAGENET_CATEGORIES + EDIT_DETECTOR_CATEGORIES

HIDDEN_REASON = (f"shown outright by fewer than {MIN_VISIBLE_SHARE:.0%} of either set's discovery images "
                 "(its score rises, but nobody could point at it in an image)")


def top1_probability(scores: pd.DataFrame, categories: Mapping[str, str] | pd.Series) -> np.ndarray | None:
    """Return each image's top-1 ImageNet probability (row maximum of the ``semantic_class`` columns), or
    None when the score matrix has no such column."""
    columns = [c for c in scores.columns if categories.get(c) == "semantic_class"]
    if not columns:
        return None
    values = scores[columns].to_numpy(dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an image without scores: all NaN
        return np.nanmax(values, axis=1)


def domain_check(
    scores: pd.DataFrame, categories: Mapping[str, str] | pd.Series, threshold: float = PHOTO_LIKE_TOP1
) -> Domain:
    """Decide, from all images of both sets and never their labels, whether the run is photo-like.

    Returns:
        A ``Domain``: the median top-1 probability, whether it reaches ``threshold``, and the categories
        withheld from the findings (``WITHHELD_OFF_DOMAIN`` when not photo-like, else none). Without any
        ``semantic_class`` column the check cannot run: ``photo_like`` is None and nothing is withheld.
    """
    top1 = top1_probability(scores, categories)
    finite = top1[np.isfinite(top1)] if top1 is not None else np.empty(0)
    if not finite.size:
        return Domain(photo_like=None, median_top1=None, threshold=threshold, withheld=[],
                      text="No ImageNet class scores: every concept may be reported.")
    median = float(np.median(finite))
    photo_like = median >= threshold
    if photo_like:
        text = (f"The ImageNet model recognises the images as photos (median top-1 probability {median:.2f}, "
                f"at least {threshold:g}): every category may be reported.")
        return Domain(photo_like=True, median_top1=median, threshold=threshold, withheld=[], text=text)
    text = (f"The ImageNet model does not recognise the images as photos of its classes (median top-1 "
            f"probability {median:.2f}, under {threshold:g}): ImageNet classes and categories and the "
            "detectors of synthetic edits to photos are signals, not findings.")
    return Domain(photo_like=False, median_top1=median, threshold=threshold,
                  withheld=list(WITHHELD_OFF_DOMAIN), text=text)


def domain_reason(category: str, domain: Domain) -> str:
    """Return why a concept of ``category`` is withheld by ``domain`` ("" when it is not)."""
    if category not in domain.withheld:
        return ""
    median = f"median top-1 probability {domain.median_top1:.2f}"
    if category in IMAGENET_CATEGORIES:
        return (f"ImageNet classes are not reported on images the model does not recognise as photos "
                f"({median})")
    return (f"detectors trained on synthetic edits of photos are not reported on images the ImageNet "
            f"model does not recognise as photos ({median})")


def hidden_on_discovery(
    scores: pd.DataFrame,
    groups: np.ndarray,
    thresholds: Mapping[str, float],
    seed: int,
    min_visible_share: float = MIN_VISIBLE_SHARE,
) -> np.ndarray:
    """Return a bool per column: a presence concept (one with a threshold) that fewer than
    ``min_visible_share`` of either set's *discovery* images show outright (``split_discovery_validation``
    with ``seed``). Magnitude concepts are never hidden. The validation half is not looked at."""
    labels = check_groups(groups)
    discovery = ~split_discovery_validation(labels, seed)
    hidden = np.zeros(scores.shape[1], dtype=bool)
    columns = [i for i, c in enumerate(scores.columns) if c in thresholds]
    if not columns:
        return hidden
    values = scores.iloc[:, columns].to_numpy(dtype=np.float64)
    limits = np.array([thresholds[scores.columns[i]] for i in columns])
    shares = []
    for label in ("a", "b"):
        rows = values[discovery & (labels == label)]
        shown = (rows >= limits) & ~np.isnan(rows)
        shares.append(shown.mean(axis=0) if len(rows) else np.zeros(len(columns)))
    hidden[columns] = np.maximum(*shares) < min_visible_share
    return hidden


def reportable_concepts(
    scores: pd.DataFrame,
    groups: np.ndarray,
    categories: Mapping[str, str] | pd.Series,
    thresholds: Mapping[str, float],
    seed: int,
    domain: Domain | None = None,
) -> tuple[np.ndarray, pd.Series, Domain]:
    """Decide which columns of ``scores`` may be reported as findings in this run.

    ``domain`` defaults to ``domain_check(scores, categories)``; the visibility rule uses the discovery half
    of ``split_discovery_validation(groups, seed)`` only, so the validation half stays untouched.

    Returns:
        ``(reportable, reasons, domain)``: a bool per column; a Series (index: concept ids, the non-
        reportable columns only) saying why each is a signal; and the domain decision.
    """
    domain = domain if domain is not None else domain_check(scores, categories)
    reasons = {}
    for column in scores.columns:
        reason = domain_reason(str(categories.get(column, "other")), domain)
        if reason:
            reasons[column] = reason
    hidden = hidden_on_discovery(scores, groups, thresholds, seed)
    for column, is_hidden in zip(scores.columns, hidden, strict=True):
        if is_hidden and column not in reasons:
            reasons[column] = HIDDEN_REASON
    reportable = np.array([c not in reasons for c in scores.columns], dtype=bool)
    return reportable, pd.Series(reasons, dtype=object), domain
