"""The interfaces every concept source implements; the Concept type itself lives in ``tellapart.schema``.

A concept is something an image can show more or less of ("contains a dog", "brightness"). A source
turns decoded images into one score per image per concept; all sources feed the same score matrix. Adding a
source is adding one module with a class that satisfies ``ConceptSource`` (or ``EmbeddingSource``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from tellapart.io.image import DecodedImage
from tellapart.schema import CATEGORIES, Concept, Kind

__all__ = ["CATEGORIES", "Concept", "ConceptSource", "EmbeddingSource", "Kind"]


@runtime_checkable
class ConceptSource(Protocol):
    """A family of concepts scored together (one model pass or one set of pixel statistics).

    ``name`` names the source in the score cache and in results; the cache key of its scores is derived
    from what determines them (``tellapart.concepts.versioning.cache_version``: the package version, the
    decode settings, the source's code and the weights it lists in an optional ``weight_files()``). An
    optional ``version`` attribute adds a salt for settings the code does not show (constructor arguments).
    A source may set ``background = True`` (a model whose native code releases the GIL) to be run in a
    worker thread beside the other sources.
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
    the "any difference at all?" classifier and the learned detectors), never as concepts.

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

    def weight_files(self) -> Sequence[Path]:
        """Return the model files whose contents determine the scores (part of the cache key)."""
        ...
