"""Which concepts may be *reported* as findings in a run, and which stay signals nobody can name.

Two rules, decided per run from the concepts' declared categories (the concept table's ``category``
column; no concept id is parsed) and the scores:

1. **Domain** (label-blind): ``domain_check`` asks whether the images are photos of everyday things,
   where the ImageNet model's names mean something. A small linear model on the backbone's image
   embeddings (``DomainModel``, ``data/domain_model.npz``, made and measured by
   ``scripts/make_domain_model.py``) gives each image P(photo); the run is photo-like when at least
   ``PHOTO_LIKE_SHARE`` of *all* images of both sets are photos (P(photo) >= ``PHOTO_P``), so a collection
   that mixes photos with other images (textures, scans) still names what its photos show. Without
   embeddings it falls back to the median
   top-1 ImageNet probability (row maximum of the ``semantic_class`` columns) against ``PHOTO_LIKE_TOP1``,
   which does not separate scans from photos well. When not photo-like (grey scans, micrographs), ImageNet
   classes and categories
   (``semantic_class``, ``semantic_category``) and the detectors trained on synthetic edits of photos
   (``learned``, ``shape``) are not reported: "contain a bird of prey" or "carry a pasted solid disc" says
   nothing about a brain MRI. The set labels are never looked at, so this is a pre-filter: it cannot bias
   any p-value.
2. **Visibility** (labels, discovery half only): ``hidden_on_discovery`` marks a presence concept that
   fewer than ``MIN_VISIBLE_SHARE`` of either set's discovery images show outright (score at or above its
   threshold). Its score may still rise in one set, but nobody could point at it in an image. The edit
   detectors (``EDIT_DETECTOR_CATEGORIES``) are exempt: their threshold marks a strong edit, and a mild
   one (a little darker, a slight zoom) is as visible and as real; rule 1 decides where they mean
   nothing.

``reportable_concepts`` combines both into a mask over the score matrix's columns and one reason per
withheld concept. The statistics (``stats.contract.test_concepts(reportable=...)``) then treat the
reportable concepts and the signals as two families: one discovery ranking of all columns, from which
each family takes its own hypotheses, then validated and corrected on its own, so signals never cost the
findings power.

Numbers in, tables out: scores, categories, thresholds and labels; no pixels, no concept sources.
"""

from __future__ import annotations

import functools
import hashlib
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tellapart.schema import Domain
from tellapart.stats.auroc import row_blocks
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
# An image is a photo of everyday things when the domain model gives it P(photo) at least this (the logistic
# model's own decision boundary; its probabilities are nearly all under 0.05 or over 0.95).
PHOTO_P = 0.5
# A run is photo-like when at least this share of its images are photos (P(photo) >= PHOTO_P): a quarter of
# the images are enough for ImageNet's names to mean something in them. Set a priori, then checked on held-out
# collections by `python scripts/make_domain_model.py --real ../shared/real` (2026-12-01, the model with
# micrographs, generated blood smears, nature photographs and framed copies, domain_model.npz@bb366edcfb31;
# share of photos over each collection's 200 images, then per run of 60 images min-median-max and photo-like
# runs of 50): the bundled photos' bench part 0.53, runs 0.38-0.53-0.63, 50/50 (two of its five colour
# photos are a micrograph and a deep-sky image); the same diluted half with textiles 0.27, runs
# 0.17-0.28-0.35, 38/50 (the benchmark's hard tier dilutes by 20-50%); clip-art and Fashion-MNIST 0.96-0.99,
# 50/50 (must be photo-like); textiles 0/50; crops of the fundus photograph and of the immunohistochemistry
# slide (neither trained on) 0.07 and 0.01, 0/50 (must not be). Of the benchmark's own pairs (the full
# suite's first 50 easy, 50 medium, 50 hard, 12 real and 14 null pairs, 100 per set) two hard pairs, both
# silent either way, are no longer photo-like (shares 0.34 -> 0.24, 0.30 -> 0.24); the rest decide as
# before. The model before (b178ec870219, without the micrographs and smears): bench part 0.62 (50/50),
# diluted 45/50, fundus and immunohistochemistry 0.00 and 0.01 (0/50). On ../shared/real (information,
# not tuning, except that the smear fields and black frames were added by someone who had seen its
# white-cell smears): brain_tumor, malaria and pneumonia_null 0/50 runs, pneumonia 1/50 (runs
# 0.05-0.13-0.27), wbc_lymph_neut 0/50 (runs 0.00-0.05-0.12; 50/50 before: smear fields rotated with black
# corners looked like photos to it).
PHOTO_LIKE_SHARE = 0.25
DOMAIN_MODEL_FILE = Path(__file__).resolve().parents[1] / "data" / "domain_model.npz"
# Categories read from the ImageNet model, and detectors trained on synthetic edits of photos: not
# reported on images the model does not recognise as photos.
IMAGENET_CATEGORIES = ("semantic_class", "semantic_category")
EDIT_DETECTOR_CATEGORIES = ("learned", "shape")
# People, their poses and faces, everyday objects (COCO classes) and what OpenCV's cascades find (faces,
# bodies, cats' faces) are photo concepts: a detector trained on photos that "finds a person" in a
# micrograph names nothing a clinician would accept. A detector of the user's own ("detector") is not one.
PHOTO_MODEL_CATEGORIES = ("object", "pose", "face", "cascade")
WITHHELD_OFF_DOMAIN = IMAGENET_CATEGORIES + EDIT_DETECTOR_CATEGORIES + PHOTO_MODEL_CATEGORIES
WITHHELD_WORDS = ("ImageNet classes and categories, the detectors of synthetic edits to photos, and people, "
                  "poses, faces and everyday objects")

