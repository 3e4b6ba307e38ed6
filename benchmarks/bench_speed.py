"""Speed and memory of the whole pipeline against the bare model.

Writes 2 x N JPEG images (longest side at most 512 px, crops of the bundled photos) to a temporary folder,
then measures, each in a fresh process so peak memory is its own:

  cold   describe() with an empty score cache (decode, every concept source, statistics)
  warm   describe() again on the same files (the cache answers; nothing is decoded)
  model  EfficientNet-Lite0's forward pass alone, on pre-decoded, pre-resized tensors, as tellapart runs it
         (onnxruntime) and, for reference, on PyTorch's eager kernels (what tellapart ran before 2026-12-02)
  half   a cold run on half the images, to show peak memory does not grow with the number of images

    python benchmarks/bench_speed.py            # N = 500 per set
    python benchmarks/bench_speed.py --n 100    # quicker
    git archive 829ef46 src | tar -x -C /tmp/before     # an older commit's code...
    python benchmarks/bench_speed.py --n 250 --repeats 3 --compare /tmp/before/src   # ...side by side

With ``--compare`` each round runs the other tree's cold, warm and model measurements and then this tree's,
back to back, so both see about the same load from whatever else shares the cores; medians over rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
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


def _reset_peak() -> None:
    """Reset this process's VmHWM to its current RSS (Linux: 5 to clear_refs), so the next peak is what
    follows; does nothing where that is not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _rate(run: dict, seconds: str = "seconds") -> float:
    """Images per second of one measurement (``seconds``: which of its times)."""
    return run["images"] / run[seconds]


def run_describe(folder: str, cache: str) -> dict:
    """One describe() run on folder/set_a vs folder/set_b; returns seconds, image count and peak memory."""
    import tellapart

    set_a, set_b = _set_folders(Path(folder))
    started = time.perf_counter()
    result = tellapart.describe(set_a, set_b, cache_dir=cache, progress=False)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "images": result.n_a + result.n_b, "peak_mb": _peak_mb(),
            "significant": int(result.findings["significant"].sum())}


def run_model(folder: str) -> dict:
    """The bare model: decode and preprocess everything first (untimed), then time only the forward pass,
    with PyTorch's default thread count (one per physical core) for onnxruntime and PyTorch alike."""
    import inspect

    import numpy as np
    import torch
    from PIL import Image

    from tellapart.concepts import semantics
    from tellapart.concepts.semantics import SemanticSource, preprocess

    paths = [p for d in _set_folders(Path(folder)) for p in sorted(d.iterdir())
             if p.suffix.lower() in (".jpg", ".jpeg", ".png")]
    pixels = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
    # An older tree's Backbone (no thread count) ran the pass on PyTorch.
    on_onnxruntime = "threads" in inspect.signature(semantics.Backbone).parameters
    threads = {"threads": torch.get_num_threads()} if on_onnxruntime else {}
    source = SemanticSource(backbone=semantics.Backbone(**threads))
    size = source.batch_size  # the batch size the pipeline uses, the fastest on this CPU
    tensors = [preprocess(pixels[i : i + size]) for i in range(0, len(pixels), size)]
    source.backbone.forward(tensors[0][:2])  # load the model and warm up, untimed
    started = time.perf_counter()
    with torch.inference_mode():
        for batch in tensors:
            source.backbone.forward(batch)
    seconds = time.perf_counter() - started
    measured = {"seconds": seconds, "images": len(paths), "peak_mb": _peak_mb()}
    if on_onnxruntime:  # time PyTorch's pass too
        model = source.backbone.model
        semantics.torch_forward(model, tensors[0][:2])
        started = time.perf_counter()
        for batch in tensors:
            semantics.torch_forward(model, batch)
        measured["torch_seconds"] = time.perf_counter() - started
    return measured


def _set_folders(folder: Path) -> tuple[Path, Path]:
    """The two sets' folders: ``folder``/set_a and /set_b, or the two folders a ``folders.txt`` there names
    (``--folders``)."""
    listing = folder / "folders.txt"
    if listing.exists():
        a, b = listing.read_text().split("\n")[:2]
        return Path(a), Path(b)
    return folder / "set_a", folder / "set_b"


def make_images(folder: Path, n: int) -> None:
    """Write n JPEGs per set (bundled photo crops, 256-512 px) into folder/set_a and folder/set_b."""
    from PIL import Image

    from tellapart.synth import bundled_pool

    pool = bundled_pool(2 * n, seed=0, min_side=256, max_side=512)
    for name, images in (("set_a", pool[:n]), ("set_b", pool[n:])):
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i, img in enumerate(images):
            Image.fromarray(img).save(folder / name / f"{i:04d}.jpg", quality=90)


