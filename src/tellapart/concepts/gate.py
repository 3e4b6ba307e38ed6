"""The photo gate: the people, pose, face, cascade and COCO-object models run only on images that could be
photos.

Those models (``stats.reportable.PHOTO_MODEL_CATEGORIES``) cost about 105 CPU ms per image (the OpenCV
cascades 42 of them), and their findings are withheld on runs of scans and micrographs anyway. The domain
model (``stats.reportable.DomainModel``) reads the backbone's embedding, which the library computes for every
image regardless, and gives each image P(photo of everyday things). An image below `GATE_P` is not shown to
the gated models: it gets the source's *absent* row, the scores of an image in which the model found
nothing (`absent_row`). For a count or presence concept on a texture 0 is the truth, and it is what the
model itself returns on most of them; NaN would instead put every gated image at the centre rank of the
rank statistics and change them.

The decision depends on the embedding, the domain model's file, `GATE_P` and the code that decides, all in
`PhotoGate.version`, which the library joins to each gated source's cache key.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tellapart.concepts.base import ConceptSource
from tellapart.concepts.versioning import function_fingerprint

# An image is shown to the gated models when the domain model gives it P(photo) at least this. Measured with
# `python benchmarks/photo_gate.py` (2026-12-01, domain_model.npz@bb366edcfb31) on 2 x 200 crops of the
# bundled bench photos (256-512 and 64-128 px): 99 and 100 fall below 0.1 (0.5: 104 and 108; 0.01: 95 and 83).
# The people models, run ungated, found something in 31 and 45 of those; of the 20 with a person, animal or
# face, checked by eye, 19 are immunohistochemistry, cell or moon crops (false alarms) and 1 (P(photo) 0.012)
# is a close-up of the cat's eye the detector called a cat: the gate loses that one and removes 19 false
# alarms. With the OpenCV cascades run ungated too (2026-12-02): something found in 34 and 45 of the skipped
# crops; the cascades add 4 faces, all false alarms (two deep-sky crops, two blurred grey ones), so 23 of 24
# people, animals or faces found are false alarms. All 100 lfw_subset faces pass (lowest 0.655), its non-faces
# 0.320. (With the previous model, b178ec870219: 51 and 82 below 0.1; of 23 people, animals or faces found, 22
# false alarms and a real cat at P(photo) 0.001.) 0.1 keeps a margin in odds of nine below the domain model's
# own boundary (``stats.reportable.PHOTO_P`` = 0.5): a photo it is unsure of runs.
GATE_P = 0.1


@dataclass(frozen=True)
class PhotoGate:
    """Decides, from backbone embeddings, which images the photo models run on.

    ``model`` is a ``stats.reportable.DomainModel`` (anything with ``photo_probability(embeddings)`` and a
    ``version`` string); ``threshold`` the P(photo) from which an image runs (`GATE_P`).
    """

    model: object
    threshold: float = GATE_P

    @property
    def version(self) -> str:
        """Return what the gate's decisions depend on besides the embedding: the domain model's version,
        the threshold and a digest of the deciding code (``"gate:domain_model.npz@e29b...:0.1:3f..."``)."""
        code = function_fingerprint(type(self.model).photo_probability, PhotoGate.runs_on)
        return f"gate:{self.model.version}:{self.threshold!r}:{code}"

    def runs_on(self, embeddings: np.ndarray) -> np.ndarray:
        """Return a bool per row of ``embeddings``: True where P(photo) >= threshold or is unknown (NaN: a
        row the backbone could not embed is shown to the models, as without a gate)."""
        probability = self.model.photo_probability(np.asarray(embeddings, dtype=np.float32))
        return ~(probability < self.threshold)


def photo_gate(embedding_version: str | None) -> PhotoGate | None:
    """Return the gate on the package's domain model, or None when there is no model or it reads another
    embedding version than ``embedding_version`` (the library's backbone's)."""
    if embedding_version is None:
        return None
    from tellapart.stats.reportable import shipped_domain_model

    model = shipped_domain_model()
    if model is None or model.embedding_version != embedding_version:
        return None
    return PhotoGate(model)


def gated_categories() -> tuple[str, ...]:
    """Return the concept categories whose sources the gate applies to (the photo models' categories)."""
    from tellapart.stats.reportable import PHOTO_MODEL_CATEGORIES

    return tuple(PHOTO_MODEL_CATEGORIES)


def absent_row(source: ConceptSource) -> np.ndarray | None:
    """Return float32 (n_concepts,): the scores ``source`` gives an image where its model finds nothing,
    or None when the source cannot be gated.

    A source gated must have only photo-model concepts (`gated_categories`). Its absent row is its own
    ``absent_scores()`` when it has one; else, when every concept is a presence concept, zeros (an image
    that cannot show it does not); else the source is not gated (a magnitude concept's absent value, 0 or
    NaN, is the source's to say).
    """
    concepts = source.concepts()
    if not concepts or any(c.category not in gated_categories() for c in concepts):
        return None
    declared = getattr(source, "absent_scores", None)
    if callable(declared):
        row = np.asarray(declared(), dtype=np.float32)
        if row.shape != (len(concepts),):
            raise ValueError(f"source {source.name!r}: absent_scores() has shape {row.shape}, expected "
                             f"({len(concepts)},)")
        return row
    if all(c.kind == "presence" for c in concepts):
        return np.zeros(len(concepts), dtype=np.float32)
    return None
