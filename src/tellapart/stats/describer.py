"""The learned describer: which screened concepts are the *cause* of a difference, from discovery data only.

On the discovery half, many concepts tell A from B: the true difference, its side effects (a pasted
rectangle raises edge density and shifts colour), and chance. The untrained ranking orders them by AUROC
distance with a fixed source priority. The learned describer instead scores each concept from a small set
of features of the discovery images (how strongly and how consistently it separates the sets, whether only
some images move, how it compares with and correlates with the strongest concepts, what kind of concept it
is) with a small neural network trained on pairs of sets whose differences tellapart made itself
(``tellapart.train.describer``, with a curriculum).

Its scores only *order* the hypotheses, on discovery data: which ones are validated, in which order they
are reported and explained away. Every reported effect size and p-value still comes from the validation
half, corrected over every hypothesis tested, so a describer can cost power but never validity.

The shipped weights are ``tellapart/data/describer.npz`` (made by ``tellapart train``).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tellapart.io.npz import read_npz, read_shipped_npz, shipped_file, write_npz
from tellapart.stats.auroc import column_ranks
from tellapart.stats.tests import mann_whitney_matrix

SHIPPED = "describer.npz"
# With a describer, concepts are screened more loosely on discovery (one-sided p below this), because the
# describer, not the p-value alone, decides which few become hypotheses.
DESCRIBER_SCREEN_LEVEL = 0.1
# ...and only this many are validated by default: fewer hypotheses, a milder correction, more power. On the
# full benchmark (seed 0) 3, 5 and 10 gave hard-tier Acc@1 0.44, 0.44 and 0.42 against 0.34 at 30; 10
# leaves room for several true differences and their side effects.
DESCRIBER_MAX_HYPOTHESES = 10
# Share of the correction's weight the describer hands out by its confidence (``hypothesis_weights``); the
# rest is spread evenly, so a hypothesis it doubts keeps at least 1 - share of an even weight. On the
# held-out-family benchmark (100 hard pairs of 40 + 40 images, 2026-11-22) shares 0.6 / 0.7 / 0.8 / 0.9
# raised hard-tier Acc@1 from 0.135 (even weights) to 0.18 / 0.18 / 0.19 / 0.20, and multi-edit recall
# went from 0.745 to 0.72-0.71.
DESCRIBER_WEIGHT_SHARE = 0.8
# Concept categories the describer tells apart (``concepts.base.CATEGORIES``, declared by each source);
# a category it was not trained on counts as "other", and training never offers an "other" column as a
# candidate, so the describer ranks such concepts by their statistics (the "other" input's weight keeps its
# seeded initial value: nothing in training moves it). The measured structures
# (``region``) are one: a describer trained on them (structure-split tasks) ranked "less sharp" over "zoomed
# in" and "fewer small spots" over "lower contrast" on the synthetic benchmark (Acc@1 easy / medium / real
# 0.78 / 0.64 / 0.19 against 0.84 / 0.69 / 0.31 without, same scores, 2026-12-01), and one trained with
# them as never-true side effects ranked them last on scans (0/8 structure hits in
# benchmarks/real_medical.py). Where structures matter (scans and
# micrographs) ``stats.reportable.lead_concepts`` names them first.
KINDS = ("stats", "shape", "detector", "semantic_category", "semantic_class", "learned", "saved", "other")
# Categories the describer was not trained on that it reads as one it was: COCO objects, poses, faces and
# text (OCR) are detectors too, like the OpenCV cascades (category "cascade" since 2026-12-02, "detector"
# when the describer was trained, so read as before). Read as "other", on mosaics of 3 vs 1
# people (100 per set, default library, 2026-12-01) the cascade's "show more faces" came 2nd and the COCO
# "contain more people" 7th; read as detectors, 5th and 3rd. On the same scores
# (``benchmarks/describer_alias.py``: the full suite's 50 easy, 50 medium and 50 hard pairs, 10 synthetic
# and 4 real nulls, 12 real pairs at 30 per set) Acc@1 / Acc@5 were the same with and without them in
# every section (easy 0.86 / 1.00, medium 0.72 / 0.96, hard 0.49 / 0.61, real 0.42 / 0.54), no null pair
# reported anything, and the top three findings differed on 6 of 176 pairs: on the more-people pair the
# person count and area instead of the cascade, on 5 edited pairs a COCO finding 2nd or 3rd.
# Training reads the same mapping, so a retrained describer would see these columns as detectors.
KIND_ALIASES: dict[str, str] = {"object": "detector", "pose": "detector", "face": "detector",
                                "text": "detector", "cascade": "detector"}
TOP_CONTEXT = 10  # correlations are measured against this many strongest concepts
FEATURES = (
    "strength", "log_p", "relative_strength", "strength_rank", "effect_size", "tail_share", "median_share",
    "visible_share_gap", "has_threshold", "nan_share", "corr_with_stronger", "corr_with_top", "is_general",
    *(f"kind_{k}" for k in KINDS),
)

Ranker = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def concept_kinds(concepts: pd.DataFrame, aliases: Mapping[str, str] = KIND_ALIASES) -> np.ndarray:
    """Return int (n, 2) for the rows of a concept table (``ScoreMatrix.concepts``): the index into ``KINDS``
    of each concept's declared category read through ``aliases`` ("other" for one the describer does not
    know), and 1 for a more general concept (``general``: some concept names it as its parent), else 0."""
    other = KINDS.index("other")
    named = (aliases.get(c, c) for c in concepts["category"])
    kind = [KINDS.index(c) if c in KINDS else other for c in named]
    return np.column_stack([kind, concepts["general"].astype(bool)]).astype(np.int64).reshape(-1, 2)


def hypothesis_weights(describer_scores: np.ndarray, share: float = DESCRIBER_WEIGHT_SHARE) -> np.ndarray:
    """Return float64 (n,) weights, mean 1, of validated hypotheses in the multiple-testing correction.

    The describer is trained so that the softmax of its scores over a pair's candidates is the
    probability that each one is the true difference. A ``share`` of the weight follows that probability
    (renormalised over the hypotheses), the rest is even: a hypothesis the describer is sure of is tested
    at up to ``1 + share * (n - 1)`` times the even level, one it doubts at no less than ``1 - share``
    of it. The scores come from the discovery half only, so weighted Benjamini-Hochberg on the
    validation p-values keeps its false discovery rate (``stats.tests.benjamini_hochberg``).
    """
    z = np.asarray(describer_scores, dtype=np.float64)
    if z.size == 0:
        return z
    probability = np.exp(z - z.max())
    probability /= probability.sum()
    return z.size * (share * probability + (1 - share) / z.size)


def _filled(values: np.ndarray) -> np.ndarray:
    """NaN replaced by the column median (all-NaN columns by 0)."""
    if not np.isnan(values).any():
        return values
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        medians = np.nan_to_num(np.nanmedian(values, axis=0))
    return np.where(np.isnan(values), medians, values)


def _within_set_ranks(values: np.ndarray, is_a: np.ndarray) -> np.ndarray:
    """Per column, ranks within each set, standardised: the set difference removed before correlating."""
    out = np.empty_like(values)
    for mask in (is_a, ~is_a):
        ranks = column_ranks(values[mask])
        ranks -= ranks.mean(axis=0)
        sd = ranks.std(axis=0)
        out[mask] = ranks / np.where(sd > 0, sd, 1.0)
    return out


def discovery_features(
    values: np.ndarray,
    labels: np.ndarray,
    kinds: np.ndarray,
    thresholds: np.ndarray,
    candidates: np.ndarray,
) -> np.ndarray:
    """Return float32 (n_candidates, len(FEATURES)): the describer's view of each candidate column.

    Parameters:
        values: discovery scores (images x concepts), NaN allowed.
        labels: "a" / "b" per row.
        kinds: ``concept_kinds`` of every column (kind index, is a general concept).
        thresholds: presence threshold per column (NaN for magnitude concepts).
        candidates: indices of the columns to describe (those that passed the discovery screen).
    """
    is_a = np.asarray(labels) == "a"
    candidates = np.asarray(candidates, dtype=np.int64)
    if len(candidates) == 0:
        return np.zeros((0, len(FEATURES)), dtype=np.float32)
    raw = np.asarray(values)[:, candidates].astype(np.float64)  # only the candidates in float64
    S = _filled(raw)
    strength, p, a_higher = _strength(S, is_a)
    named = {
        **_separation_features(S, is_a, strength, p, a_higher),
        **_visibility_features(S, is_a, np.asarray(thresholds, dtype=np.float64)[candidates]),
        **_context_features(S, is_a, strength),
        "nan_share": np.isnan(raw).mean(axis=0),
        **_kind_features(np.asarray(kinds)[candidates]),
    }
    return np.column_stack([named[name] for name in FEATURES]).astype(np.float32)


def _strength(S: np.ndarray, is_a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column: 2 |AUROC - 0.5|, the two-sided rank-test p-value, and whether set A scores higher."""
    auc, p = mann_whitney_matrix(S[is_a], S[~is_a], "two-sided")
    auc = np.nan_to_num(auc, nan=0.5)
    return 2 * np.abs(auc - 0.5), p, auc >= 0.5


