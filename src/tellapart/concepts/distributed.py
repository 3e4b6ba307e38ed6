"""Scoring on a Ray cluster: every image the score cache lacks, scored by actors, written into the same cache.

`score_with_ray` runs two Ray Data pipelines and leaves the ordinary ``ConceptLibrary.score_sets`` that
follows with nothing to compute (it reads every row warm, so its scores are the ones the cluster made):

1. **Keys.** Tasks read and hash every file (``ImageRef.load``) and return its cache key only; the driver
   asks the cache which samples some source still lacks (``ConceptLibrary.uncached``).
2. **Scores.** An actor pool, one actor per CPU of the cluster by default, each holding a copy of the
   library, scores those samples with the library's own ``_score_batch`` (read, decode, every source) into a
   recorder standing in for the cache; the recorded writes stream back (``iter_batches``) and the driver
   replays them into the real cache, in the order the library writes them (embeddings and words before
   scores). The driver holds one batch of writes at a time, so its memory does not grow with the images,
   and a killed run resumes from what was written: the next run's keys pipeline skips it.

Images are read where the workers run, so the paths (or in-memory images, shipped through the object
store) must be visible to them. Ray is an extra: ``pip install 'tellapart[ray]'``.
"""

from __future__ import annotations

import io
import pickle
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import numpy as np

from tellapart.concepts.cache import ScoreCache
from tellapart.concepts.library import BATCH_SIZE, ConceptLibrary, _cache_key
from tellapart.io import ImageRef, ImageSet, UnreadableImage

INSTALL_HINT = "pip install 'tellapart[ray]'"
NEEDS_CACHE = ("ray writes the scores into the score cache, which the run then reads: it needs the cache "
               "(use_cache=True; on the command line, drop --no-cache)")

# One recorded cache write: (items, source name, version, concept ids), as ``ScoreCache.put`` takes it.
_Write = tuple[list[tuple[str, np.ndarray]], str, str, list[str]]


def require_ray() -> Any:
    """Return the ``ray`` module; raise ``ModuleNotFoundError`` naming the extra to install without it."""
    try:
        import ray
        import ray.data  # noqa: F401  (the pipelines need Ray Data, not only Ray core)
    except ImportError as error:
        raise ModuleNotFoundError(f"--ray needs Ray: {INSTALL_HINT}") from error
    return ray