HIDDEN_REASON = (f"shown outright by fewer than {MIN_VISIBLE_SHARE:.0%} of either set's discovery images "
                 "(its score rises, but nobody could point at it in an image)")


TOP1_MEASURE = "median top-1 probability of the ImageNet model"


def top1_probability(scores: pd.DataFrame, categories: Mapping[str, str] | pd.Series) -> np.ndarray | None:
    """Return each image's top-1 ImageNet probability (row maximum of the ``semantic_class`` columns), or
    None when the score matrix has no such column."""
    columns = [i for i, c in enumerate(scores.columns) if categories.get(c) == "semantic_class"]
    if not columns:
        return None
    top1 = np.empty(len(scores))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an image without scores: all NaN
        for rows in row_blocks(len(scores)):  # not a float64 copy of 1,000 columns at once (0.8 GB)
            top1[rows] = np.nanmax(_row_block(scores, rows, columns), axis=1)
    return top1


@dataclass(frozen=True)
class DomainModel:
    """A logistic regression on standardised, block-scaled image embeddings: P(photo of everyday things).

    ``scale`` already holds each block's weight (the standard deviation divided by 1/sqrt(block width), as
    ``stats.classifier`` scales blocks), so the log-odds are ``((x - mean) / scale) @ coef + intercept``.
    """

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    embedding_version: str
    version: str  # file name and the first 12 hex digits of its SHA-256

    @classmethod
    def load(cls, path: Path = DOMAIN_MODEL_FILE) -> DomainModel:
        """Return the model stored at ``path`` (an .npz written by ``scripts/make_domain_model.py``)."""
        path = Path(path)
        with np.load(path, allow_pickle=False) as data:
            fields = {k: data[k] for k in ("mean", "scale", "coef", "intercept", "embedding_version")}
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        return cls(mean=fields["mean"].astype(np.float64), scale=fields["scale"].astype(np.float64),
                   coef=fields["coef"].astype(np.float64), intercept=float(fields["intercept"]),
                   embedding_version=str(fields["embedding_version"]), version=f"{path.name}@{digest}")

    def photo_probability(self, embeddings: np.ndarray) -> np.ndarray:
        """Return each row's P(photo of everyday things); NaN for a row with a non-finite value.

        Rows are converted to float64 ``stats.auroc.ROW_BLOCK`` at a time: at 100,000 x 2,024 float32
        embeddings, converting them whole (with two temporaries) made the run's peak, 6.8 GB
        (`benchmarks/large_sets.py --replay 50`)."""
        X = np.asarray(embeddings)
        if X.ndim != 2 or X.shape[1] != len(self.mean):
            raise ValueError(f"embeddings {X.shape} do not fit the domain model ({len(self.mean)} features)")
        logits = np.empty(len(X))
        with np.errstate(invalid="ignore", over="ignore"):
            for rows in row_blocks(len(X)):
                logits[rows] = ((X[rows].astype(np.float64) - self.mean) / self.scale) @ self.coef
            return 1.0 / (1.0 + np.exp(-(logits + self.intercept)))


@functools.cache
def shipped_domain_model() -> DomainModel | None:
    """Return the package's domain model (``DOMAIN_MODEL_FILE``), or None when it is not there."""
    return DomainModel.load() if DOMAIN_MODEL_FILE.exists() else None


