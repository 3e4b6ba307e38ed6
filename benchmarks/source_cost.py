"""Cost per image of each default concept source, of decoding, of cache writes and of the statistics.

Two parts, in one process:

1. **Sources side by side.** Decodes N crops of the bundled photos (longest side 256-512 px) and, if given,
   the images of extra folders (e.g. real scans), then runs every source of ``tellapart.default_sources()``
   on them in batches of 32, ``--repeats`` times. For each source: the median CPU milliseconds per image
   (``time.process_time``: every thread of the process, so a model's intra-op threads count) and the wall
   milliseconds, its share of the CPU sum, and what it adds to the others (``+x%``: its CPU over the sum of
   the rest, i.e. how much more work scoring is with it on). CPU time is the figure to trust when other
   work shares the cores; wall time is printed with the load average.

2. **The cold pipeline** (``--pipeline``, default on): writes 2 x N/2 of the crops as JPEG and runs a cold
   ``tellapart.describe`` on them with an empty score cache, timing (CPU of the calling thread,
   ``time.thread_time``) reading + hashing (``ImageRef.load``), decoding (``LoadedImage.decode_parts``),
   cache reads and writes (``ScoreCache.get`` / ``put``), all of scoring (``ConceptLibrary.score_sets``,
   process CPU) and the rest of ``describe`` (statistics, phrasing, examples: process CPU of ``describe``
   minus that of ``score_sets``).

    python benchmarks/source_cost.py                          # 200 photo crops
    python benchmarks/source_cost.py --n 500 --repeats 1      # the README's profile (2 x 250 in part 2)
    python benchmarks/source_cost.py --folders ../shared/real/brain_tumor/a --n 100 --no-pipeline
    python benchmarks/source_cost.py --n 500 --repeats 1 --torch-threads 1   # PyTorch on one thread

The photo gate's line: how many images the domain model lets the people, pose, face, object and cascade
models see (``concepts.gate``; the library gives the others each source's "nothing found" row), and what
those sources then cost per image.

``--torch-threads`` only sets how many threads PyTorch uses in this measurement. Until 2026-12-02 that was
the semantic source's backbone (on 2 cores shared with other work its default, one per core, spent CPU
waiting on the other thread: 25 CPU ms per image on one thread against 39-146 on two, load average 4);
the backbone now runs on onnxruntime with one thread (``semantics.Backbone(threads=1)``), so the flag no
longer changes it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np


def _photos(n: int, seed: int) -> list[np.ndarray]:
    from tellapart.synth.pools import bundled_pool

    return bundled_pool(n, seed=seed, min_side=256, max_side=512)


def _load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def source_costs(images: list, repeats: int) -> None:
    """Print each default source's median CPU and wall ms per image on ``images`` (decoded)."""
    from tellapart import default_sources

    sources = default_sources()
    cpu: dict[str, list[float]] = {s.name: [] for s in sources}
    wall: dict[str, list[float]] = {s.name: [] for s in sources}
    sources[0].score(images[:2])  # nothing is timed before every source has loaded its model once
    for source in sources[1:]:
        source.score(images[:2])
    for _ in range(repeats):
        for source in sources:
            started, started_cpu = time.perf_counter(), time.process_time()
            for start in range(0, len(images), 32):
                source.score(images[start:start + 32])
            cpu[source.name].append((time.process_time() - started_cpu) / len(images) * 1000)
            wall[source.name].append((time.perf_counter() - started) / len(images) * 1000)
    medians = {name: statistics.median(values) for name, values in cpu.items()}
    total = sum(medians.values())
    print(f"{len(images)} decoded images, median of {repeats} passes, batches of 32; {_load()}")
    print(f"{'source':10s} {'CPU ms':>8s} {'wall ms':>8s} {'share':>6s} {'adds':>6s}")
    for name, ms in medians.items():
        print(f"{name:10s} {ms:8.1f} {statistics.median(wall[name]):8.1f} {ms / total:6.0%} "
              f"{ms / (total - ms):+6.0%}")
    print(f"{'all':10s} {total:8.1f} {sum(statistics.median(v) for v in wall.values()):8.1f}")
    gate_share(images, sources, medians)


