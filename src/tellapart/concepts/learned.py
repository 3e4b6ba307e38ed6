"""Concepts learned by tellapart itself: linear detectors on the backbone's embedding.

Each detector was trained (``tellapart train``, see ``tellapart.train``) on images with and without one
synthetic edit family — overlaid text, a pasted clip-art logo, a triangle, a rotation, a zoom — so it names
a difference no hand-written concept does. A detector is a logistic model on the embedding the semantic
source already computes (``tellapart.concepts.semantics``), so scoring costs one matrix product and nothing
is cached separately: the scores are derived from the cached embeddings.

The shipped detectors live in ``tellapart/data/learned_detectors.npz`` (made by
``tellapart train --out src/tellapart/data/learned_detectors.npz``); users train their own on their images
with ``tellapart train --pool DIR``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from tellapart.concepts.base import Concept

SHIPPED = "learned_detectors.npz"


@dataclass(frozen=True)
class LearnedDetectors:
    """Linear detectors on the embedding: P(concept) = sigmoid(embedding @ weights[k] + bias[k]).

    Attributes:
        concepts: one presence concept per detector (ids ``learned.<family>``).
        weights: float32 (n_detectors, embedding_dim).
        bias: float32 (n_detectors,).
        embedding_version: the embedding the detectors were trained on (must match the library's).
        info: how they were trained (families, pool, seed, held-out AUROC per detector).
    """

    concepts: tuple[Concept, ...]
    weights: np.ndarray
    bias: np.ndarray
    embedding_version: str
    info: dict

    @property
    def version(self) -> str:
        """A short digest of the weights, recorded in results (changes whenever the scores would)."""
        import hashlib

        return hashlib.sha256(self.weights.tobytes() + self.bias.tobytes()).hexdigest()[:12]

    def score_embeddings(self, embeddings: np.ndarray) -> np.ndarray:
        """Return float32 (n_images, n_detectors) probabilities; rows with a NaN embedding give NaN."""
        logits = np.asarray(embeddings, dtype=np.float64) @ self.weights.T.astype(np.float64) + self.bias
        return (1.0 / (1.0 + np.exp(-np.clip(logits, -60, 60)))).astype(np.float32)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the detectors to ``path`` (.npz, atomically); return the path."""
        import io

        from tellapart.io.atomic import write_atomic

        meta = {
            "concepts": [_concept_to_dict(c) for c in self.concepts],
            "embedding_version": self.embedding_version,
            "info": self.info,
        }
        buffer = io.BytesIO()
        packed_meta = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)
        np.savez_compressed(buffer, weights=self.weights.astype(np.float32),
                            bias=self.bias.astype(np.float32), meta=packed_meta)
        return write_atomic(path, buffer.getvalue())

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> LearnedDetectors:
        """Load detectors from ``path``, or the shipped ones when None."""
        if path is None:
            with resources.as_file(resources.files("tellapart").joinpath("data", SHIPPED)) as shipped:
                return cls.load(shipped)
        with np.load(path) as data:
            meta = json.loads(bytes(data["meta"]).decode())
            weights, bias = data["weights"].astype(np.float32), data["bias"].astype(np.float32)
        concepts = tuple(Concept(**_tuples(c)) for c in meta["concepts"])
        if weights.shape[0] != len(concepts) or bias.shape != (len(concepts),):
            raise ValueError(f"{path}: {weights.shape[0]} detectors but {len(concepts)} concepts")
        return cls(concepts, weights, bias, meta["embedding_version"], meta.get("info", {}))


def shipped_available() -> bool:
    """True when the package ships trained detectors."""
    return resources.files("tellapart").joinpath("data", SHIPPED).is_file()


def _concept_to_dict(concept: Concept) -> dict:
    return {
        "id": concept.id, "phrase": concept.phrase, "kind": concept.kind, "parents": list(concept.parents),
        "more": concept.more, "less": concept.less, "threshold": concept.threshold, "unit": concept.unit,
        "synonyms": list(concept.synonyms),
    }


def _tuples(d: dict) -> dict:
    return {**d, "parents": tuple(d.get("parents", ())), "synonyms": tuple(d.get("synonyms", ()))}