def score_with_ray(
    library: ConceptLibrary,
    sets: dict[str, ImageSet],
    cache: ScoreCache,
    address: str | None = None,
    *,
    workers: int | None = None,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Score on a Ray cluster every sample of ``sets`` that ``cache`` does not hold yet, writing the rows
    into ``cache`` under the keys ``library.score_sets`` reads; return the number of samples scored.

    Parameters:
        library: the concept library; each actor gets a copy (sources with threads' locks are copied with
            fresh locks; a model not loaded yet loads in the actor).
        sets: set label -> images, as for ``ConceptLibrary.score_sets``.
        cache: the score cache the rows are written to (on the driver).
        address: the cluster to join (``ray.init(address=...)``); None or "auto": the running Ray of this
            process if there is one, else ``ray.init()`` (a local cluster unless ``RAY_ADDRESS`` names one).
            A cluster this call started is shut down when it returns.
        workers: actors scoring at once; default: the cluster's CPUs (each actor takes one).
        batch_size: samples per batch, for reading and for scoring.
        progress: called with the number of samples finished after each scored batch.

    Files that cannot be read are left to ``score_sets``, which lists them as skipped.
    """
    with ray_session(address) as ray:
        context = ray.data.DataContext.get_current()
        # tellapart's own progress bar counts the samples; Ray Data's bars and banners would interleave.
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        refs = [ref for image_set in sets.values() for ref in image_set.refs]
        if not refs:
            return 0
        shared = ray.put(refs)
        todo = _uncached(ray, library, cache, shared, len(refs), batch_size)
        if not todo:
            return 0
        if workers is None:
            workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        _scores(ray, library, cache, shared, todo, workers, batch_size, progress)
        return len(todo)


def check_ray(address: str | None, use_cache: bool) -> None:
    """Check a command's ``ray`` option before any image is read: nothing to check without one; else Ray
    must be installed (ModuleNotFoundError naming the extra) and the score cache on (ValueError)."""
    if address is None:
        return
    require_ray()
    if not use_cache:
        raise ValueError(NEEDS_CACHE)


def score_sets(library: ConceptLibrary, sets: dict[str, ImageSet], cache: ScoreCache | None,
               ray: str | None = None, bar: Any = None, once_per_set: bool = False) -> Any:
    """Return ``library.score_sets(sets, cache=cache, once_per_set=once_per_set)``; with ``ray`` (an address
    or "auto"), the samples the cache lacks are scored on that Ray cluster first (``score_with_ray``), so the
    library only reads.

    ``bar`` (a tqdm bar, or None) counts the cluster's samples, then is reset and counts the reading.
    Raises ValueError for ``ray`` without a cache: the cluster's scores reach the run through the cache.
    """
    check_ray(ray, use_cache=cache is not None)
    if ray is not None:
        score_with_ray(library, sets, cache, address=ray, progress=bar.update if bar is not None else None)
        if bar is not None:
            bar.reset()
    return library.score_sets(sets, cache=cache, progress=bar.update if bar is not None else None,
                              once_per_set=once_per_set)


@contextmanager
def ray_session(address: str | None = None) -> Iterator[Any]:
    """Yield the ``ray`` module connected to a cluster: the running Ray of this process if there is one,
    else ``ray.init(address)`` (None or "auto": a local cluster unless ``RAY_ADDRESS`` names one), shut
    down on leaving. Commands that score many batches (``bench``, ``train``) hold one session around them
    so that each ``score_with_ray`` call joins it instead of starting a cluster of its own."""
    ray = require_ray()
    started = not ray.is_initialized()
    if started:
        ray.init(address=None if address in (None, "auto") else address, include_dashboard=False,
                 log_to_driver=False)
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def _uncached(ray: Any, library: ConceptLibrary, cache: ScoreCache, shared: Any, n: int,
              batch_size: int) -> list[int]:
    """Return the indices (into the flat list of refs in ``shared``) of the samples some source has not
    cached; the reading and hashing run in Ray tasks."""
    keys = ray.data.range(n).map_batches(_read_keys, fn_kwargs={"shared": shared}, batch_size=batch_size,
                                         batch_format="numpy")
    todo: list[int] = []
    for batch in keys.iter_batches(batch_size=batch_size, batch_format="numpy"):
        readable = {}
        for index, key, cached_as in zip(batch["id"], batch["key"], batch["cached_as"], strict=True):
            if key:
                readable[int(index)] = (str(key), str(cached_as))
            # An unreadable file is left to `score_sets`, which lists it as skipped.
        missing = library.uncached(dict(readable.values()), cache)
        todo += [index for index, (key, _) in readable.items() if key in missing]
    return sorted(todo)


def _read_keys(batch: dict[str, np.ndarray], shared: Any) -> dict[str, np.ndarray]:
    """Ray task: each sample's content key and cache key ("" for a file that cannot be read)."""
    refs = _refs(shared)
    keys, cached_as = [], []
    for index in batch["id"]:
        try:
            item = refs[int(index)].load()
        except UnreadableImage:
            keys.append("")
            cached_as.append("")
            continue
        keys.append(item.key)
        cached_as.append(_cache_key(item))
    return {"id": batch["id"], "key": np.array(keys, dtype=object),
            "cached_as": np.array(cached_as, dtype=object)}


def _scores(ray: Any, library: ConceptLibrary, cache: ScoreCache, shared: Any, todo: list[int],
            workers: int, batch_size: int, progress: Callable[[int], None] | None) -> None:
    """Score the samples ``todo`` in an actor pool of ``workers`` and replay their cache writes."""
    payload = ray.put(_dumps(library))
    rows = ray.data.from_items([{"id": index} for index in todo])
    scored = rows.map_batches(
        _Scorer, fn_constructor_kwargs={"payload": payload, "shared": shared}, batch_size=batch_size,
        batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=1,
    )
    for batch in scored.iter_batches(batch_size=1, batch_format="numpy"):
        for count, blob in zip(batch["count"], batch["writes"], strict=True):
            for items, name, version, columns in pickle.loads(blob):
                cache.put(items, name, version, columns)
            if progress is not None:
                progress(int(count))


class _Scorer:
    """Ray actor: a copy of the library that scores batches of samples and returns its cache writes."""

    def __init__(self, payload: Any, shared: Any) -> None:
        self.library: ConceptLibrary = pickle.loads(_resolve(payload))
        self.refs: list[ImageRef] = _refs(shared)
        # `_score_batch` runs the model-backed sources in one worker thread, as `score_sets` does.
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tellapart-model")

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        recorder = _Recorder()
        self.library._score_batch([self.refs[int(i)] for i in batch["id"]], recorder, self.pool)
        return {"count": np.array([len(batch["id"])]),
                "writes": np.array([pickle.dumps(recorder.writes, protocol=5)], dtype=object)}


class _Recorder:
    """Stands in for a `ScoreCache` in an actor: holds nothing (so every sample is scored) and records the
    writes, for the driver to replay into the real cache."""

    def __init__(self) -> None:
        self.writes: list[_Write] = []

    def get(self, keys: Sequence[str], source: str, version: str, concept_ids: Sequence[str]
            ) -> dict[str, np.ndarray]:
        """Return nothing: the driver sent only samples the cache lacks."""
        return {}

    def put(self, items: Iterable[tuple[str, np.ndarray]], source: str, version: str,
            concept_ids: Sequence[str]) -> None:
        """Record one write, its vectors as float32 (what the cache stores)."""
        rows = [(key, np.asarray(vector, dtype=np.float32)) for key, vector in items]
        self.writes.append((rows, source, version, list(concept_ids)))


def _refs(shared: Any) -> list[ImageRef]:
    """The flat list of refs, from the object store."""
    return _resolve(shared)


def _resolve(value: Any) -> Any:
    """``ray.get`` of an object reference (Ray Data passes constructor and task arguments through as is)."""
    import ray

    return ray.get(value) if isinstance(value, ray.ObjectRef) else value


def _dumps(library: ConceptLibrary) -> bytes:
    """The library pickled (by cloudpickle, so classes defined in a script travel too), every thread lock
    in it replaced by a new one: a lock guards loading within one process and means nothing in another."""
    import cloudpickle

    class _Pickler(cloudpickle.Pickler):
        def reducer_override(self, obj: Any) -> Any:
            if type(obj) in _LOCKS:
                return _LOCKS[type(obj)], ()
            return super().reducer_override(obj)

    buffer = io.BytesIO()
    _Pickler(buffer, protocol=5).dump(library)
    return buffer.getvalue()


_LOCKS = {type(threading.Lock()): threading.Lock, type(threading.RLock()): threading.RLock}


@contextmanager
def optional_ray_session(address: str | None) -> Iterator[Any]:
    """``ray_session(address)`` when ``address`` is given (an address or "auto"), else nothing: yields
    None and Ray is not imported (a command's ``--ray`` left out)."""
    if address is None:
        yield None
        return
    with ray_session(address) as ray:
        yield ray