def gate_share(images: list, sources: list, medians: dict[str, float]) -> None:
    """Print how many of ``images`` the photo gate (``concepts.gate``) shows the people models, and what
    those sources then cost per image on average (their alone-cost times that share)."""
    from tellapart.concepts.base import EmbeddingSource
    from tellapart.concepts.gate import absent_row, photo_gate

    backbone = next((s for s in sources if isinstance(s, EmbeddingSource)), None)
    gate = photo_gate(backbone.embedding_version) if backbone is not None else None
    if gate is None:
        print("photo gate: off (no backbone or no domain model for its embedding version)")
        return
    runs = np.concatenate([gate.runs_on(backbone.score(images[i:i + 32])[1])
                           for i in range(0, len(images), 32)])
    gated = [s.name for s in sources if absent_row(s) is not None]
    cost = sum(medians[name] for name in gated)
    print(f"photo gate (P(photo) >= {gate.threshold}): {runs.sum()} of {len(runs)} images run "
          f"{', '.join(gated)}: {cost:.1f} -> {cost * runs.mean():.1f} CPU ms per image, all sources "
          f"{sum(medians.values()):.1f} -> {sum(medians.values()) - cost * (1 - runs.mean()):.1f}")


class _Timer:
    """Accumulates the CPU seconds spent in the wrapped functions, by label."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def wrap(self, owner: type, name: str, label: str, clock: Callable[[], float]) -> None:
        original = getattr(owner, name)

        def timed(*args, **kwargs):
            started = clock()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[label] += clock() - started
                self.calls[label] += 1

        setattr(owner, name, timed)


def pipeline_costs(pixels: list[np.ndarray]) -> None:
    """Print the CPU ms per image of each stage of a cold ``describe`` on ``pixels`` written as JPEGs."""
    from PIL import Image

    import tellapart
    from tellapart.concepts.cache import ScoreCache
    from tellapart.concepts.library import ConceptLibrary
    from tellapart.io.imageset import ImageRef, LoadedImage

    timer = _Timer()
    timer.wrap(ImageRef, "load", "read + hash", time.thread_time)
    timer.wrap(LoadedImage, "decode_parts", "decode", time.thread_time)
    timer.wrap(ScoreCache, "get", "cache reads", time.thread_time)
    timer.wrap(ScoreCache, "put", "cache writes", time.thread_time)
    timer.wrap(ConceptLibrary, "score_sets", "scoring (all)", time.process_time)
    half = len(pixels) // 2
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, chunk in (("set_a", pixels[:half]), ("set_b", pixels[half:2 * half])):
            (root / name).mkdir()
            for i, img in enumerate(chunk):
                Image.fromarray(img).save(root / name / f"{i:04d}.jpg", quality=90)
        started, started_cpu = time.perf_counter(), time.process_time()
        tellapart.describe(root / "set_a", root / "set_b", cache_dir=root / "cache", progress=False)
        cpu, wall = time.process_time() - started_cpu, time.perf_counter() - started
    n = 2 * half
    rest = cpu - timer.seconds["scoring (all)"]
    print(f"\ncold describe on 2 x {half} JPEGs: {wall:.1f} s wall, {cpu:.1f} s CPU; {_load()}")
    print(f"{'stage':28s} {'CPU ms/image':>12s}")
    for label in ("read + hash", "decode", "cache reads", "cache writes", "scoring (all)"):
        print(f"{label:28s} {timer.seconds[label] / n * 1000:12.2f}")
    print(f"{'statistics, phrasing, report':28s} {rest / n * 1000:12.2f}   ({rest:.1f} s in all)")
    print(f"{'describe (all)':28s} {cpu / n * 1000:12.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200, help="photo crops (default 200)")
    parser.add_argument("--folders", nargs="*", default=[], help="extra folders of images to include")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes (the median is shown)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-pipeline", dest="pipeline", action="store_false",
                        help="only time the sources side by side")
    parser.add_argument("--torch-threads", type=int, default=None, metavar="N",
                        help="PyTorch's intra-op threads (default: PyTorch's own, one per core); the "
                             "backbone runs on onnxruntime and ignores it")
    args = parser.parse_args()
    if args.torch_threads is not None:
        import torch

        torch.set_num_threads(args.torch_threads)

    from tellapart.io.decode import decode_bytes, decode_object

    pixels = _photos(args.n, args.seed)
    images = [decode_object(p, f"<memory:{i}>", str(i)) for i, p in enumerate(pixels)]
    for folder in args.folders:
        for path in sorted(Path(folder).iterdir()):
            if path.suffix.lower() in (".png", ".jpg", ".jpeg"):
                images.append(decode_bytes(path.read_bytes(), str(path), path.name))
    source_costs(images, args.repeats)
    del images
    if args.pipeline:
        pipeline_costs(pixels)


if __name__ == "__main__":
    main()
