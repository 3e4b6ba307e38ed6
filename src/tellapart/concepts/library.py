"""The concept library: every concept source, and the score matrix they produce together.

Images are streamed in batches: each batch is read and hashed, looked up in the score cache, decoded
only if some source still needs it, scored, written back to the cache, and dropped. Memory therefore
does not grow with the number of images, and a second run on the same files decodes nothing.

A source may also be an embedding source (it has ``embedding_name``, ``embedding_version``,
``embedding_dim`` and ``take_embeddings``, like the semantic source): the feature vectors its ``score`` call
computed on the way are cached under their own source name and returned beside the score matrix, never as
concepts. Such a source counts as done for an image only when both its scores and its embedding are cached.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tellapart.concepts.base import Concept, ConceptSource
from tellapart.concepts.cache import ScoreCache
from tellapart.concepts.learned import LearnedDetectors, shipped_available
from tellapart.io import ImageRef, ImageSet, LoadedImage, UnreadableImage
from tellapart.io.image import DecodedImage, Skipped

BACKEND = "offline-default"
BATCH_SIZE = 32


def default_sources() -> list[ConceptSource]:
    """Return the sources of the default offline backend, cheapest first."""
    from tellapart.concepts.detectors import DetectorSource
    from tellapart.concepts.image_stats import ImageStatsSource
    from tellapart.concepts.semantics import SemanticSource
    from tellapart.concepts.shapes import ShapeSource

    return [ImageStatsSource(), ShapeSource(), DetectorSource(), SemanticSource()]


@dataclass
class ScoreTable:
    """The score matrix of two image sets.

    Attributes:
        scores: images x concept ids (float32), one row per readable image.
        images: one row per readable image: ``set`` ("a"/"b"), ``source`` and ``key`` (content hash).
        skipped: one row per file that could not be used: ``set``, ``source``, ``reason``.
        embeddings: float32 images x features (rows aligned with ``scores``), the backbone's pooled
            features of each image; None when the library has no embedding source. A row is NaN when the
            source gave no embedding for that image.
    """

    scores: pd.DataFrame
    images: pd.DataFrame
    skipped: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["set", "source", "reason"]))
    embeddings: np.ndarray | None = None

    @property
    def groups(self) -> np.ndarray:
        """The set label ("a" or "b") of each row."""
        return self.images["set"].to_numpy()


class ConceptLibrary:
    """All concept sources of a backend, scored into one matrix.

    Parameters:
        sources: the concept sources; defaults to the offline backend (image statistics, inserted shapes,
            OpenCV detectors, ImageNet semantics rolled up WordNet).
        backend: a name recorded in results.
        learned: detectors learned from synthetic edits, read from the embedding: "shipped" (the
            package's), a file from ``tellapart train``, or None.
        findings: saved findings (``tellapart verify --save``): a store file, or None.
    """

    def __init__(
        self,
        sources: Sequence[ConceptSource] | None = None,
        backend: str = BACKEND,
        learned: LearnedDetectors | str | os.PathLike | None = "shipped",
        findings: LearnedDetectors | str | os.PathLike | None = None,
    ) -> None:
        self.sources = list(default_sources() if sources is None else sources)
        self.backend = backend
        self._columns = {s.name: [c.id for c in s.concepts()] for s in self.sources}
        self.concepts: dict[str, Concept] = {c.id: c for s in self.sources for c in s.concepts()}
        self._pool: ThreadPoolExecutor | None = None
        # The first source that yields embeddings as a by-product of scoring (the semantic source).
        self._embedder: ConceptSource | None = next(
            (s for s in self.sources if getattr(s, "embedding_name", None)), None
        )
        dim = int(getattr(self._embedder, "embedding_dim", 0))
        self._embedding_columns = [f"dim{i}" for i in range(dim)]
        self.learned = _combine(self._load_learned(learned), self._load_learned(findings))
        if self.learned is not None:
            self.concepts.update({c.id: c for c in self.learned.concepts})

    def _load_learned(self, learned: LearnedDetectors | str | os.PathLike | None) -> LearnedDetectors | None:
        """The learned detectors to derive from the embeddings ("shipped": the package's, if it has them)."""
        if learned is None or self._embedder is None:
            return None
        if isinstance(learned, str) and learned == "shipped":
            if not shipped_available():
                return None
            learned = LearnedDetectors.load()
        elif not isinstance(learned, LearnedDetectors):
            learned = LearnedDetectors.load(learned)
        wanted = self.embedding_version
        if learned.embedding_version != wanted or learned.weights.shape[1] != len(self._embedding_columns):
            raise ValueError(
                f"the learned detectors were trained on embedding version {learned.embedding_version} "
                f"({learned.weights.shape[1]} features), but this library computes version {wanted} "
                f"({len(self._embedding_columns)} features): retrain them with `tellapart train`"
            )
        return learned

    def thresholds(self) -> dict[str, float]:
        """Presence concept id -> the score at or above which an image counts as showing it."""
        return {cid: c.threshold for cid, c in self.concepts.items() if c.kind == "presence"}

    def priority(self) -> dict[str, int]:
        """Concept id -> which of two about equally strong findings a person wants named first (lower first).

        Detected objects and inserted marks, then named semantic categories, then pixel statistics and
        learned detectors (trained on synthetic edits of photos, they also answer to a domain's style, e.g.
        "logo" for clip-art), then single ImageNet classes (1000 narrow labels, the noisiest evidence).
        """
        has_children = {parent for c in self.concepts.values() for parent in c.parents}

        def rank(concept: Concept) -> int:
            if concept.source in ("stats", "learned"):
                return 2
            if concept.source == "semantic":
                return 1 if concept.id in has_children else 3
            return 0

        return {cid: rank(c) for cid, c in self.concepts.items()}

    @property
    def embedding_version(self) -> str | None:
        """The cache version of the embeddings this library computes, or None without embeddings."""
        return getattr(self._embedder, "embedding_version", None)

    @property
    def embedding_blocks(self) -> tuple[int, ...] | None:
        """Return the widths of the embedding's blocks (one per network stage), or None without embeddings."""
        if self._embedder is None:
            return None
        return tuple(getattr(self._embedder, "embedding_blocks", (len(self._embedding_columns),)))

    @property
    def version(self) -> str:
        """A string naming the backend and every source version (changes whenever scores would)."""
        parts = [self.backend] + [f"{s.name}={s.version}" for s in self.sources]
        if self.learned is not None:
            parts.append(f"learned={self.learned.version}")
        return ";".join(parts)

    def score_sets(
        self,
        sets: dict[str, ImageSet],
        cache: ScoreCache | None = None,
        progress: Callable[[int], None] | None = None,
        batch_size: int = BATCH_SIZE,
    ) -> ScoreTable:
        """Score every image of every set; return the score matrix with skipped files listed.

        ``sets`` maps a set label ("a", "b") to its images. ``progress`` is called with the number of
        files finished after each batch.
        """
        blocks: list[np.ndarray] = []
        embedded: list[np.ndarray] = []
        rows: list[tuple[str, str, str]] = []
        skipped: list[tuple[str, str, str]] = []
        for label, image_set in sets.items():
            skipped += [(label, s.source, s.reason) for s in image_set.skipped]
            for batch in _batches(image_set.refs, batch_size):
                scored, failed = self._score_batch(batch, cache)
                skipped += [(label, s.source, s.reason) for s in failed]
                for loaded, vector, embedding in scored:
                    rows.append((label, loaded.ref.source, loaded.key))
                    blocks.append(vector)
                    embedded.append(embedding)
                if progress is not None:
                    progress(len(batch))
        columns = [cid for s in self.sources for cid in self._columns[s.name]]
        matrix = np.vstack(blocks) if blocks else np.empty((0, len(columns)), dtype=np.float32)
        embeddings = None
        if self._embedder is not None:
            width = len(self._embedding_columns)
            embeddings = np.vstack(embedded) if embedded else np.empty((0, width), dtype=np.float32)
        if self.learned is not None:
            # Derived from the (cached) embeddings: a matrix product, so not cached themselves.
            matrix = np.hstack([matrix, self.learned.score_embeddings(embeddings)])
            columns += [c.id for c in self.learned.concepts]
        return ScoreTable(
            scores=pd.DataFrame(matrix, columns=columns),
            images=pd.DataFrame(rows, columns=["set", "source", "key"]),
            skipped=pd.DataFrame(skipped, columns=["set", "source", "reason"]),
            embeddings=embeddings,
        )

    def score_images(self, images: Sequence[DecodedImage]) -> pd.DataFrame:
        """Score already decoded images with every source, without the cache (images x concept ids)."""
        parts = [
            pd.DataFrame(np.asarray(s.score(images), dtype=np.float32), columns=self._columns[s.name])
            for s in self.sources
        ]
        return pd.concat(parts, axis=1)

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tellapart-model")
        return self._pool

    def _score_batch(
        self, refs: Sequence[ImageRef], cache: ScoreCache | None
    ) -> tuple[list[tuple[LoadedImage, np.ndarray, np.ndarray | None]], list[Skipped]]:
        """Return (loaded image, full score vector, embedding or None) for the readable refs, and the
        unreadable ones."""
        loaded: list[LoadedImage] = []
        failed: list[Skipped] = []
        for ref in refs:
            try:
                loaded.append(ref.load())
            except UnreadableImage as error:
                failed.append(Skipped(ref.source, error.reason))
        keys = [item.key for item in loaded]
        per_source: dict[str, dict[str, np.ndarray]] = {}
        for source in self.sources:
            columns = self._columns[source.name]
            per_source[source.name] = cache.get(keys, source.name, source.version, columns) if cache else {}
        embeddings = self._cached_embeddings(keys, cache)
        if self._embedder is not None:
            # Without its embedding an image goes through the model again: that one pass yields both.
            found = per_source[self._embedder.name]
            per_source[self._embedder.name] = {k: v for k, v in found.items() if k in embeddings}

        missing = {k for k in keys if any(k not in found for found in per_source.values())}
        decoded: dict[str, DecodedImage] = {}
        for item in loaded:
            if item.key in missing and item.key not in decoded:
                try:
                    decoded[item.key] = item.decode()
                except UnreadableImage as error:
                    failed.append(Skipped(item.ref.source, error.reason))

        work = {}
        for source in self.sources:
            done = per_source[source.name]
            todo = [decoded[k] for k in dict.fromkeys(keys) if k not in done and k in decoded]
            if todo:
                work[source.name] = (source, todo)
        # The model-backed sources run in a worker thread while the pixel sources run here: both release
        # the GIL in their native code, so the two cores stay busy.
        pending = {name: self._executor().submit(source.score, todo)
                   for name, (source, todo) in work.items() if getattr(source, "background", False)}
        for name, (source, todo) in work.items():
            values = pending[name].result() if name in pending else source.score(todo)
            fresh = {image.key: row for image, row in zip(todo, np.asarray(values, np.float32), strict=True)}
            if source is self._embedder:
                # Stored before the scores, so cached scores always come with their embedding and a run
                # killed in between resumes with exactly the images whose scores are missing.
                self._store_embeddings(fresh.keys(), embeddings, cache)
            per_source[name].update(fresh)
            if cache is not None:
                cache.put(fresh.items(), name, source.version, self._columns[name])

        scored = []
        for item in loaded:
            if all(item.key in per_source[s.name] for s in self.sources):
                vector = np.concatenate([per_source[s.name][item.key] for s in self.sources])
                scored.append((item, vector, self._embedding_of(item.key, embeddings)))
        return scored, failed

    def _cached_embeddings(self, keys: Sequence[str], cache: ScoreCache | None) -> dict[str, np.ndarray]:
        if self._embedder is None or cache is None:
            return {}
        source = self._embedder
        return cache.get(keys, source.embedding_name, source.embedding_version, self._embedding_columns)

    def _store_embeddings(
        self, keys: Iterable[str], embeddings: dict[str, np.ndarray], cache: ScoreCache | None
    ) -> None:
        """Collect the embedder's embeddings of its last ``score`` call into ``embeddings`` and the cache."""
        source = self._embedder
        fresh = {k: np.asarray(v, dtype=np.float32) for k, v in source.take_embeddings(list(keys)).items()}
        embeddings.update(fresh)
        if cache is not None and fresh:
            cache.put(fresh.items(), source.embedding_name, source.embedding_version, self._embedding_columns)

    def _embedding_of(self, key: str, embeddings: dict[str, np.ndarray]) -> np.ndarray | None:
        if self._embedder is None:
            return None
        found = embeddings.get(key)
        return found if found is not None else np.full(len(self._embedding_columns), np.nan, np.float32)


def _combine(*parts: LearnedDetectors | None) -> LearnedDetectors | None:
    """One set of embedding detectors from several (learned ones, saved findings); None if there are none."""
    present = [p for p in parts if p is not None]
    if len(present) <= 1:
        return present[0] if present else None
    return LearnedDetectors(
        tuple(c for p in present for c in p.concepts),
        np.vstack([p.weights for p in present]),
        np.concatenate([p.bias for p in present]),
        present[0].embedding_version,
        {"parts": [p.info for p in present]},
    )


def _batches(items: Sequence[ImageRef], size: int) -> Iterator[Sequence[ImageRef]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
