"""Speed and memory of the whole pipeline against the bare model.

Writes 2 x N JPEG images (longest side at most 512 px, crops of the bundled photos) to a temporary folder,
then measures, each in a fresh process so peak memory is its own:

  cold   describe() with an empty score cache (decode, every concept source, statistics)
  warm   describe() again on the same files (the cache answers; nothing is decoded)
  model  EfficientNet-Lite0's forward pass alone, on pre-decoded, pre-resized tensors
  half   a cold run on half the images, to show peak memory does not grow with the number of images

    python benchmarks/bench_speed.py            # N = 500 per set
    python benchmarks/bench_speed.py --n 100    # quicker
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _peak_mb() -> float:
    """Peak resident memory of this process in MB (VmHWM, which unlike ru_maxrss is not inherited)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_describe(folder: str, cache: str) -> dict:
    """One describe() run; returns seconds, image count and peak memory."""
    import tellapart

    started = time.perf_counter()
    result = tellapart.describe(Path(folder) / "set_a", Path(folder) / "set_b", cache_dir=cache,
                                progress=False)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "images": result.n_a + result.n_b, "peak_mb": _peak_mb(),
            "significant": int(result.findings["significant"].sum())}


def run_model(folder: str) -> dict:
    """The bare model: decode and preprocess everything first (untimed), then time only the forward pass."""
    import numpy as np
    import torch
    from PIL import Image

    from tellapart.concepts.semantics import SemanticSource, preprocess

    paths = sorted(Path(folder).rglob("*.jpg"))
    pixels = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
    source = SemanticSource()
    size = source.batch_size  # the batch size the pipeline uses, the fastest on this CPU
    tensors = [preprocess(pixels[i : i + size]) for i in range(0, len(pixels), size)]
    source.backbone.forward(tensors[0][:2])  # load the model and warm up, untimed
    started = time.perf_counter()
    with torch.inference_mode():
        for batch in tensors:
            source.backbone.forward(batch)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "images": len(paths), "peak_mb": _peak_mb()}


def make_images(folder: Path, n: int) -> None:
    """Write n JPEGs per set (bundled photo crops, 256-512 px) into folder/set_a and folder/set_b."""
    from PIL import Image

    from tellapart.synth import bundled_pool

    pool = bundled_pool(2 * n, seed=0, min_side=256, max_side=512)
    for name, images in (("set_a", pool[:n]), ("set_b", pool[n:])):
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i, img in enumerate(images):
            Image.fromarray(img).save(folder / name / f"{i:04d}.jpg", quality=90)


def _child(kind: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", kind, *args], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=500, help="images per set (default 500)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        print(json.dumps(run_model(*rest) if kind == "model" else run_describe(*rest)))
        return

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_images(root / "full", args.n)
        make_images(root / "half", args.n // 2)
        cold = _child("describe", str(root / "full"), str(root / "cache"))
        warm = _child("describe", str(root / "full"), str(root / "cache"))
        half = _child("describe", str(root / "half"), str(root / "cache-half"))
        model = _child("model", str(root / "full"))

    rate = {k: v["images"] / v["seconds"] for k, v in (("cold", cold), ("model", model))}
    print(f"images: 2 x {args.n} JPEG, longest side 256-512 px; machine: 2 CPU cores")
    print(f"cold run   {cold['seconds']:7.1f} s  {rate['cold']:6.1f} img/s  peak {cold['peak_mb']:6.0f} MB")
    print(f"warm run   {warm['seconds']:7.1f} s                peak {warm['peak_mb']:6.0f} MB")
    print(f"half set   {half['seconds']:7.1f} s                peak {half['peak_mb']:6.0f} MB "
          f"(2 x {args.n // 2} images, cold)")
    print(f"bare model {model['seconds']:7.1f} s  {rate['model']:6.1f} img/s  "
          "(forward pass on pre-decoded tensors)")
    print(f"pipeline / bare model rate: {rate['cold'] / rate['model']:.0%} (target >= 80%)")


if __name__ == "__main__":
    main()