def _separation_features(S: np.ndarray, is_a: np.ndarray, strength: np.ndarray, p: np.ndarray,
                         a_higher: np.ndarray) -> dict[str, np.ndarray]:
    """How strongly and how consistently each column separates the sets, and whether only some images move."""
    S_a, S_b = S[is_a], S[~is_a]
    pooled_sd = np.sqrt((S_a.var(axis=0) + S_b.var(axis=0)) / 2)
    effect = np.abs(S_a.mean(axis=0) - S_b.mean(axis=0)) / np.where(pooled_sd > 0, pooled_sd, np.inf)
    tail, median_share = np.empty(S.shape[1]), np.empty(S.shape[1])
    for j in range(S.shape[1]):
        higher, lower = (S_a[:, j], S_b[:, j]) if a_higher[j] else (S_b[:, j], S_a[:, j])
        tail[j] = np.mean(higher > np.quantile(lower, 0.9))
        median_share[j] = np.mean(higher > np.median(lower))
    return {
        "strength": strength,
        "log_p": np.minimum(-np.log10(np.maximum(p, 1e-300)), 12.0) / 12.0,
        "relative_strength": strength / max(float(strength.max()), 1e-9),
        "effect_size": np.minimum(effect, 4.0) / 4.0,
        "tail_share": tail,
        "median_share": median_share,
    }