def _usable_model(model: DomainModel | None, embeddings: np.ndarray | None) -> DomainModel | None:
    """The model when it can read these embeddings (as many features), else None. The embedding version
    is not at hand here (stats imports no concept code): tests/test_domain_model.py checks that the shipped
    model's ``embedding_version`` is the backbone's."""
    if model is None or embeddings is None or np.ndim(embeddings) != 2:
        return None
    if np.shape(embeddings)[1] != len(model.mean):
        warnings.warn(f"the domain model {model.version} reads {len(model.mean)} embedding features, not "
                      f"{np.shape(embeddings)[1]}: rerun scripts/make_domain_model.py; using the top-1 rule",
                      stacklevel=3)
        return None
    return model


def domain_check(
    scores: pd.DataFrame,
    categories: Mapping[str, str] | pd.Series,
    threshold: float | None = None,
    embeddings: np.ndarray | None = None,
    model: DomainModel | None = None,
) -> Domain:
    """Decide, from all images of both sets and never their labels, whether the run is photo-like.

    With ``embeddings`` (rows as ``scores``) and a domain model (``model``, default the shipped one) the
    measure is the share of images that are photos (P(photo) >= ``PHOTO_P``) and ``threshold`` defaults to
    ``PHOTO_LIKE_SHARE``; otherwise the median top-1 ImageNet probability against ``PHOTO_LIKE_TOP1``.

    Returns:
        A ``Domain``: the measure's value over the images (``value``; ``measure`` names it and, for the
        model, its file version), whether it reaches ``threshold``, and the categories
        withheld from the findings (``WITHHELD_OFF_DOMAIN`` when not photo-like, else none). Without
        embeddings and without any ``semantic_class`` column the check cannot run: ``photo_like`` is None
        and nothing is withheld.
    """
    top1 = top1_probability(scores, categories)
    finite = top1[np.isfinite(top1)] if top1 is not None else np.empty(0)
    usable = _usable_model(model if model is not None else shipped_domain_model(), embeddings)
    if usable is not None:
        values = usable.photo_probability(embeddings)
        photo = values[np.isfinite(values)]
        if photo.size:
            top1_median = float(np.median(finite)) if finite.size else None
            return _photo_domain(float(np.mean(photo >= PHOTO_P)),
                                 PHOTO_LIKE_SHARE if threshold is None else threshold, usable.version,
                                 top1_median)
    threshold = PHOTO_LIKE_TOP1 if threshold is None else threshold
    if not finite.size:
        return Domain(photo_like=None, value=None, measure="none", threshold=threshold, withheld=[],
                      text="No ImageNet class scores: every concept may be reported.")
    median = float(np.median(finite))
    photo_like = median >= threshold
    if photo_like:
        text = (f"The ImageNet model recognises the images as photos (median top-1 probability {median:.2f}, "
                f"at least {threshold:g}): every category may be reported.")
        return Domain(photo_like=True, value=median, measure=TOP1_MEASURE, threshold=threshold,
                      withheld=[], text=text)
    text = (f"The ImageNet model does not recognise the images as photos of its classes (median top-1 "
            f"probability {median:.2f}, under {threshold:g}): {WITHHELD_WORDS} are signals, not findings.")
    return Domain(photo_like=False, value=median, measure=TOP1_MEASURE, threshold=threshold,
                  withheld=list(WITHHELD_OFF_DOMAIN), text=text)


# What a user may declare of a run's images (``describe(domain=...)``, CLI ``--domain``): "auto" lets
# ``domain_check`` decide; "photos" and "other" (scans, micrographs, fundus, dermoscopy...) overrule it.
DOMAINS = ("auto", "photos", "other")


def check_domain(declared: str) -> None:
    """Raise ValueError unless ``declared`` is one of ``DOMAINS``."""
    if declared not in DOMAINS:
        raise ValueError(f"domain must be one of {', '.join(DOMAINS)}, got {declared!r}")


def declare_domain(measured: Domain, declared: str = "auto") -> Domain:
    """Return ``measured`` when ``declared`` is "auto"; else the same measurement with the user's decision:
    "photos" withholds nothing, "other" withholds ``WITHHELD_OFF_DOMAIN``. The set labels play no part, so
    the declaration, like the check, cannot bias a p-value. Raises ValueError for a value not in
    ``DOMAINS``."""
    check_domain(declared)
    if declared == "auto":
        return measured
    photo_like = declared == "photos"
    said = "" if measured.photo_like is None else (
        f" (the check alone would have called them {'photos' if measured.photo_like else 'not photos'}: "
        f"{measured.measure}, {measured.value:.2f})")
    if photo_like:
        text = f"Declared photos of everyday things{said}: every category may be reported."
    else:
        text = f"Declared not photos of everyday things{said}: {WITHHELD_WORDS} are signals, not findings."
    return Domain(photo_like=photo_like, value=measured.value,
                  measure=f"declared ({declared}); {measured.measure}", threshold=measured.threshold,
                  withheld=[] if photo_like else list(WITHHELD_OFF_DOMAIN),
                  text=text)