def _child(kind: str, *args: str, src: str | None = None) -> dict:
    """Run one measurement in a fresh process (its own peak memory); ``src`` puts another source tree's
    ``src`` folder first on the path (the "before" of a side-by-side comparison)."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(Path(src).resolve()), env.get("PYTHONPATH")) if p)
    out = subprocess.run([sys.executable, __file__, "--child", kind, *args], capture_output=True, text=True,
                         check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _load() -> str:
    return "{:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def _variants(compare: str | None) -> list[tuple[str, str | None]]:
    """(label, source tree or None for the installed package) of each variant measured."""
    return [("before", compare), ("after", None)] if compare else [("this", None)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=500, help="images per set (default 500)")
    parser.add_argument("--repeats", type=int, default=1, help="cold/warm/model rounds (medians shown)")
    parser.add_argument("--compare", metavar="SRC", default=None,
                        help="another tree's src folder (e.g. `git archive` of an older commit): its cold, "
                             "warm and model runs alternate with this one's, round by round")
    parser.add_argument("--folders", nargs=2, metavar=("A", "B"), default=None,
                        help="measure on these two folders of images instead of the bundled photo crops")
    parser.add_argument("--no-half", dest="half", action="store_false", help="skip the half-set run")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        print(json.dumps(run_model(*rest) if kind == "model" else run_describe(*rest)))
        return

    variants = _variants(args.compare)
    runs: dict[str, list[dict]] = {label: [] for label, _ in variants}
    loads = [_load()]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if args.folders:
            (root / "full").mkdir()
            named = "\n".join(str(Path(f).resolve()) for f in args.folders)
            (root / "full" / "folders.txt").write_text(named)
            args.half = False
        else:
            make_images(root / "full", args.n)
        if args.half:
            make_images(root / "half", args.n // 2)
        for round_ in range(args.repeats):
            for label, src in variants:
                cache = str(root / f"cache-{label}-{round_}")
                cold = _child("describe", str(root / "full"), cache, src=src)
                warm = _child("describe", str(root / "full"), cache, src=src)
                model = _child("model", str(root / "full"), src=src)
                runs[label].append({"cold": cold, "warm": warm, "model": model})
                loads.append(_load())
                print(f"round {round_ + 1} {label:6s} cold {cold['seconds']:6.1f} s  "
                      f"warm {warm['seconds']:5.2f} s  model {model['seconds']:5.1f} s  cold/model rate "
                      f"{_rate(cold) / _rate(model):.0%}  "
                      f"load {loads[-1]}", flush=True)
        if args.half:
            half = {label: _child("describe", str(root / "half"), str(root / f"cache-half-{label}"), src=src)
                    for label, src in variants}

    what = (" vs ".join(args.folders) if args.folders
            else f"2 x {args.n} JPEG, longest side 256-512 px")
    print(f"\nimages: {what}; machine: 2 CPU cores; medians of "
          f"{args.repeats} rounds; load average (1, 5, 15 min) seen: {' | '.join(loads)}")
    for label, _ in variants:
        rounds = runs[label]

        def med(kind: str, field: str, rounds: list[dict] = rounds) -> float:
            return statistics.median(r[kind][field] for r in rounds)

        cold_rate = statistics.median(_rate(r["cold"]) for r in rounds)
        model_rate = statistics.median(_rate(r["model"]) for r in rounds)
        ratio = statistics.median(_rate(r["cold"]) / _rate(r["model"]) for r in rounds)
        print(f"[{label}] cold run   {med('cold', 'seconds'):7.1f} s  {cold_rate:6.1f} img/s  "
              f"peak {med('cold', 'peak_mb'):6.0f} MB")
        print(f"[{label}] warm run   {med('warm', 'seconds'):7.2f} s                peak "
              f"{med('warm', 'peak_mb'):6.0f} MB")
        if args.half:
            print(f"[{label}] half set   {half[label]['seconds']:7.1f} s                peak "
                  f"{half[label]['peak_mb']:6.0f} MB (2 x {args.n // 2} images, cold)")
        print(f"[{label}] bare model {med('model', 'seconds'):7.1f} s  {model_rate:6.1f} img/s  "
              "(forward pass on pre-decoded tensors)")
        print(f"[{label}] pipeline / bare model rate: {ratio:.0%} (median of the rounds' ratios; "
              "target >= 80%)")
        if all("torch_seconds" in r["model"] for r in rounds):
            torch_rate = statistics.median(_rate(r["model"], "torch_seconds") for r in rounds)
            torch_ratio = statistics.median(_rate(r["cold"]) / _rate(r["model"], "torch_seconds")
                                            for r in rounds)
            print(f"[{label}] PyTorch model {med('model', 'torch_seconds'):4.1f} s  {torch_rate:6.1f} img/s  "
                  "(the same pass on PyTorch's eager kernels); "
                  f"pipeline / PyTorch rate: {torch_ratio:.0%}")
    if args.compare:
        speedup = statistics.median(b["cold"]["seconds"] / a["cold"]["seconds"]
                                    for b, a in zip(runs["before"], runs["after"], strict=True))
        print(f"cold run speed-up after / before: {speedup:.2f}x (median over rounds, each pair run back "
              "to back)")


if __name__ == "__main__":
    main()
