"""The Concept type, its categories, and the interfaces every concept source implements.

A concept is something an image can show more or less of ("contains a dog", "brightness"). A source
turns decoded images into one score per image per concept; all sources feed the same score matrix. Adding a
source is adding one module with a class that satisfies ``ConceptSource`` (or ``EmbeddingSource``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

import numpy as np

from tellapart.io.image import DecodedImage

__all__ = ["CATEGORIES", "Concept", "ConceptSource", "EmbeddingSource", "Kind"]

Kind = Literal["presence", "magnitude"]

# Concept category -> ranking priority: among findings about equally strong (validation AUROC within
# ``stats.contract.STRENGTH_BIN``) the lower is named first. Detected objects, inserted marks and findings
# a user validated first; then named semantic categories ("dog", "food") and measured structures (a lesion's
# border, spots inside a cell, where a mass sits: ``concepts.regions``); then pixel statistics and learned
# detectors (trained on synthetic edits of photos, they also answer to a domain's style, e.g. "logo" for
# clip-art); then single ImageNet classes (1000 narrow labels, the noisiest evidence). The learned
# describer also takes the category as a feature (``stats.describer.KINDS``); a category it was not trained
# on counts there as "other". Metadata (``concepts.metadata``: DICOM header fields, manifest columns) ranks
# first: a scanner or site that tells the sets apart is a shortcut a user must hear about before any pixel
# effect it may cause; it is never withheld by the domain rule (``stats.reportable``), being no image model's.
# Objects a detector finds and counts (COCO classes: "contain more people") and text read in the image
# (OCR: "show the word 'ERROR'") rank with the other detectors; people's poses ("stand") and face
# attributes (model estimates of age or expression) with named categories; "phrase" is a free-text phrase
# scored by an image-text model (CLIP-family, ``--model``). Objects, poses, faces and the OpenCV cascades'
# faces, bodies and cat faces ("cascade") are photo concepts, so the domain rule withholds them on scans and
# micrographs; text, phrases and other detectors (a source of your own) are reported everywhere.
CATEGORIES: dict[str, int] = {
    "metadata": 0,
    "detector": 0,
    "cascade": 0,
    "shape": 0,
    "saved": 0,
    "object": 0,
    "text": 0,
    "semantic_category": 1,
    "region": 1,
    "pose": 1,
    "face": 1,
    "phrase": 1,
    "stats": 2,
    "learned": 2,
    "semantic_class": 3,
    "other": 2,
}


@dataclass(frozen=True)
class Concept:
    """A nameable property of an image, declared by the source that scores it.

    Attributes:
        id: stable identifier, unique in a library, e.g. ``"stats.brightness"``, ``"semantic.dog"``
            (only ever compared, never parsed).
        phrase: for presence concepts a verb phrase completing "Set A images ...", e.g.
            ``"contain a dog"``, ``"carry a small rectangle"``; for magnitude concepts the noun of the
            measured quantity, e.g. ``"brightness"``.
        kind: ``"presence"`` (the image shows it or not; the score is a probability-like number and
            ``threshold`` decides "shows it") or ``"magnitude"`` (a continuous quantity).
        category: what sort of evidence it is, one of ``CATEGORIES`` (keyword only, required): decides its
            ranking priority and the learned describer's view of it.
        parents: ids of more general concepts (``"semantic.dog"`` -> ``("semantic.canine",)``).
        more: magnitude only: adjective for "more of it", e.g. ``"brighter"``, or a predicate starting
            with have/carry/contain/show, e.g. ``"carry more rectangles"``.
        less: magnitude only: the same for "less of it", e.g. ``"darker"``.
        threshold: presence only: score at or above which an image counts as showing the concept.
        unit: how to print a typical value: ``""`` (plain number), ``"px"``, ``"%"``, ``"log10 px"``
            (the score is log10 of a pixel count) or ``"log ratio"`` (the score is ln of a ratio).
        synonyms: other words for it, used when matching a person's text to concepts.
    """

    id: str
    phrase: str
    kind: Kind
    parents: tuple[str, ...] = ()
    more: str = ""
    less: str = ""
    threshold: float = 0.5
    unit: str = ""
    synonyms: tuple[str, ...] = ()
    category: str = field(kw_only=True)

    def __post_init__(self) -> None:
        if self.kind not in ("presence", "magnitude"):
            raise ValueError(f"concept {self.id!r}: kind must be 'presence' or 'magnitude', "
                             f"got {self.kind!r}")
        if self.category not in CATEGORIES:
            raise ValueError(f"concept {self.id!r}: category {self.category!r} is not one of "
                             f"{sorted(CATEGORIES)}; declare a new one in CATEGORIES "
                             "(tellapart.concepts.base)")

    @property
    def priority(self) -> int:
        """Which of two about equally strong findings a person wants named first (lower first)."""
        return CATEGORIES[self.category]


@runtime_checkable
class ConceptSource(Protocol):
    """A family of concepts scored together (one model pass or one set of pixel statistics).

    ``name`` names the source in the score cache and in results; the cache key of its scores is derived
    from what determines them (``tellapart.concepts.versioning.cache_version``: the package version, the
    decode settings, the source's code and the numerical libraries' versions). A source that loads model
    files lists them in ``weight_files() -> Sequence[Path]`` (their contents join the key); settings the
    code does not show (constructor arguments) go in a ``cache_config`` attribute, another part of the key.
    A source may set ``background = True`` (a model whose native code releases the GIL) to be run in a
    worker thread beside the other sources. A source that measures a region of the image may offer
    ``outlines(image, concept_ids) -> dict[str, list[np.ndarray]]``: for each of its concept ids, the
    contours of the region it measured ((k, 2) arrays of (x, y) image fractions), which ``describe`` stores
    for the example images and the report draws (``concepts.regions.RegionSource``).
    """

    name: str

    def concepts(self) -> list[Concept]:
        """Return the concepts this source scores, in the column order of ``score``; each declares its
        ``kind`` and ``category``."""
        ...

    def score(self, images: Sequence[DecodedImage]) -> np.ndarray:
        """Return a float32 array of shape (len(images), len(self.concepts()))."""
        ...


@runtime_checkable
class EmbeddingSource(Protocol):
    """A concept source whose model also yields an embedding of each image in the same pass.

    The library caches the embeddings beside the scores and returns them with the score matrix (they feed
    the "any difference at all?" classifier and the learned detectors), never as concepts. Like any source
    it may list its model files in ``weight_files()``.

    Attributes:
        embedding_dim: features per image.
        embedding_blocks: widths of the embedding's consecutive blocks (one per network stage).
        embedding_version: the embedding's *compatibility* version: detectors trained on embeddings of
            another version cannot be applied (it is not the cache key, which is derived).
    """

    name: str
    embedding_dim: int
    embedding_blocks: tuple[int, ...]
    embedding_version: str

    def concepts(self) -> list[Concept]:
        """Return the concepts this source scores, in the column order of ``score``."""
        ...

    def score(self, images: Sequence[DecodedImage]) -> tuple[np.ndarray, np.ndarray]:
        """Return (scores float32 (n, n_concepts), embeddings float32 (n, embedding_dim)) of one pass."""
        ...