def _photo_domain(share: float, threshold: float, version: str, top1: float | None) -> Domain:
    """The Domain of a run in which the domain model ``version`` takes a share ``share`` of the images for
    photos (and whose median top-1 ImageNet probability, for information, is ``top1``)."""
    where = f"domain model {version} on the image embeddings"
    measure = f"share of images that are photos (P(photo) >= {PHOTO_P:g}, {where})"
    also = f"; median top-1 probability {top1:.2f}" if top1 is not None else ""
    if share >= threshold:
        text = (f"The domain model recognises the images as photos of everyday things: it takes {share:.0%} "
                f"of them for photos (at least {threshold:.0%}, {where}{also}); every category may be "
                "reported.")
        return Domain(photo_like=True, value=share, measure=measure, threshold=threshold, withheld=[],
                      text=text)
    text = (f"The domain model does not recognise the images as photos of everyday things: it takes only "
            f"{share:.0%} of them for photos (under {threshold:.0%}, {where}{also}); {WITHHELD_WORDS} are "
            "signals, not findings.")
    return Domain(photo_like=False, value=share, measure=measure, threshold=threshold,
                  withheld=list(WITHHELD_OFF_DOMAIN), text=text)


# On images that are not photos of everyday things (scans, micrographs), the measured structures (a mass, a
# lesion's border, spots in a cell) are named before the image-wide statistics that move with them: on
# PneumoniaMNIST "blurrier" (AUROC 0.94) otherwise explained away the hazier lung fields (0.90).
LEAD_OFF_DOMAIN = ("region",)


def lead_concepts(categories: Mapping[str, str] | pd.Series, domain: Domain | None) -> list[str]:
    """Return the concept ids to name first among significant findings in this run
    (``stats.contract.test_concepts(lead=...)``): the ``LEAD_OFF_DOMAIN`` categories when the images are
    not photos of everyday things; none when they are, or when the domain check could not run."""
    if domain is None or domain.photo_like is not False:
        return []
    return [str(cid) for cid, category in dict(categories).items() if category in LEAD_OFF_DOMAIN]


def domain_reason(category: str, domain: Domain) -> str:
    """Return why a concept of ``category`` is withheld by ``domain`` ("" when it is not)."""
    if category not in domain.withheld:
        return ""
    measured = domain.measure if domain.value is None else f"{domain.measure}: {domain.value:.2f}"
    if category in IMAGENET_CATEGORIES:
        return (f"ImageNet classes aren't reported on images that are not photos of everyday things "
                f"({measured})")
    if category in PHOTO_MODEL_CATEGORIES:
        return (f"people, poses, faces and everyday objects aren't reported on images that are not photos of "
                f"everyday things ({measured})")
    return (f"detectors trained on synthetic edits of photos are not reported on images that are not photos "
            f"of everyday things ({measured})")


def _row_block(scores: pd.DataFrame, rows: slice, columns: list[int]) -> np.ndarray:
    """Return the float64 scores of the columns at positions ``columns`` on ``rows``. For a frame of plain
    numpy numbers the rows are taken first (a view of a one-block frame), then the columns: 5-13 times faster
    than ``iloc[rows, columns]`` on 4,096 x 850 of 1,667 float32 columns (two measurements, 2026-12-02).
    Other frames (a nullable column's ``<NA>``, text) go through pandas' own conversion."""
    if all(isinstance(dtype, np.dtype) and dtype.kind in "biuf" for dtype in scores.dtypes):
        return scores.iloc[rows].to_numpy()[:, columns].astype(np.float64)
    return scores.iloc[rows, columns].to_numpy(dtype=np.float64)


def _presence_counts(scores: pd.DataFrame, thresholds: Mapping[str, float], masks: list[np.ndarray]
                     ) -> tuple[list[int], list[tuple[np.ndarray, np.ndarray]]]:
    """Return the positions of the columns with a threshold and, for each row mask of ``masks``, per such
    column how many of its rows show the concept outright (score at or above the threshold) and how many
    have a score. The rows are read a block at a time (`row_blocks`), not as a float64 copy of every
    presence column (0.9 GB at 100,000 images)."""
    columns = [i for i, c in enumerate(scores.columns) if c in thresholds]
    limits = np.array([thresholds[scores.columns[i]] for i in columns])
    counts = [(np.zeros(len(columns), dtype=np.int64), np.zeros(len(columns), dtype=np.int64)) for _ in masks]
    if not columns:
        return columns, counts
    for rows in row_blocks(len(scores)):
        values = _row_block(scores, rows, columns)
        for (shown, scored), mask in zip(counts, masks, strict=True):
            part = values[mask[rows]]
            shown += np.sum(part >= limits, axis=0)  # NaN compares False
            scored += np.sum(~np.isnan(part), axis=0)
    return columns, counts


