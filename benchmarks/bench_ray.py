"""Images per second of the Ray path (``concepts.distributed.score_with_ray``) with 1 and 2 workers.

Writes N crops of the bundled photos (longest side 256-512 px) as JPEGs, starts a local Ray cluster of 2 CPUs
and scores them cold with the default library: once in this process (``ConceptLibrary.score_sets``, for
reference), then on the cluster with 1 and with 2 actors, each into an empty score cache. Each Ray run
includes its actors' start (a Python process that imports tellapart and loads the models), as a real run
does. After the last one, ``score_sets`` must read every image from the cache (nothing is scored again)
and give the single-process scores (largest difference printed). Wall-clock figures, with the load
average: other work on the cores slows them.

    python benchmarks/bench_ray.py            # N = 100
    python benchmarks/bench_ray.py --n 200
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def _load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100, help="images (default 100)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="actor counts to time")
    args = parser.parse_args()

    import ray
    from PIL import Image

    from tellapart.concepts.cache import ScoreCache
    from tellapart.concepts.distributed import score_with_ray
    from tellapart.concepts.library import ConceptLibrary
    from tellapart.io import ImageSet
    from tellapart.synth import bundled_pool

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "images").mkdir()
        for i, pixels in enumerate(bundled_pool(args.n, seed=0, min_side=256, max_side=512)):
            Image.fromarray(pixels).save(root / "images" / f"{i:04d}.jpg", quality=90)
        sets = {"a": ImageSet.from_spec(root / "images")}
        library = ConceptLibrary()

        started, cpu = time.perf_counter(), time.process_time()
        plain = library.score_sets(sets, cache=None)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        print(f"{args.n} JPEGs, default library, 2 CPU cores")
        print(f"one process      {seconds:7.1f} s  {args.n / seconds:5.2f} img/s  "
              f"({cpu:.1f} s CPU; {_load()})")

        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        try:
            for workers in args.workers:
                cache = ScoreCache(root / f"cache-{workers}")
                started = time.perf_counter()
                scored = score_with_ray(library, sets, cache, workers=workers)
                seconds = time.perf_counter() - started
                print(f"ray, {workers} worker{'s' if workers > 1 else ' '}  {seconds:7.1f} s  "
                      f"{scored / seconds:5.2f} img/s  ({_load()})")
        finally:
            ray.shutdown()

        for source in library.sources:
            source.score = _fail
            if hasattr(source, "read_text"):
                source.read_text = _fail
        warm = library.score_sets(sets, cache=cache)
        gap = np.nanmax(np.abs(warm.scores.to_numpy() - plain.scores.to_numpy()))
        same_nan = np.array_equal(np.isnan(warm.scores.to_numpy()), np.isnan(plain.scores.to_numpy()))
        embedded = np.nanmax(np.abs(warm.embeddings - plain.embeddings))
        print(f"warm re-read of the Ray cache: largest score difference {gap:.2g}, embeddings "
              f"{embedded:.2g}, missing values {'identical' if same_nan else 'DIFFER'}")


def _fail(images):
    raise AssertionError("scored an image the Ray run should have cached")


if __name__ == "__main__":
    main()
