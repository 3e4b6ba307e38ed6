"""Concepts learned by tellapart itself: linear detectors on the backbone's embedding.

Each detector was trained (``tellapart train``, see ``tellapart.train``) on images with and without one
synthetic edit family — overlaid text, a pasted clip-art logo, a triangle, a rotation, a zoom — so it names
a difference no hand-written concept does. A detector is a logistic model on the embedding the semantic
source already computes (``tellapart.concepts.semantics``), so scoring costs one matrix product and nothing
is cached separately: the scores are derived from the cached embeddings.

The shipped detectors live in ``tellapart/data/learned_detectors.npz`` (made by
``tellapart train --out src/tellapart/data``); users train their own on their images
with ``tellapart train --pool DIR``.

Where a detector fires (``LearnedDetectors.localise``): every block of the embedding is a spatial mean of a
feature map, so a linear detector's logit is itself a spatial mean, ``logit = bias + sum_k mean_hw(w_k .
F_k[:, h, w])``. Summing each block's per-location term ``w_k . F_k[:, h, w]`` on one grid (plus the bias)
gives a map whose mean is the logit: an exact class-activation map, no gradients or occlusion (the maps come
from PyTorch, the scored embedding from onnxruntime: the two agree to about 1e-5).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tellapart.concepts.base import Concept
from tellapart.io.npz import read_npz, read_shipped_npz, shipped_file, write_npz

SHIPPED = "learned_detectors.npz"
LOCALISE_BATCH = 8


def detector_id(family: str) -> str:
    """Return the concept id of the learned detector of synth family ``family`` (``"learned.blur"``)."""
    return f"learned.{family}"


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

    def localise(
        self, images, concept_id: str, resolution: str | tuple[int, int] = "image", backbone=None
    ) -> np.ndarray | list[np.ndarray]:
        """Return where detector ``concept_id`` finds its concept: a float32 logit map per image.

        Parameters:
            images: one image (H x W x 3 uint8 RGB array, H x W grayscale, or a ``DecodedImage``) or a
                sequence of them (an (n, H, W, 3) array counts as n images).
            concept_id: the detector, e.g. ``"learned.text"`` (saved findings' ``saved.*`` ids work too).
            resolution: ``"image"`` (default): each map at its image's height and width; ``"grid"``: the
                backbone's finest grid (28 x 28 for its 224 px input; coarser blocks repeated 2x or 4x), where
                the map's mean is the image's logit (to float rounding); or a (height, width) to resize
                every map to.
            backbone: the ``semantics.Backbone`` to run (default: a new one, loaded for this call).

        Returns:
            One float32 map for one image, else a list of them. Each value is the logit the detector would
            give an image that looked everywhere like this place (its features there, plus the bias), so
            **positive = evidence for the concept at that place, negative = evidence against**, and the
            map's mean is the image's logit (``score = sigmoid(logit)``): on the grid to float rounding, up to
            interpolation at other sizes. The maps of one detector share a scale (logit units) and can be
            compared across images. To resize a grid map yourself, use bilinear interpolation over the
            whole frame (the model sees the whole image squashed to a square, no crop), e.g.
            ``cv2.resize(m, (width, height), interpolation=cv2.INTER_LINEAR)``.

        Runs the bundled backbone once per image (about 20 ms on a CPU); raises ValueError for an unknown
        ``concept_id`` or detectors trained on another embedding.
        """
        from tellapart.concepts import semantics

        ids = [c.id for c in self.concepts]
        if concept_id not in ids:
            raise ValueError(f"no detector {concept_id!r}; these detectors are: {', '.join(ids)}")
        if self.weights.shape[1] != semantics.EMBEDDING_DIM:
            raise ValueError(f"these detectors read {self.weights.shape[1]} features, but the bundled "
                             f"backbone's embedding has {semantics.EMBEDDING_DIM}: retrain them")
        k = ids.index(concept_id)
        widths = [width for _, _, width in semantics.EMBEDDING_BLOCKS]
        block_weights = np.split(self.weights[k].astype(np.float32), np.cumsum(widths)[:-1])
        backbone = backbone or semantics.Backbone()
        single = _is_one_image(images)
        batch = [images] if single else list(images)
        maps: list[np.ndarray] = []
        for start in range(0, len(batch), LOCALISE_BATCH):
            chunk = batch[start : start + LOCALISE_BATCH]
            features = backbone.feature_maps(chunk, batch_size=LOCALISE_BATCH)
            terms = [np.einsum("c,nchw->nhw", w, f) for w, f in zip(block_weights, features, strict=True)]
            for i, image in enumerate(chunk):
                size = _image_size(image) if resolution == "image" else resolution
                maps.append(_sum_on_grid([t[i] for t in terms], float(self.bias[k]), size))
        return maps[0] if single else maps

    def without(self, families: Sequence[str]) -> LearnedDetectors:
        """Return these detectors minus those of synth ``families`` (to measure what is out of library)."""
        dropped = {detector_id(f) for f in families}
        keep = [i for i, c in enumerate(self.concepts) if c.id not in dropped]
        return LearnedDetectors(tuple(self.concepts[i] for i in keep), self.weights[keep], self.bias[keep],
                                self.embedding_version, self.info)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the detectors to ``path`` (.npz, atomically); return the path."""
        meta = {
            "concepts": [_concept_to_dict(c) for c in self.concepts],
            "embedding_version": self.embedding_version,
            "info": self.info,
        }
        return write_npz(path, meta, weights=self.weights.astype(np.float32),
                         bias=self.bias.astype(np.float32))

    @classmethod
    def load(cls, path: str | os.PathLike | None = None, category: str = "learned") -> LearnedDetectors:
        """Load detectors from ``path``, or the shipped ones when None.

        ``category`` is the concepts' category where the file does not record one (files written before
        concepts declared it): "learned" for detectors, "saved" for a findings store.
        """
        arrays, meta = read_npz(path) if path is not None else read_shipped_npz(SHIPPED)
        missing = [name for name in ("weights", "bias") if name not in arrays]
        missing += [name for name in ("concepts", "embedding_version") if name not in meta]
        if missing:
            raise ValueError(f"{path or SHIPPED} holds no detectors (no {', '.join(missing)}): not a file of "
                             "learned detectors or saved findings")
        weights, bias = arrays["weights"], arrays["bias"]
        concepts = tuple(Concept(**{"category": category, **_tuples(c)}) for c in meta["concepts"])
        if weights.shape[0] != len(concepts) or bias.shape != (len(concepts),):
            raise ValueError(f"{path or SHIPPED}: {weights.shape[0]} detectors but {len(concepts)} concepts")
        return cls(concepts, weights, bias, meta["embedding_version"], meta.get("info", {}))


def _is_one_image(images) -> bool:
    from tellapart.io.image import DecodedImage

    if isinstance(images, DecodedImage):
        return True
    return isinstance(images, np.ndarray) and images.ndim in (2, 3)


def _image_size(image) -> tuple[int, int]:
    pixels = getattr(image, "pixels", image)
    return tuple(int(v) for v in np.shape(pixels)[:2])


def _sum_on_grid(terms: list[np.ndarray], bias: float, size: str | tuple[int, int]) -> np.ndarray:
    """Sum per-block maps of different grids (plus ``bias``) on one grid: ``size`` = (height, width), or
    "grid" for the finest block grid, where coarser blocks are repeated by their integer factor so the
    sum's mean equals the sum of the blocks' means exactly."""
    import cv2

    if size == "grid":
        height, width = max(t.shape[0] for t in terms), max(t.shape[1] for t in terms)
    elif isinstance(size, str):
        raise ValueError(f"resolution must be 'image', 'grid' or (height, width), got {size!r}")
    else:
        height, width = (int(v) for v in size)
        if height < 1 or width < 1:
            raise ValueError(f"resolution must be at least 1 x 1, got {size!r}")
    total = np.full((height, width), bias, dtype=np.float64)
    for term in terms:
        h, w = term.shape
        if size == "grid" and height % h == 0 and width % w == 0:
            total += np.repeat(np.repeat(term, height // h, axis=0), width // w, axis=1)
        else:
            total += cv2.resize(term.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    return total.astype(np.float32)


def shipped_available() -> bool:
    """True when the package ships trained detectors."""
    return shipped_file(SHIPPED).is_file()


def _concept_to_dict(concept: Concept) -> dict:
    return {
        "id": concept.id, "phrase": concept.phrase, "kind": concept.kind, "parents": list(concept.parents),
        "more": concept.more, "less": concept.less, "threshold": concept.threshold, "unit": concept.unit,
        "synonyms": list(concept.synonyms), "category": concept.category,
    }


def _tuples(d: dict) -> dict:
    return {**d, "parents": tuple(d.get("parents", ())), "synonyms": tuple(d.get("synonyms", ()))}