def _visibility_features(S: np.ndarray, is_a: np.ndarray, threshold: np.ndarray) -> dict[str, np.ndarray]:
    """For presence concepts: the gap between the sets' shares of images showing it outright."""
    has_threshold = np.isfinite(threshold)
    safe = np.where(has_threshold, threshold, np.inf)
    share_a, share_b = (S[is_a] >= safe).mean(axis=0), (S[~is_a] >= safe).mean(axis=0)
    return {"visible_share_gap": np.where(has_threshold, np.abs(share_a - share_b), 0.0),
            "has_threshold": has_threshold.astype(np.float64)}


def _context_features(S: np.ndarray, is_a: np.ndarray, strength: np.ndarray) -> dict[str, np.ndarray]:
    """Each column's rank by strength and its within-set correlation with the strongest columns."""
    order = np.argsort(-strength, kind="stable")
    rank = np.empty(S.shape[1], dtype=np.float64)
    rank[order] = np.arange(S.shape[1])
    top = order[:TOP_CONTEXT]
    Z = _within_set_ranks(S, is_a)
    corr = np.abs(Z.T @ Z[:, top]) / len(S)  # (candidates, top)
    corr[top, np.arange(len(top))] = 0.0  # a concept's correlation with itself
    stronger = rank[top][None, :] < rank[:, None]
    return {
        "strength_rank": np.log1p(rank) / np.log(100.0),
        "corr_with_stronger": np.minimum(np.where(stronger, corr, 0.0).max(axis=1), 1.0),
        "corr_with_top": np.minimum(corr.max(axis=1), 1.0),
    }


