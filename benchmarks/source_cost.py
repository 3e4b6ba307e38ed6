"""Cost per image of each default concept source, side by side on the same decoded images.

Decodes N crops of the bundled photos (longest side 256-512 px) and,
if given, the images of extra folders (e.g. real scans), then times every source of
``tellapart.default_sources()`` on them in batches of 32, ``--repeats`` times, in one process. Prints the
median milliseconds per image of each source, its share of the sum, and what a source adds to the others
(``+x%``: its time over the sum of the rest, i.e. how much slower scoring gets with it on).

    python benchmarks/source_cost.py                          # 200 photo crops
    python benchmarks/source_cost.py --folders ../shared/real/brain_tumor/a --n 100
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np


def _photos(n: int, seed: int) -> list[np.ndarray]:
    from tellapart.synth.pools import bundled_pool

    return bundled_pool(n, seed=seed, min_side=256, max_side=512)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200, help="photo crops (default 200)")
    parser.add_argument("--folders", nargs="*", default=[], help="extra folders of images to include")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes (the median is shown)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from tellapart import default_sources
    from tellapart.io.decode import decode_bytes, decode_object

    images = [decode_object(p, f"<memory:{i}>", str(i)) for i, p in enumerate(_photos(args.n, args.seed))]
    for folder in args.folders:
        for path in sorted(Path(folder).iterdir()):
            if path.suffix.lower() in (".png", ".jpg", ".jpeg"):
                images.append(decode_bytes(path.read_bytes(), str(path), path.name))
    sources = default_sources()
    timings: dict[str, list[float]] = {s.name: [] for s in sources}
    for _ in range(args.repeats):
        for source in sources:
            started = time.perf_counter()
            for start in range(0, len(images), 32):
                source.score(images[start:start + 32])
            timings[source.name].append((time.perf_counter() - started) / len(images) * 1000)
    medians = {name: statistics.median(values) for name, values in timings.items()}
    total = sum(medians.values())
    print(f"{len(images)} images, median of {args.repeats} passes")
    print(f"{'source':10s} {'ms/image':>9s} {'share':>6s} {'adds':>6s}")
    for name, ms in medians.items():
        print(f"{name:10s} {ms:9.1f} {ms / total:6.0%} {ms / (total - ms):+6.0%}")
    print(f"{'all':10s} {total:9.1f}")


if __name__ == "__main__":
    main()
