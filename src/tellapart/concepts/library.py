"""The concept library: every concept source, and the score matrix they produce together.

Images are streamed in batches: each batch is read and hashed, looked up in the score cache, decoded
only if some source still needs it, scored, written back to the cache, and dropped. Memory therefore
does not grow with the number of images, and a second run on the same files decodes nothing.

A source's cache key is derived from what determines its scores (``concepts.versioning.cache_version``).
An embedding source (``concepts.base.EmbeddingSource``, like the semantic source) returns its scores and
its embeddings from one call; the embeddings are cached under the source's key plus ``EMBEDDING_SUFFIX``
and returned beside the score matrix, never as concepts. Such a source counts as done for an image only
when both its scores and its embedding are cached. An image decoded in a degraded form
(``DecodedImage.notes``, e.g. an unreadable EXIF orientation) is listed in ``ScoreMatrix.degraded`` and never
cached, so a warm run lists it too.

A source that reads text (``concepts.ocr.OcrSource``: a ``read_text`` method returning its scores and each
image's words) has its words cached the same way, under its key plus ``concepts.ocr.WORDS_SUFFIX``, and
counts as done only when both are cached. After the metadata concepts, `ConceptLibrary.score_sets` appends
the run's "show the word X" concepts (``concepts.ocr.word_concepts``, chosen from the words' pooled counts,
never the set labels; a sample's words are those read in any of its frames) and registers them in
``ConceptLibrary.concepts`` until the next run.

The people, pose, face, cascade and object sources are behind the photo gate (``concepts.gate``): they run
only on the samples whose backbone embedding the domain model could call a photo, and the others get each
source's "nothing found" row; the gate's version is part of those sources' cache keys. The model-backed
sources (``background``) run in `MODEL_WORKERS` threads beside the pixel sources, the backbone first.

A sample may be several frames: a DICOM multi-frame file, a DICOM series stored one file per slice or a
NIfTI volume is decoded into a few slices (``LoadedImage.decode_parts``, ``io.volume``), a subject into
its images' frames. Every frame is scored and the sample's row (scores and embedding) is made by
`_aggregate`: the mean over each image's frames, then over the sample's images, so N volumes give N rows.
The cache holds that one row per sample, under the sample's key (which covers the slice rule,
``io.frames.sample_key``) joined with the aggregation rule (`_cache_key`): a warm run reads one row per
volume and decodes nothing, and there is no per-frame entry to keep consistent.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pandas as pd

from tellapart.concepts.base import Concept, ConceptSource, EmbeddingSource
from tellapart.concepts.cache import ScoreCache
from tellapart.concepts.gate import PhotoGate, absent_row, photo_gate
from tellapart.concepts.learned import LearnedDetectors, shipped_available
from tellapart.concepts.metadata import metadata_concepts, metadata_table
from tellapart.concepts.ocr import (
    MAX_WORDS,
    WORD_COLUMNS,
    WORDS_SUFFIX,
    decode_words,
    encode_words,
    union_words,
    word_concepts,
)
from tellapart.concepts.versioning import cache_version, function_fingerprint
from tellapart.io import ImageRef, ImageSet, LoadedImage, UnreadableImage
from tellapart.io.image import DecodedImage, Skipped
from tellapart.io.imageset import repeat_reason
from tellapart.schema import DEGRADED_COLUMNS, SKIPPED_COLUMNS, ScoreMatrix, concept_table

BACKEND = "offline-default"
BATCH_SIZE = 32
# Worker threads for the model-backed sources (``background``), beside the calling thread's pixel sources.
# One left a core idle: the models cost about 114 of 165 CPU ms per photo (benchmarks/source_cost.py,
# 2026-12-01), so a cold run went at the speed of that one thread. Measured in benchmarks/bench_speed.py
# (README, "Speed").
MODEL_WORKERS = 2
# PyTorch's intra-op threads while a library scores (image-text models, `--model`): a model runs beside the
# other sources, which keep the cores busy, and PyTorch's default (one per core) spent CPU waiting on its
# second thread: the backbone, when it ran on PyTorch, cost 25 CPU ms per image on one thread against 39-146
# on two, load average 4 (benchmarks/source_cost.py --torch-threads). The backbone now runs on onnxruntime
# with its own thread count (``semantics.Backbone(threads=1)``).
TORCH_THREADS = 1
EMBEDDING_SUFFIX = ".embedding"
# Columns kept free in the score matrix for the concepts known only once every row is in: the word
# concepts (at most `MAX_WORDS`) and as many metadata concepts (one numeric column, or a categorical one's
# most frequent values), 16 MB at 100,000 rows. More than that (several categorical manifest columns) and
# `_frame` copies the matrix once into one of the exact width: a frame of several blocks would copy it at
# every `to_numpy()` instead (651 MB at 100,000 rows, in max-T).
SPARE_COLUMNS = 2 * MAX_WORDS
# Rows of the learned detectors' columns computed at a time (their product runs in float64): 100,000 x 2,024
# embeddings took 0.70 s and 1.64 GB (a float64 copy) at once, 0.66 s and 78 MB in slices of 4,096, 0.41 s
# and 28 MB in slices of 1,024 (medians of 3, 28 detectors, 2026-12-02).
DERIVED_ROWS = 1024


def default_sources() -> list[ConceptSource]:
    """Return the sources of the default offline backend, cheapest first."""
    from tellapart.concepts.detectors import DetectorSource
    from tellapart.concepts.faces import FaceSource
    from tellapart.concepts.image_stats import ImageStatsSource
    from tellapart.concepts.objects import ObjectSource
    from tellapart.concepts.ocr import OcrSource
    from tellapart.concepts.poses import PoseSource
    from tellapart.concepts.regions import RegionSource
    from tellapart.concepts.semantics import SemanticSource
    from tellapart.concepts.shapes import ShapeSource

    # Text is read at ``ocr.DETECTION_SIDE``: about 21 ms per image without text, 37 with (the semantic
    # source's backbone: 35-60 CPU ms on PyTorch, about 13 on onnxruntime since 2026-12-02).
    # People, poses, faces and COCO objects (``concepts.onnx_models``): about 50, 6 and 7 ms per image
    # (+25 per face), as much as the rest together on 96-256 px photos (65 ms; 2 shared cores, 2026-12-01).
    return [ImageStatsSource(), RegionSource(), ShapeSource(), DetectorSource(), OcrSource(),
            SemanticSource(), PoseSource(), FaceSource(), ObjectSource()]


@dataclass
class _Batch:
    """What one batch of files produced: scored rows, files that failed, images used in a degraded form."""

    rows: list[tuple[LoadedImage, np.ndarray, np.ndarray | None]] = field(default_factory=list)
    failed: list[Skipped] = field(default_factory=list)
    degraded: list[tuple[str, str]] = field(default_factory=list)
    # key -> the words read, when a source reads them (`_reads_words`); None where reading failed
    words: dict[str, tuple[str, ...] | None] = field(default_factory=dict)


class ConceptLibrary:
    """All concept sources of a backend, scored into one matrix.

    Parameters:
        sources: the concept sources; defaults to the offline backend (image statistics, inserted shapes,
            OpenCV detectors, text read in the image, ImageNet semantics rolled up WordNet).
        backend: a name recorded in results.
        learned: detectors learned from synthetic edits, read from the embedding: "shipped" (the
            package's), a file from ``tellapart train``, a ``LearnedDetectors``, or None.
        findings: saved findings (``tellapart verify --save``): a store file, a ``LearnedDetectors``, or None.
        gate: run the people, pose, face, cascade and object models only on images the domain model could
            call a photo (``concepts.gate``); the others get each source's "nothing found" scores. Needs the
            backbone and the package's domain model for its embedding version; off without them.
    """

    def __init__(
        self,
        sources: Sequence[ConceptSource] | None = None,
        backend: str = BACKEND,
        learned: LearnedDetectors | str | os.PathLike | None = "shipped",
        findings: LearnedDetectors | str | os.PathLike | None = None,
        gate: bool = True,
    ) -> None:
        self.sources = list(default_sources() if sources is None else sources)
        self.backend = backend
        self._columns = {s.name: [c.id for c in s.concepts()] for s in self.sources}
        self._keys = {s.name: cache_version(s) for s in self.sources}
        self.concepts: dict[str, Concept] = {c.id: c for s in self.sources for c in s.concepts()}
        # Every source that yields embeddings with its scores. The backbone (``embedder``) is the first that
        # is not ``classifier_only`` (the semantic source): learned detectors, saved findings and the domain
        # model read its embedding. ``ScoreMatrix.embeddings`` holds the backbone's columns first, then each
        # other embedding source's (an image-text model's); the "any difference?" classifier reads them all.
        found = [s for s in self.sources if isinstance(s, EmbeddingSource)]
        self.embedder: EmbeddingSource | None = next(
            (s for s in found if not getattr(s, "classifier_only", False)), None
        )
        self.embedders: list[EmbeddingSource] = [s for s in found if s is self.embedder] + [
            s for s in found if s is not self.embedder]
        self.learned = _combine(self._load_learned(learned, "learned"), self._load_learned(findings, "saved"))
        self.photo_gate: PhotoGate | None = photo_gate(self.embedding_version) if gate else None
        self._absent = self._gate_sources()
        self._text_encoder = None
        if self.learned is not None:
            self.concepts.update({c.id: c for c in self.learned.concepts})

    def rebuilt(self, *, sources: Sequence[ConceptSource] | None = None, gate: bool | None = None
                ) -> ConceptLibrary:
        """Return a new library like this one (backend, learned detectors and saved findings, sources,
        photo gate on or off), with ``sources`` and ``gate`` in place of its own where given."""
        gate = self.photo_gate is not None if gate is None else gate
        return ConceptLibrary(self.sources if sources is None else sources, backend=self.backend,
                              learned=self.learned, gate=gate)

    def _gate_sources(self) -> dict[str, np.ndarray]:
        """Return gated source name -> its absent row (``concepts.gate.absent_row``), and salt each gated
        source's cache key with the gate's version and the backbone's key (its decisions' inputs)."""
        if self.photo_gate is None or self.embedder is None:
            return {}
        absent = {}
        # The absent-row rule and this library's substitution code are inputs too: their functions, not the
        # gate module's whole import graph (which reaches the statistics through its deferred imports, so
        # an edit anywhere in `stats` emptied every people model's cache).
        inputs = (f"{self.photo_gate.version};{self._keys[self.embedder.name]};"
                  f"{function_fingerprint(absent_row, ConceptLibrary._gated_scorer)}")
        for source in self.sources:
            if isinstance(source, EmbeddingSource) or _reads_words(source):
                continue
            row = absent_row(source)
            if row is not None:
                absent[source.name] = row
                salt = hashlib.sha256(inputs.encode() + np.asarray(row, dtype=np.float64).tobytes())
                self._keys[source.name] = f"{self._keys[source.name]}+gate-{salt.hexdigest()[:12]}"
        return absent

    def _load_learned(
        self, learned: LearnedDetectors | str | os.PathLike | None, category: str
    ) -> LearnedDetectors | None:
        """The embedding detectors to apply to the embeddings ("shipped": the package's, if it has any)."""
        if learned is None or self.embedder is None:
            return None
        if isinstance(learned, str) and learned == "shipped":
            if not shipped_available():
                return None
            learned = LearnedDetectors.load()
        elif not isinstance(learned, LearnedDetectors):
            learned = LearnedDetectors.load(learned, category=category)
        wanted = self.embedding_version
        width = self.embedder.embedding_dim  # the backbone's
        if learned.embedding_version != wanted or learned.weights.shape[1] != width:
            raise ValueError(
                f"the learned detectors were trained on embedding version {learned.embedding_version} "
                f"({learned.weights.shape[1]} features), but this library computes version {wanted} "
                f"({width} features): retrain them with `tellapart train`"
            )
        return learned

    def outliners(self) -> dict[str, ConceptSource]:
        """Concept id -> the source that can outline it (``outlines(image, concept_ids)``): its own concepts,
        and for a text reader also the word concepts of the last `score_sets`."""
        found: dict[str, ConceptSource] = {}
        for source in self.sources:
            if callable(getattr(source, "outlines", None)):
                found.update({cid: source for cid in self._columns[source.name]})
                if _reads_words(source):
                    found.update({cid: source for cid in self._word_ids})
        return found

    def thresholds(self) -> dict[str, float]:
        """Presence concept id -> the score at or above which an image counts as showing it."""
        return {cid: c.threshold for cid, c in self.concepts.items() if c.kind == "presence"}

    def priority(self) -> dict[str, int]:
        """Concept id -> which of two about equally strong findings a person wants named first (lower
        first), from each concept's declared category (``concepts.base.CATEGORIES``)."""
        return {cid: c.priority for cid, c in self.concepts.items()}

    def concept_table(self) -> pd.DataFrame:
        """One row per concept (``tellapart.schema.concept_table``): kind, category, threshold, priority,
        and the name and cache version of the source that made it."""
        origin = {cid: (s.name, self._keys[s.name]) for s in self.sources for cid in self._columns[s.name]}
        if self.learned is not None:
            origin.update({c.id: ("learned", self.learned.version) for c in self.learned.concepts})
        return concept_table(self.concepts, origin)

    @property
    def text_encoder(self):
        """The sentence model that matches a person's text to these concepts (``text_match.TextEncoder``),
        made on first use and kept, so its model loads and the concepts' texts are embedded once."""
        if self._text_encoder is None:
            from tellapart.concepts.text_match import TextEncoder

            self._text_encoder = TextEncoder()
        return self._text_encoder

    @property
    def embedding_version(self) -> str | None:
        """The compatibility version of the embeddings this library computes, or None without embeddings."""
        return self.embedder.embedding_version if self.embedder is not None else None

    @property
    def embedding_blocks(self) -> tuple[int, ...] | None:
        """Return the widths of the backbone embedding's blocks (one per network stage), or None without a
        backbone."""
        return tuple(self.embedder.embedding_blocks) if self.embedder is not None else None

    @property
    def classifier_blocks(self) -> tuple[int, ...] | None:
        """Return the block widths of ``ScoreMatrix.embeddings`` as a whole (the backbone's blocks, then each
        other embedding source's): what the "any difference at all?" classifier reads; None without any."""
        if not self.embedders:
            return None
        return tuple(width for s in self.embedders for width in s.embedding_blocks)

    def embedding_slices(self) -> dict[str, slice]:
        """Return embedding source name -> its columns in ``ScoreMatrix.embeddings`` (backbone first)."""
        slices, start = {}, 0
        for source in self.embedders:
            slices[source.name] = slice(start, start + source.embedding_dim)
            start += source.embedding_dim
        return slices

    def backbone_embeddings(self, embeddings: np.ndarray | None) -> np.ndarray | None:
        """Return the backbone's columns of ``ScoreMatrix.embeddings`` (what learned detectors, saved
        findings and the domain model read), or None without a backbone."""
        if embeddings is None or self.embedder is None:
            return None
        return embeddings[:, self.embedding_slices()[self.embedder.name]]

    @property
    def version(self) -> str:
        """A string naming the backend and every source's cache version (changes whenever scores would)."""
        parts = [self.backend] + [f"{s.name}={self._keys[s.name]}" for s in self.sources]
        if self.learned is not None:
            parts.append(f"learned={self.learned.version}")
        return ";".join(parts)

    # The word concepts (``concepts.ocr.word_concepts``) of the last `score_sets`, in ``self.concepts``.
    _word_ids: tuple[str, ...] = ()

    def score_sets(
        self,
        sets: dict[str, ImageSet],
        cache: ScoreCache | None = None,
        progress: Callable[[int], None] | None = None,
        batch_size: int = BATCH_SIZE,
        once_per_set: bool = False,
    ) -> ScoreMatrix:
        """Score every image of every set; return the score matrix with skipped and degraded files listed,
        the samples' recorded metadata, and its concepts (``concepts.metadata``) after the sources' columns.

        ``sets`` maps a set label ("a", "b") to its images. ``progress`` is called with the number of
        files finished after each batch. With ``once_per_set``, a file whose content (its ``key``) already
        gave a row of its set gets none: it is listed in ``skipped`` with the image it repeats
        (``io.imageset.repeat_reason``), after the other skipped files, and its degraded notes are dropped
        unless another file of the same name stays; the metadata and word concepts are then chosen from
        the rows kept, each picture counted once.
        """
        # Each row is written into arrays made once, with room for every file, for the learned detectors'
        # columns and for the concepts known once every row is in (`SPARE_COLUMNS`), and the frame takes
        # them without a copy: gathering rows in lists and stacking them held about three times the scores
        # and embeddings at 2 x 50,000 (benchmarks/large_sets.py). Rows never written (unreadable files,
        # repeats) are at the end, pages never touched, so they cost no memory.
        capacity = sum(len(image_set.refs) for image_set in sets.values())
        columns = [cid for s in self.sources for cid in self._columns[s.name]]
        width = len(columns)
        if self.learned is not None:
            columns += [c.id for c in self.learned.concepts]
        matrix = np.empty((capacity, len(columns) + SPARE_COLUMNS), dtype=np.float32)
        embeddings = (np.empty((capacity, sum(s.embedding_dim for s in self.embedders)), dtype=np.float32)
                      if self.embedders else None)
        n = 0
        rows: list[tuple[str, str, str]] = []
        skipped: list[tuple[str, str, str]] = []
        degraded: list[tuple[str, str, str]] = []
        records: list[dict] = []
        read: list[tuple[str, ...] | None] = []  # each row's words, when a source reads them
        first: dict[tuple[str, str], str] = {}  # (set, key) -> the file that gave its row (``once_per_set``)
        repeats: list[tuple[str, str, str]] = []
        # The model-backed sources' worker threads (`MODEL_WORKERS`), closed when scoring ends.
        with (ThreadPoolExecutor(max_workers=MODEL_WORKERS, thread_name_prefix="tellapart-model") as pool,
              _torch_threads(TORCH_THREADS)):
            for label, image_set in sets.items():
                skipped += [(label, s.source, s.reason) for s in image_set.skipped]
                for refs in _batches(image_set.refs, batch_size):
                    batch = self._score_batch(refs, cache, pool)
                    skipped += [(label, s.source, s.reason) for s in batch.failed]
                    degraded += [(label, source, what) for source, what in batch.degraded]
                    for loaded, vector, embedding in batch.rows:
                        source = loaded.ref.source
                        if once_per_set:
                            kept = first.get((label, loaded.key))
                            if kept is not None:
                                repeats.append((label, source, repeat_reason(source, kept)))
                                continue
                            first[label, loaded.key] = source
                        rows.append((label, source, loaded.key))
                        records.append(loaded.metadata())
                        read.append(batch.words.get(loaded.key))
                        matrix[n, :width] = vector
                        if embeddings is not None:
                            embeddings[n] = embedding
                        n += 1
                    if progress is not None:
                        progress(len(refs))
        matrix = matrix[:n]
        embeddings = embeddings[:n] if embeddings is not None else None
        if self.learned is not None:
            self._fill_learned(matrix[:, width : len(columns)], embeddings)
        if repeats:
            skipped += repeats
            degraded = _kept_notes(degraded, repeats, rows)
        # The last run's word concepts leave first, so the concept table never holds them twice.
        for cid in self._word_ids:
            self.concepts.pop(cid, None)
        self._word_ids = ()
        table = self.concept_table()
        # Metadata concepts are read from the samples' records, not their pixels: free, so never cached.
        recorded = metadata_table(records)
        extra = metadata_concepts(recorded)
        added: list[tuple[list[str], np.ndarray]] = []  # (concept ids, their scores), after the sources'
        if extra.concepts:
            added.append(([c.id for c in extra.concepts], extra.scores))
            origin = {c.id: ("metadata", "") for c in extra.concepts}
            table = pd.concat([table, concept_table({c.id: c for c in extra.concepts}, origin)])
        # "Show the word X" for the words read often enough, chosen from pooled counts (never the set
        # labels), from the (cached) words; registered in ``self.concepts`` for this run's phrasing.
        readers = [s for s in self.sources if _reads_words(s)]
        found = word_concepts(read) if readers else None
        self._word_ids = tuple(c.id for c in found.concepts) if found else ()
        if self._word_ids:
            added.append((list(self._word_ids), found.scores))
            self.concepts.update({c.id: c for c in found.concepts})
            origin = {c.id: (readers[0].name, self._keys[readers[0].name]) for c in found.concepts}
            table = pd.concat([table, concept_table({c.id: c for c in found.concepts}, origin)])
        scores = _frame(matrix, columns, added)
        return ScoreMatrix(
            scores=scores,
            images=pd.DataFrame(rows, columns=["set", "source", "key"]),
            concepts=table.loc[list(scores.columns)],
            skipped=pd.DataFrame(skipped, columns=SKIPPED_COLUMNS),
            degraded=pd.DataFrame(degraded, columns=DEGRADED_COLUMNS),
            embeddings=embeddings,
            metadata=recorded,
            metadata_concepts={c.id: (c, extra.columns[c.id]) for c in extra.concepts},
        )

    def _fill_learned(self, out: np.ndarray, embeddings: np.ndarray) -> None:
        """Write the learned detectors' scores of each row of ``embeddings`` into ``out``. Derived from the
        (cached) embeddings by a matrix product, so not cached themselves; in about equal slices of at most
        `DERIVED_ROWS` rows, so never a slice of one row among more (another BLAS path)."""
        slices = -(-len(out) // DERIVED_ROWS)
        bounds = np.linspace(0, len(out), slices + 1).round().astype(int)
        for start, stop in itertools.pairwise(bounds):
            out[start:stop] = self.learned.score_embeddings(self.backbone_embeddings(embeddings[start:stop]))

    def _score_batch(
        self, refs: Sequence[ImageRef], cache: ScoreCache | None, pool: ThreadPoolExecutor
    ) -> _Batch:
        """Read, look up, decode what is missing, score and cache one batch of files."""
        out = _Batch()
        loaded: list[LoadedImage] = []
        for ref in refs:
            try:
                loaded.append(ref.load())
            except UnreadableImage as error:
                out.failed.append(Skipped(ref.source, error.reason))
        keys = [item.key for item in loaded]
        stored = {item.key: _cache_key(item) for item in loaded}
        per_source, embeddings, words = self._lookup(stored, cache)
        missing = {k for k in keys if any(k not in found for found in per_source.values())}
        decoded: dict[str, tuple[DecodedImage, ...]] = {}
        layouts: dict[str, tuple[int, ...]] = {}  # frames per image of each sample, for `_aggregate`
        for item in loaded:
            if item.key in missing and item.key not in decoded:
                try:
                    parts = item.decode_parts()
                except UnreadableImage as error:
                    out.failed.append(Skipped(item.ref.source, error.reason))
                    continue
                decoded[item.key] = tuple(frame for part in parts for frame in part)
                layouts[item.key] = tuple(len(part) for part in parts)
                out.failed += item.left_out  # a series' or subject's files it was scored without
        for item in loaded:
            notes = dict.fromkeys(note for frame in decoded.get(item.key, ()) for note in frame.notes)
            out.degraded += [(item.ref.source, note) for note in notes]
        cacheable = {k for k, frames in decoded.items() if not any(frame.notes for frame in frames)}

        work = {}
        for source in self.sources:
            done = per_source[source.name]
            samples = [k for k in dict.fromkeys(keys) if k not in done and k in decoded]
            if samples:
                todo = [frame for k in samples for frame in decoded[k]]
                work[source.name] = (source, todo, samples, [layouts[k] for k in samples])
        # The model-backed sources run in the worker threads while the pixel sources run here: both release
        # the GIL in their native code, so the cores stay busy. The backbone is submitted first and the gated
        # sources last, as they wait for its embeddings (`_gated_scorer`): first in, first started, so a
        # gated source never holds a worker the backbone still needs.
        backbone = self.embedder.name if self.embedder is not None else None
        order = sorted(work, key=lambda name: (name != backbone, name in self._absent))
        embedded: Future = Future()  # sample key -> backbone embedding, once known
        if self._absent and backbone not in work:
            embedded.set_result(dict(embeddings.get(backbone, {})))
        pending: dict[str, Future] = {}
        for name in order:
            source, todo, samples, counts = work[name]
            if getattr(source, "background", False):
                pending[name] = pool.submit(self._scorer_of(source, samples, counts, embedded), todo)
                if name == backbone and self._absent:
                    pending[name].add_done_callback(
                        partial(_settle, embedded, cached=dict(embeddings[backbone]), samples=samples,
                                counts=counts))
        for name in order:
            source, todo, samples, counts = work[name]
            if name in pending:
                output = pending[name].result()
            else:
                try:
                    output = self._scorer_of(source, samples, counts, embedded)(todo)
                except BaseException as error:
                    if name == backbone and not embedded.done():
                        embedded.set_exception(error)
                    raise
            # A backbone run in a worker is settled by its done-callback alone (two setters would race).
            if name == backbone and self._absent and name not in pending and not embedded.done():
                _settle_with(embedded, output, dict(embeddings[backbone]), samples, counts)
            if name in words:
                output, frame_words = output
                # Through the cache's encoding, so a cold run sees exactly the words a warm run reads back.
                fresh_words = {k: decode_words(encode_words(w))
                               for k, w in zip(samples, union_words(frame_words, counts), strict=True)}
                words[name].update(fresh_words)
                # Stored before the scores, as the embeddings are.
                self._store({k: encode_words(w) for k, w in fresh_words.items()}, name + WORDS_SUFFIX,
                            self._keys[name], WORD_COLUMNS, cache, cacheable, stored)
            values, fresh_embeddings = _split_output(source, output)
            fresh = dict(zip(samples, _aggregate(values, counts), strict=True))
            if fresh_embeddings is not None:
                vectors = dict(zip(samples, _aggregate(fresh_embeddings, counts), strict=True))
                embeddings[name].update(vectors)
                # Stored before the scores, so cached scores always come with their embedding and a run
                # killed in between resumes with exactly the images whose scores are missing.
                self._store(vectors, name + EMBEDDING_SUFFIX, self._keys[name],
                            _embedding_columns(source.embedding_dim), cache, cacheable, stored)
            per_source[name].update(fresh)
            self._store(fresh, name, self._keys[name], self._columns[name], cache, cacheable, stored)

        for item in loaded:
            if all(item.key in per_source[s.name] for s in self.sources):
                vector = np.concatenate([per_source[s.name][item.key] for s in self.sources])
                out.rows.append((item, vector, self._embedding_of(item.key, embeddings)))
                out.words[item.key] = union_words([read[item.key] for read in words.values()],
                                                  [(len(words),)])[0]
        return out

    def _scorer_of(self, source: ConceptSource, samples: list[str], counts: list[tuple[int, ...]],
                   embedded: Future) -> Callable[[Sequence[DecodedImage]], object]:
        """The function that scores ``source``'s frames of ``samples`` (``counts``: frames per image of each):
        `_scorer`, behind the photo gate for a gated source (`_gated_scorer`)."""
        if source.name not in self._absent:
            return _scorer(source)
        return self._gated_scorer(source, samples, counts, embedded)

    def _gated_scorer(self, source: ConceptSource, samples: list[str], counts: list[tuple[int, ...]],
                      embedded: Future) -> Callable[[Sequence[DecodedImage]], np.ndarray]:
        """Return a function of the frames that returns float32 (n_frames, n_concepts): the source's scores
        on the frames of the samples the gate lets through, its absent row on the others. It waits for the
        samples' backbone embeddings (``embedded``: a future of key -> embedding) and decides per sample,
        on the embedding the cache holds for it, so a sample's frames are all run or all skipped and a warm
        run would decide the same."""
        absent = self._absent[source.name]
        width = self.embedder.embedding_dim

        def score(frames: Sequence[DecodedImage]) -> np.ndarray:
            vectors = embedded.result()
            rows = [vectors.get(k, np.full(width, np.nan, np.float32)) for k in samples]
            runs = self.photo_gate.runs_on(np.vstack(rows)) if rows else np.zeros(0, bool)
            per_frame = np.repeat(runs, [sum(c) for c in counts])
            out = np.tile(absent, (len(frames), 1))
            picked = [frame for frame, run in zip(frames, per_frame, strict=True) if run]
            if picked:
                out[per_frame] = np.asarray(source.score(picked), dtype=np.float32)
            return out

        return score

    def uncached(self, stored: dict[str, str], cache: ScoreCache | None) -> set[str]:
        """Return the content keys of the samples (``stored``: content key -> cache key, `_cache_key`) that
        some source has not cached yet: those `score_sets` would decode and score."""
        per_source, _, _ = self._lookup(stored, cache)
        return {k for k in stored if any(k not in found for found in per_source.values())}

    def _lookup(self, stored: dict[str, str], cache: ScoreCache | None) -> tuple[
        dict[str, dict[str, np.ndarray]], dict[str, dict[str, np.ndarray]],
        dict[str, dict[str, tuple[str, ...] | None]]
    ]:
        """Return what the cache holds for the samples of ``stored`` (content key -> cache key): source name
        -> key -> scores (only those complete: with the embedding or the words the source also yields),
        embedding source name -> key -> embedding, word reader's name -> key -> words."""
        per_source = {s.name: self._cached(stored, s, cache) for s in self.sources}
        embeddings = self._cached_embeddings(stored, cache)  # source name -> key -> embedding
        for embedder in self.embedders:
            # Without its embedding an image goes through the model again: that one pass yields both.
            found = per_source[embedder.name]
            per_source[embedder.name] = {k: v for k, v in found.items() if k in embeddings[embedder.name]}
        # Likewise a word reader's scores count only with its words (cached under name + WORDS_SUFFIX).
        words = {s.name: self._cached_words(stored, s, cache) for s in self.sources if _reads_words(s)}
        for name, read in words.items():
            per_source[name] = {k: v for k, v in per_source[name].items() if k in read}
        return per_source, embeddings, words

    def _cached(self, stored: dict[str, str], source: ConceptSource, cache: ScoreCache | None
                ) -> dict[str, np.ndarray]:
        """The cached rows of ``source`` for the samples whose key -> cache key is ``stored``, by key."""
        if cache is None:
            return {}
        found = cache.get(list(stored.values()), source.name, self._keys[source.name],
                          self._columns[source.name])
        return {key: found[cached] for key, cached in stored.items() if cached in found}

    def _cached_words(self, stored: dict[str, str], source: ConceptSource, cache: ScoreCache | None
                      ) -> dict[str, tuple[str, ...] | None]:
        """The cached words ``source`` read in the samples whose key -> cache key is ``stored``, by key."""
        if cache is None:
            return {}
        found = cache.get(list(stored.values()), source.name + WORDS_SUFFIX, self._keys[source.name],
                          WORD_COLUMNS)
        return {key: decode_words(found[cached]) for key, cached in stored.items() if cached in found}

    def _cached_embeddings(self, stored: dict[str, str], cache: ScoreCache | None
                           ) -> dict[str, dict[str, np.ndarray]]:
        """Embedding source name -> the cached embeddings of the samples whose key -> cache key is
        ``stored``, by key (empty without a cache)."""
        out: dict[str, dict[str, np.ndarray]] = {}
        for source in self.embedders:
            name = source.name
            found = {} if cache is None else cache.get(
                list(stored.values()), name + EMBEDDING_SUFFIX, self._keys[name],
                _embedding_columns(source.embedding_dim))
            out[name] = {key: found[cached] for key, cached in stored.items() if cached in found}
        return out

    @staticmethod
    def _store(vectors: dict[str, np.ndarray], name: str, version: str, columns: list[str],
               cache: ScoreCache | None, cacheable: set[str], stored: dict[str, str]) -> None:
        """Write the vectors of samples decoded without degradation to the cache as ``name`` ``version``,
        each under its cache key (``stored``: key -> cache key, `_cache_key`)."""
        if cache is None:
            return
        items = [(stored[k], v) for k, v in vectors.items() if k in cacheable]
        if items:
            cache.put(items, name, version, columns)

    def _embedding_of(self, key: str, embeddings: dict[str, dict[str, np.ndarray]]) -> np.ndarray | None:
        """One sample's row of ``ScoreMatrix.embeddings``: every embedding source's vector side by side
        (NaN where a source has none), or None without embedding sources."""
        if not self.embedders:
            return None
        parts = []
        for source in self.embedders:
            found = embeddings[source.name].get(key)
            parts.append(found if found is not None else np.full(source.embedding_dim, np.nan, np.float32))
        return np.concatenate(parts).astype(np.float32, copy=False)


def _settle(embedded: Future, done: Future, *, cached: dict[str, np.ndarray], samples: list[str],
            counts: list[tuple[int, ...]]) -> None:
    """Resolve ``embedded`` from the backbone's finished future ``done`` (its exception, if it failed)."""
    if done.exception() is not None:
        embedded.set_exception(done.exception())
        return
    try:
        _settle_with(embedded, done.result(), cached, samples, counts)
    except Exception as error:  # noqa: BLE001 - a malformed output must not leave the gated sources waiting
        if not embedded.done():
            embedded.set_exception(error)


def _settle_with(embedded: Future, output, cached: dict[str, np.ndarray], samples: list[str],
                 counts: list[tuple[int, ...]]) -> None:
    """Resolve ``embedded`` with key -> embedding: the ``cached`` ones and those of the backbone's
    ``output`` for ``samples`` (aggregated as they are cached, `_aggregate`, float32)."""
    if embedded.done():
        return
    vectors = dict(cached)
    fresh = np.asarray(output[1], dtype=np.float32)
    vectors.update(zip(samples, _aggregate(fresh, counts).astype(np.float32, copy=False), strict=True))
    embedded.set_result(vectors)


@contextmanager
def _torch_threads(threads: int) -> Iterator[None]:
    """Run the block with PyTorch's intra-op threads set to ``threads`` (if PyTorch is loaded: a source
    that uses it has imported it), and restore the previous setting afterwards."""
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _embedding_columns(width: int) -> list[str]:
    """The cache's column names of an embedding of ``width`` features."""
    return [f"dim{i}" for i in range(width)]


def _reads_words(source: ConceptSource) -> bool:
    """True for a source that also returns the words it read (``concepts.ocr.OcrSource.read_text``)."""
    return callable(getattr(source, "read_text", None))


def _scorer(source: ConceptSource) -> Callable[[Sequence[DecodedImage]], object]:
    """The method that scores ``source``'s images: ``read_text`` (scores and words) for a word reader."""
    return source.read_text if _reads_words(source) else source.score


def _split_output(source: ConceptSource, output) -> tuple[np.ndarray, np.ndarray | None]:
    """(scores, embeddings or None) from what ``source.score`` returned, both float32, shapes checked."""
    if isinstance(source, EmbeddingSource):
        values, embeddings = output
        embeddings = np.asarray(embeddings, dtype=np.float32)
    else:
        values, embeddings = output, None
    values = np.asarray(values, dtype=np.float32)
    n_concepts = len(source.concepts())
    if values.ndim != 2 or values.shape[1] != n_concepts:
        raise ValueError(f"source {source.name!r} returned scores of shape {values.shape}, expected "
                         f"(n_images, {n_concepts})")
    if embeddings is not None and embeddings.shape != (len(values), source.embedding_dim):
        raise ValueError(f"source {source.name!r} returned embeddings of shape {embeddings.shape}, expected "
                         f"({len(values)}, {source.embedding_dim})")
    return values, embeddings


def _aggregate(rows: np.ndarray, layouts: Sequence[Sequence[int]]) -> np.ndarray:
    """Return one row per sample from the rows of its frames: sample i's rows are ``sum(layouts[i])``
    consecutive rows, ``layouts[i][j]`` of them from its image j (a photo: ``(1,)``; a volume, multi-frame
    file or DICOM series: ``(5,)``; a subject: one entry per image). Two steps, each a mean ignoring NaN (a
    frame a scorer could not measure): each image's frames, then the sample's images, so a subject's
    volume counts as one image, not as five; NaN when nothing has a value.

    The mean, not the maximum: it keeps a volume's score on the scale of one image's (so presence thresholds
    and the phrasing still apply), it does not grow with the number of slices, and one noisy slice moves it
    by a fifth at most. A finding then reads "over the scanned slices, set A is ... more often".
    """
    if all(tuple(layout) == (1,) for layout in layouts):
        return rows
    out = np.empty((len(layouts), rows.shape[1]), dtype=np.float32)
    start = 0
    for index, layout in enumerate(layouts):
        images = []
        for count in layout:
            images.append(_nanmean(rows[start : start + count]))
            start += count
        out[index] = _nanmean(np.vstack(images))
    return out


def _nanmean(block: np.ndarray) -> np.ndarray:
    """The column means of ``block`` over its finite values (float64 sums), NaN where a column has none."""
    seen = np.isfinite(block)
    total = np.where(seen, block, 0.0).sum(axis=0, dtype=np.float64)
    n = seen.sum(axis=0)
    return np.where(n > 0, total / np.maximum(n, 1), np.nan)


# What the cache key of an aggregated sample covers besides its content: the rule that makes its one row.
_AGGREGATION_RULE = function_fingerprint(_aggregate, _nanmean)


def _frame(matrix: np.ndarray, columns: list[str], added: list[tuple[list[str], np.ndarray]]) -> pd.DataFrame:
    """Return the score frame of ``matrix``'s first ``len(columns)`` columns followed by each ``added`` (ids,
    scores), as one block: written into ``matrix``'s spare columns when they fit (no copy), else into a
    matrix of the exact width, made once."""
    width = len(columns)
    needed = width + sum(len(ids) for ids, _ in added)
    if needed > matrix.shape[1]:
        matrix, source = np.empty((len(matrix), needed), dtype=np.float32), matrix
        matrix[:, :width] = source[:, :width]
    columns = list(columns)
    for ids, values in added:
        matrix[:, width : width + len(ids)] = values
        columns += ids
        width += len(ids)
    return pd.DataFrame(matrix[:, :width], columns=columns, copy=False)


def _kept_notes(degraded: list[tuple[str, str, str]], repeats: list[tuple[str, str, str]],
                rows: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """Return the (set, file, note) ``degraded`` entries without those of files left out as ``repeats``
    (unless another file of the same set and name gave a row), each entry once."""
    dropped = {entry[:2] for entry in repeats} - {entry[:2] for entry in rows}
    return list(dict.fromkeys(entry for entry in degraded if entry[:2] not in dropped))


def _cache_key(item: LoadedImage) -> str:
    """The key a sample's row is cached under: its content key, and for a sample whose row `_aggregate`
    makes from several frames or images (``LoadedImage.aggregated``) also `_AGGREGATION_RULE`, so a changed
    rule never serves rows the old one made."""
    return f"{item.key}+{_AGGREGATION_RULE}" if item.aggregated else item.key


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
