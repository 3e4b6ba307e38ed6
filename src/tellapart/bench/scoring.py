"""Scoring a method's findings against the known answer, as in VisDiff (Acc@1, Acc@5).

A finding (concept id, direction) earns, for one true difference:

- 1 when its id is one of the difference's concept ids and the direction agrees, or it is a learned
  detector that states the same difference (``detector_answers``: the detector of the edit's own family
  found more in the edited set A, or of a family with the same answer, e.g. ``learned.downscale`` for a
  blur, or the opposite answer found more in set B, e.g. ``learned.brightness_down`` in B for a
  brightening; ``synth.answers``). Any other finding of a synth family's learned detector earns 0;
- 0.5 when the direction agrees and it is a near miss: the two ids are a WordNet parent/child (any
  ancestor, via ``concepts.wordnet.is_related``), one is an ancestor of the other through the library's
  ``Concept.parents`` (``shape.rectangle_small`` vs ``shape.rectangle``), or the bundled sentence model
  matches the finding's phrase to the truth's phrases with cosine similarity >= ``MATCH_THRESHOLD``;
- 0 otherwise (a finding in the wrong direction says the opposite of the truth and earns nothing).

A pair's Acc@k is the best credit among the top k findings over any of its true differences; a null pair
(no difference) scores 1 when the method reports nothing, else 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from tellapart.concepts.base import Concept
from tellapart.synth.answers import DETECTOR_FAMILIES, detector_answers
from tellapart.synth.families import Difference

# Calibrated with `calibrate_match_threshold` on the 1430 concepts of the offline library (Oct 2025):
# the 99th percentile of the phrase similarity of 1.02 million pairs of concepts that are NOT related
# (neither id an ancestor of the other by Concept.parents or WordNet) is 0.507; 26% of the 6958 related
# pairs score above it. So a sentence-model match costs a 1% false "near miss" rate per unrelated concept.
MATCH_THRESHOLD = 0.51
MATCH_QUANTILE = 0.99

# Truth ids the library does not define yet, with the library concepts they specialise.
EXTRA_PARENTS = {
    "learned.triangle": ("shape.any",),
    "learned.text": ("shape.any",),
    "learned.logo": ("shape.any",),
}


def ancestors(concept_id: str, concepts: dict[str, Concept]) -> set[str]:
    """Return every id above ``concept_id`` through ``Concept.parents`` (and ``EXTRA_PARENTS``)."""
    found: set[str] = set()
    todo = list(_parents(concept_id, concepts))
    while todo:
        parent = todo.pop()
        if parent not in found:
            found.add(parent)
            todo.extend(_parents(parent, concepts))
    return found


def _parents(concept_id: str, concepts: dict[str, Concept]) -> tuple[str, ...]:
    if concept_id in concepts:
        return concepts[concept_id].parents
    return EXTRA_PARENTS.get(concept_id, ())


def related(id_a: str, id_b: str, concepts: dict[str, Concept]) -> bool:
    """Return True when one id is a more general form of the other (library parents or WordNet)."""
    from tellapart.concepts.wordnet import is_related

    if id_a == id_b or id_a in ancestors(id_b, concepts) or id_b in ancestors(id_a, concepts):
        return True
    return _is_semantic(id_a, concepts) and _is_semantic(id_b, concepts) and is_related(id_a, id_b)


def _is_semantic(concept_id: str, concepts: dict[str, Concept]) -> bool:
    """True for a concept of the ImageNet-WordNet hierarchy (by its declared category)."""
    concept = concepts.get(concept_id)
    return concept is not None and concept.category in ("semantic_category", "semantic_class")


class Scorer:
    """Gives each finding its credit against a pair's true differences (see the module docstring).

    Parameters:
        concepts: the library's concepts by id.
        threshold: sentence-model cosine similarity for a 0.5 match; None turns text matching off.
        encoder: the sentence model (``text_match.TextEncoder``); default: a new one, made on first use.
    """

    def __init__(self, concepts: dict[str, Concept], threshold: float | None = MATCH_THRESHOLD,
                 encoder=None) -> None:
        self.concepts = concepts
        self.threshold = threshold
        self._encoder = encoder
        self._credit_cache: dict[tuple[str, str, Difference], float] = {}

    def credit(self, concept_id: str, direction: str, truth: Difference) -> float:
        """Return 1, 0.5 or 0: what the finding (``concept_id``, ``direction``) earns for ``truth``."""
        key = (concept_id, direction, truth)
        if key not in self._credit_cache:
            self._credit_cache[key] = self._credit(concept_id, direction, truth)
        return self._credit_cache[key]

    def _credit(self, concept_id: str, direction: str, truth: Difference) -> float:
        if concept_id in DETECTOR_FAMILIES:  # its direction is "more edited", not more of its parent
            return 1.0 if (concept_id, direction) in detector_answers(truth) else 0.0
        if direction != truth.direction:
            return 0.0
        if concept_id in truth.concepts:
            return 1.0
        if any(related(concept_id, t, self.concepts) for t in truth.concepts):
            return 0.5
        if self.threshold is not None and concept_id in self.concepts:
            if self.similarity(concept_id, truth) >= self.threshold:
                return 0.5
        return 0.0

    def similarity(self, concept_id: str, truth: Difference) -> float:
        """Return the best cosine similarity between the concept's phrase and the truth's phrases."""
        if self._encoder is None:
            from tellapart.concepts.text_match import TextEncoder

            self._encoder = TextEncoder()
        texts = _truth_texts(truth, self.concepts)
        vectors = self._encoder.embed([self.concepts[concept_id].phrase, *texts])
        return float((vectors[1:] @ vectors[0]).max())

    def accuracy(self, findings: Sequence[tuple[str, str]], truths: Sequence[Difference], k: int) -> float:
        """Return a pair's Acc@k: best credit among the top ``k`` findings over any true difference.

        For a null pair (``truths`` empty) it is 1 when there are no findings at all, else 0.
        """
        if not truths:
            return 0.0 if findings else 1.0
        best = 0.0
        for concept_id, direction in findings[:k]:
            for truth in truths:
                best = max(best, self.credit(concept_id, direction, truth))
                if best == 1.0:
                    return best
        return best

    def recall_precision(self, significant: Sequence[tuple[str, str, bool]], truths: Sequence[Difference]
                         ) -> tuple[float, float | None]:
        """Return the share of ``truths`` some significant finding earns credit for (recall), and the
        share of significant findings that earn credit or are marked explained (precision; None when
        there are none)."""
        found = [any(self.credit(cid, d, t) > 0 for cid, d, _ in significant) for t in truths]
        fine = [explained or any(self.credit(cid, d, t) > 0 for t in truths)
                for cid, d, explained in significant]
        return float(np.mean(found)) if truths else 0.0, (float(np.mean(fine)) if fine else None)


def _truth_texts(truth: Difference, concepts: dict[str, Concept]) -> list[str]:
    """The truth's reference sentence without filler words, plus the phrases of its library concepts."""
    from tellapart.concepts.text_match import clean_hypothesis

    texts = [clean_hypothesis(truth.sentence)]
    texts += [concepts[cid].phrase for cid in truth.concepts if cid in concepts]
    return list(dict.fromkeys(texts))


def calibrate_match_threshold(concepts: Iterable[Concept], quantile: float = MATCH_QUANTILE) -> float:
    """Return the ``quantile`` of the phrase similarity over all pairs of unrelated concepts.

    This is how ``MATCH_THRESHOLD`` was set: a random unrelated concept then matches a truth by text with
    probability ``1 - quantile``. Embeds every phrase with the bundled sentence model.
    """
    from tellapart.concepts.text_match import TextEncoder

    listed = list(concepts)
    by_id = {c.id: c for c in listed}
    vectors = TextEncoder().embed([c.phrase for c in listed])
    upper = np.triu_indices(len(listed), 1)
    similarity = (vectors @ vectors.T)[upper]
    unrelated = np.array(
        [not related(listed[i].id, listed[j].id, by_id) for i, j in zip(*upper, strict=True)], dtype=bool
    )
    if not unrelated.any():
        raise ValueError("need at least two unrelated concepts to calibrate")
    return float(np.quantile(similarity[unrelated], quantile))