def _kind_features(kinds: np.ndarray) -> dict[str, np.ndarray]:
    """One-hot of each column's kind (``KINDS``) and whether it is a more general concept."""
    out = {"is_general": kinds[:, 1].astype(np.float64)}
    out.update({f"kind_{kind}": (kinds[:, 0] == k).astype(np.float64) for k, kind in enumerate(KINDS)})
    return out


@dataclass(frozen=True)
class LearnedDescriber:
    """A small network scoring how likely each screened concept is a true difference (higher first).

    score = w2 . tanh(W1 x + b1) + b2 on the ``FEATURES`` of ``discovery_features``.

    Attributes:
        W1, b1, w2, b2: the network's weights (float32).
        info: how it was trained (seed, families, curriculum log, held-out accuracy).
    """

    W1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: float
    info: dict

    def score(self, features: np.ndarray) -> np.ndarray:
        """Return float64 (n,) scores for feature rows (n, len(FEATURES)); higher = more likely the cause."""
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(FEATURES):
            raise ValueError(f"expected (n, {len(FEATURES)}) features, got {x.shape}")
        hidden = np.tanh(x @ self.W1.T.astype(np.float64) + self.b1)
        return hidden @ self.w2.astype(np.float64) + float(self.b2)

    def ranker(self, concepts: pd.DataFrame, aliases: Mapping[str, str] = KIND_ALIASES) -> Ranker:
        """Return ``rank(values, labels, candidates) -> scores`` for a score matrix whose columns are the
        rows of ``concepts`` (``ScoreMatrix.concepts``: declared category, ``general``, ``threshold``),
        categories read through ``aliases`` (``concept_kinds``).

        This is what ``stats.test_concepts(ranker=...)`` calls on the discovery half.
        """
        kinds = concept_kinds(concepts, aliases)
        threshold = concepts["threshold"].to_numpy(dtype=np.float64)

        def rank(values: np.ndarray, labels: np.ndarray, candidates: np.ndarray) -> np.ndarray:
            return self.score(discovery_features(values, labels, kinds, threshold, candidates))

        return rank

    @property
    def version(self) -> str:
        """A short digest of the weights (recorded in results)."""
        import hashlib

        blob = b"".join(np.ascontiguousarray(a, dtype=np.float32).tobytes()
                        for a in (self.W1, self.b1, self.w2, np.float32([self.b2])))
        return hashlib.sha256(blob).hexdigest()[:12]

    def save(self, path: str | os.PathLike) -> Path:
        """Write the describer to ``path`` (.npz, atomically); return the path."""
        return write_npz(path, {"features": list(FEATURES), "info": self.info},
                         W1=self.W1.astype(np.float32), b1=self.b1.astype(np.float32),
                         w2=self.w2.astype(np.float32), b2=np.float32([self.b2]))

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> LearnedDescriber:
        """Load a describer from ``path``, or the shipped one when None; ValueError if its features differ."""
        arrays, meta = read_npz(path) if path is not None else read_shipped_npz(SHIPPED)
        if tuple(meta["features"]) != FEATURES:
            raise ValueError(f"{path or SHIPPED}: made for other features ({meta['features']}); retrain with "
                             "`tellapart train`")
        return cls(arrays["W1"], arrays["b1"], arrays["w2"], float(arrays["b2"][0]), meta.get("info", {}))


def shipped_describer_available() -> bool:
    """True when the package ships a trained describer."""
    return shipped_file(SHIPPED).is_file()


def load_describer(describer: LearnedDescriber | str | os.PathLike | None) -> LearnedDescriber | None:
    """Resolve a ``describer`` argument: "shipped" (the package's, None if it has none), a path, an
    instance, or None (the untrained ranking)."""
    if describer is None or isinstance(describer, LearnedDescriber):
        return describer
    if isinstance(describer, str) and describer == "shipped":
        return LearnedDescriber.load() if shipped_describer_available() else None
    return LearnedDescriber.load(describer)