def hidden_on_discovery(
    scores: pd.DataFrame,
    groups: np.ndarray,
    thresholds: Mapping[str, float],
    seed: int,
    min_visible_share: float = MIN_VISIBLE_SHARE,
) -> np.ndarray:
    """Return a bool per column: a presence concept (one with a threshold) that fewer than
    ``min_visible_share`` of either set's *discovery* images with a score show outright
    (``split_discovery_validation`` with ``seed``). Magnitude concepts are never hidden. The validation half
    is not looked at."""
    labels = check_groups(groups)
    discovery = ~split_discovery_validation(labels, seed)
    hidden = np.zeros(scores.shape[1], dtype=bool)
    columns, counts = _presence_counts(scores, thresholds, [discovery & (labels == label) for label in "ab"])
    if not columns:
        return hidden
    # Among the images with a score, as the findings table's share_a/share_b are.
    shares = [np.divide(shown, scored, out=np.zeros(len(columns)), where=scored > 0)
              for shown, scored in counts]
    hidden[columns] = np.maximum(*shares) < min_visible_share
    return hidden


def hidden_pooled(
    scores: pd.DataFrame,
    groups: np.ndarray,
    thresholds: Mapping[str, float],
    min_visible_share: float = MIN_VISIBLE_SHARE,
) -> np.ndarray:
    """Return a bool per column: a presence concept (one with a threshold) that too few images show
    outright for either set to reach ``min_visible_share``: fewer than that share of the smaller set's
    size, counted over both sets together. Only the set sizes are used, never which image is in which
    set, so a permutation test on all images stays exact. Magnitude concepts are never hidden."""
    labels = check_groups(groups)
    hidden = np.zeros(scores.shape[1], dtype=bool)
    columns, [(shown, _)] = _presence_counts(scores, thresholds, [np.ones(len(scores), dtype=bool)])
    if not columns:
        return hidden
    smaller = min(int((labels == "a").sum()), int((labels == "b").sum()))
    hidden[columns] = shown < min_visible_share * smaller
    return hidden


def reportable_concepts(
    scores: pd.DataFrame,
    groups: np.ndarray,
    categories: Mapping[str, str] | pd.Series,
    thresholds: Mapping[str, float],
    seed: int,
    domain: Domain | None = None,
    embeddings: np.ndarray | None = None,
    design: str = "split",
) -> tuple[np.ndarray, pd.Series, Domain]:
    """Decide which columns of ``scores`` may be reported as findings in this run.

    ``domain`` defaults to ``domain_check(scores, categories, embeddings=embeddings)``. The visibility
    rule must not look at what the test will use: with ``design="split"`` it uses the discovery half of
    ``split_discovery_validation(groups, seed)`` only, so the validation half stays untouched; with
    ``design="maxt"`` (every image is tested) it never looks at the labels (``hidden_pooled``).

    Returns:
        ``(reportable, reasons, domain)``: a bool per column; a Series (index: concept ids, the non-
        reportable columns only) saying why each is a signal; and the domain decision.
    """
    domain = domain if domain is not None else domain_check(scores, categories, embeddings=embeddings)
    reasons = {}
    for column in scores.columns:
        reason = domain_reason(str(categories.get(column, "other")), domain)
        if reason:
            reasons[column] = reason
    # Edit detectors are exempt: on the benchmark's medium tier (same scores, 2026-12-01) the rule withheld
    # "brightened", "lower contrast" and "zoomed in" at mild strengths, which few images show past the
    # detector's threshold (Acc@1 0.79 -> 0.73, hard 0.38 -> 0.31).
    named = {cid: limit for cid, limit in thresholds.items()
             if categories.get(cid) not in EDIT_DETECTOR_CATEGORIES}
    if design == "maxt":
        hidden = hidden_pooled(scores, groups, named)
    else:
        hidden = hidden_on_discovery(scores, groups, named, seed)
    for column, is_hidden in zip(scores.columns, hidden, strict=True):
        if is_hidden and column not in reasons:
            reasons[column] = HIDDEN_REASON
    reportable = np.array([c not in reasons for c in scores.columns], dtype=bool)
    return reportable, pd.Series(reasons, dtype=object), domain
