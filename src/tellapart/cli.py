"""The `tellapart` command line: describe, verify and demo."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tellapart import __version__

EPILOG_DESCRIBE = """\
examples:
  tellapart describe scans/disease/ scans/healthy/ --out report/
  tellapart describe "failures/*.png" "successes/*.png" --json findings.json
  tellapart describe --manifest images.csv --group-col label --a malignant --b benign

What the numbers mean: each finding was chosen on one half of the images (discovery) and measured on the
other half (validation). AUROC is the chance that a random set-A image shows more of the concept than a
random set-B image (0.5 = no difference), with a 95% confidence interval; q is the p-value corrected for
every hypothesis tested (Benjamini-Hochberg). Only findings with q < alpha are called significant.
"""

EPILOG_VERIFY = """\
examples:
  tellapart verify "set A images are darker" night/ day/
  tellapart verify "photos with dogs" adopted/ not_adopted/ --json dogs.json

The text is matched to the closest concepts with the bundled sentence model (the match is shown), and each
match is tested on all images of both sets.
"""


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser for every sub-command."""
    parser = argparse.ArgumentParser(
        prog="tellapart",
        description="Tell two sets of images apart in plain language, and prove every claim.",
    )
    parser.add_argument("--version", action="version", version=f"tellapart {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    describe = sub.add_parser(
        "describe", help="find and verify the differences between two image sets",
        description="Find the differences between set A and set B, verified on held-out images.",
        epilog=EPILOG_DESCRIBE, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_sets(describe)
    _add_common(describe)
    describe.add_argument("--seed", type=int, default=0,
                          help="seed of the discovery/validation split; same seed, same result (default 0)")
    describe.add_argument("--max-hypotheses", type=int, default=None, metavar="N",
                          help="test at most N hypotheses on the validation half (default 10 with the "
                               "learned describer, 30 without)")
    describe.add_argument("--correction", choices=["bh", "holm"], default="bh",
                          help="multiple-testing correction: Benjamini-Hochberg (default) or Holm; "
                          "weighted by the learned describer's confidence unless --describer none")
    describe.add_argument("--describer", metavar="FILE",
                          help="learned describer from `tellapart train` (default: the shipped one); "
                               "'none' orders hypotheses by discovery AUROC instead")

    verify = sub.add_parser(
        "verify", help="test one hypothesis you wrote, e.g. 'set A images are darker'",
        description="Test a difference you expect, written in words, on all images of both sets.",
        epilog=EPILOG_VERIFY, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verify.add_argument("text", help="the hypothesis, e.g. \"set A images are blurrier\"")
    _add_sets(verify)
    _add_common(verify)
    verify.add_argument("--top-k", type=int, default=3, metavar="K",
                        help="test the K concepts closest to the text (default 3)")
    verify.add_argument("--save", action="store_true",
                        help="if the hypothesis holds, keep it in the findings store: later runs look for "
                             "it in new data as the concept saved.<hypothesis>")

    bench = sub.add_parser(
        "bench", help="measure tellapart and peer methods on differences with known answers",
        description="Run a benchmark suite: synthetic differences (easy/medium/hard tiers), real category "
                    "pairs, identical-set (null) pairs and purity/concentration sweeps; tellapart and the "
                    "peer methods (VisDiff's AUROC, difference-of-means and t-test rankings, Domino) run on "
                    "the same concept scores. Prints a markdown table.",
        epilog="examples:\n  tellapart bench                      # quick suite, under 5 minutes\n"
               "  tellapart bench --suite full --out bench-results/",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bench.add_argument("--suite", choices=["quick", "full"], default="quick",
                       help="quick (a few minutes) or full (>= 50 pairs per tier, ~100 images per set)")
    bench.add_argument("--json", type=Path, metavar="FILE", help="also write the JSON results here")
    bench.add_argument("--out", type=Path,
                       help="folder for results.json, results.md and the sweep plots")
    bench.add_argument("--seed", type=int, default=0, help="seed for every pair and split (default 0)")
    bench.add_argument("--cache-dir", type=Path,
                       help="score cache (default $TELLAPART_CACHE_DIR, else OUT/cache, "
                            "else ~/.cache/tellapart)")
    bench.add_argument("--quiet", action="store_true", help="no progress bar")

    train = sub.add_parser(
        "train", help="train the learned detectors and the describer, on your own images if you like",
        description="Train what tellapart learns from synthetic differences. (1) Learned detectors: each "
                    "synth family's edit is applied to images of a pool at random strengths, and a linear "
                    "detector on the bundled backbone's embedding learns to recognise it. (2) The learned "
                    "describer: pairs of sets with known edits are assembled from a bank of edited pool "
                    "images scored by the whole library, and a small network learns which screened "
                    "concepts are the true differences, with a curriculum (strong, pure, single edits "
                    "first; then subtler, rarer, more diluted and more numerous). Writes OUT/"
                    "learned_detectors.npz, OUT/describer.npz and OUT/curriculum.csv (the learning log). "
                    "Use them with `tellapart describe --detectors OUT/learned_detectors.npz "
                    "--describer OUT/describer.npz`.",
        epilog="examples:\n  tellapart train --pool xrays/ --out xray-trained/\n"
               "  tellapart train --findings --out my-trained/   # also learn from your saved findings\n"
               "  tellapart train --out src/tellapart/data        # reproduce the shipped files",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument("--pool", type=Path,
                       help="a folder of base images (default: crops of the bundled sample photos)")
    train.add_argument("--out", type=Path, default=Path("tellapart-trained"),
                       help="folder for the trained files (default ./tellapart-trained)")
    train.add_argument("--findings", nargs="?", type=Path, const=True, default=None, metavar="STORE",
                       help="add the findings saved with `verify --save` as concepts and as describer "
                            "training tasks (default store: $TELLAPART_FINDINGS, else "
                            "~/.local/share/tellapart/findings.npz)")
    train.add_argument("--n-per-family", type=int, default=120, metavar="N",
                       help="edited training images per family for the detectors (default 120)")
    train.add_argument("--seed", type=int, default=0,
                       help="seed of the edits, splits and training; same seed, same files (default 0)")
    train.add_argument("--cache-dir", type=Path,
                       help="score cache (default $TELLAPART_CACHE_DIR, else ~/.cache/tellapart)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")

    demo = sub.add_parser(
        "demo", help="build two sets with a known difference from bundled images and describe them",
        description="Builds 40 vs 40 images from bundled photos, pastes a small red rectangle at a random "
                    "place on every set-A image, describes the two sets and writes the report.",
    )
    demo.add_argument("--out", type=Path, default=Path("tellapart-demo"),
                      help="folder for the demo images, report.html and findings.json "
                           "(default ./tellapart-demo)")
    demo.add_argument("--n", type=int, default=40, help="images per set (default 40)")
    demo.add_argument("--seed", type=int, default=0, help="seed for the images and the split (default 0)")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _add_sets(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("set_a", nargs="?", metavar="SET_A",
                        help="set A: a folder (searched recursively), a quoted glob, or an image file")
    parser.add_argument("set_b", nargs="?", metavar="SET_B", help="set B, like SET_A")
    group = parser.add_argument_group("sets from a manifest (instead of SET_A SET_B)")
    group.add_argument("--manifest", type=Path, help="a CSV or Parquet table with one row per image")
    group.add_argument("--group-col", help="the manifest column that says which set an image is in")
    group.add_argument("--a", dest="value_a", help="the group value of set A")
    group.add_argument("--b", dest="value_b", help="the group value of set B")
    group.add_argument("--path-col", help="the column with image paths (default: found by name)")


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("tellapart-report"),
                        help="output folder for report.html and findings.json (default ./tellapart-report)")
    parser.add_argument("--json", type=Path, metavar="FILE",
                        help="also write the JSON here (default: OUT/findings.json)")
    parser.add_argument("--alpha", type=float, default=0.05,
                        help="significance level for corrected q-values (default 0.05)")
    parser.add_argument("--cache-dir", type=Path,
                        help="where per-image scores are cached "
                             "(default $TELLAPART_CACHE_DIR, else OUT/cache)")
    parser.add_argument("--no-cache", action="store_true", help="do not read or write the score cache")
    parser.add_argument("--detectors", type=Path, metavar="FILE",
                        help="learned detectors from `tellapart train` (default: the shipped ones)")
    parser.add_argument("--findings-store", type=Path, metavar="FILE",
                        help="saved findings to offer as concepts, and where `verify --save` keeps them "
                             "(default $TELLAPART_FINDINGS, else ~/.local/share/tellapart/findings.npz)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _resolve_sets(args: argparse.Namespace, parser: argparse.ArgumentParser):
    from tellapart.io import ImageSet

    if args.manifest is not None:
        if args.set_a or args.set_b:
            parser.error("give either SET_A SET_B or --manifest, not both")
        missing = [flag for flag, value in (("--group-col", args.group_col), ("--a", args.value_a),
                                            ("--b", args.value_b)) if value is None]
        if missing:
            parser.error(f"--manifest also needs {', '.join(missing)}")
        return (
            ImageSet.from_manifest(args.manifest, args.group_col, args.value_a, path_col=args.path_col),
            ImageSet.from_manifest(args.manifest, args.group_col, args.value_b, path_col=args.path_col),
        )
    if not (args.set_a and args.set_b):
        parser.error("give two sets (SET_A SET_B), or --manifest FILE --group-col COL --a VALUE --b VALUE")
    return args.set_a, args.set_b


def _cache_dir(args: argparse.Namespace) -> Path | None:
    """--cache-dir, else $TELLAPART_CACHE_DIR, else OUT/cache (None without --out: the library default)."""
    import os

    if args.cache_dir is not None:
        return args.cache_dir
    if os.environ.get("TELLAPART_CACHE_DIR"):
        return Path(os.environ["TELLAPART_CACHE_DIR"])
    return args.out / "cache" if args.out is not None else None


def _library(args: argparse.Namespace):
    """The default concept library, with --detectors and the saved findings (if the store exists)."""
    from tellapart.concepts.library import ConceptLibrary
    from tellapart.findings_store import default_store_path

    store = args.findings_store or default_store_path()
    return ConceptLibrary(learned=args.detectors or "shipped", findings=store if store.is_file() else None)


def _write_outputs(result, out: Path, json_path: Path | None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    html = result.to_html(out / "report.html")
    target = json_path if json_path is not None else out / "findings.json"
    result.to_json(target)
    print(result)
    print(f"\nReport: {html}\nJSON:   {target}")


def _run_describe(args, parser) -> int:
    from tellapart.describe import describe

    a, b = _resolve_sets(args, parser)
    result = describe(a, b, seed=args.seed, alpha=args.alpha, max_hypotheses=args.max_hypotheses,
                      correction=args.correction, library=_library(args), cache_dir=_cache_dir(args),
                      use_cache=not args.no_cache, progress=not args.quiet,
                      describer=_describer(args.describer))
    _write_outputs(result, args.out, args.json)
    return 0


def _run_verify(args, parser) -> int:
    from tellapart.describe import verify

    a, b = _resolve_sets(args, parser)
    result = verify(args.text, a, b, alpha=args.alpha, top_k=args.top_k, library=_library(args),
                    cache_dir=_cache_dir(args), use_cache=not args.no_cache, progress=not args.quiet)
    _write_outputs(result, args.out, args.json)
    if args.save:
        from tellapart.findings_store import default_store_path, save_finding

        store = args.findings_store or default_store_path()
        concept = save_finding(result, store)
        print(f"Saved as the concept {concept.id} in {store}: later runs look for it.")
    return 0


def _run_demo(args, parser) -> int:
    from tellapart.describe import describe
    from tellapart.synth import bundled_pool, make_pair, paste_rectangle, write_pair

    if args.n < 10:
        parser.error("--n must be at least 10")
    print(f"Building the demo: {args.n} vs {args.n} bundled photos; every set-A image gets a small red "
          "rectangle at a random place.")
    pool = bundled_pool(2 * args.n, seed=args.seed)
    set_a, set_b = make_pair(pool, lambda img, rng: paste_rectangle(img, rng, size=16, colour="red"),
                             args.n, args.n, seed=args.seed)
    truth = {"difference": "set A images carry a small red rectangle at a random place",
             "concepts": ["shape.rectangle", "shape.rectangle_small"]}
    folder_a, folder_b = write_pair(set_a, set_b, args.out / "images", truth=truth)
    result = describe(folder_a, folder_b, seed=args.seed, cache_dir=args.out / "cache",
                      progress=not args.quiet)
    _write_outputs(result, args.out, None)
    return 0


def _run_bench(args, parser) -> int:
    from tellapart.bench import run_bench

    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
    report = run_bench(args.suite, args.json, args.out, seed=args.seed, progress=not args.quiet,
                       cache_dir=_cache_dir(args))
    print(report.markdown())
    return 0


def _describer(value: str | None):
    """--describer: None -> the shipped one, "none" -> untrained ordering, else a path."""
    if value is None:
        return "shipped"
    return None if value.lower() == "none" else Path(value)


def _run_train(args, parser) -> int:
    import time

    from tellapart.concepts.cache import ScoreCache, default_cache_dir
    from tellapart.concepts.library import ConceptLibrary
    from tellapart.findings_store import default_store_path
    from tellapart.synth import FAMILY_NAMES, bundled_pool
    from tellapart.synth.pools import folder_pool
    from tellapart.train import build_bank, train_describer, train_detectors, training_pools

    started = time.perf_counter()
    findings = None
    if args.findings is not None:
        findings = default_store_path() if args.findings is True else args.findings
        if not findings.is_file():
            parser.error(f"no saved findings at {findings}: save some with `tellapart verify ... --save`")
    user_pool = folder_pool(args.pool) if args.pool else None
    pool = user_pool if user_pool is not None else bundled_pool(TRAIN_POOL_SIZE, seed=args.seed + 1)
    args.out.mkdir(parents=True, exist_ok=True)
    cache = ScoreCache(args.cache_dir or default_cache_dir())
    try:
        detectors = train_detectors(pool, n_per_family=args.n_per_family, seed=args.seed, cache=cache,
                                    progress=not args.quiet)
        detectors.save(args.out / "learned_detectors.npz")
        print(f"Trained {len(detectors.concepts)} detectors on {len(pool)} base images; held-out AUROC "
              "(edited vs unedited images):")
        for name, value in detectors.info["held_out_auroc"].items():
            print(f"  learned.{name:<16} {value:.3f}")
        library = ConceptLibrary(learned=detectors, findings=findings)
        pools = training_pools(args.seed, user_pool)
        bank = build_bank(pools.base, pools.dilution, FAMILY_NAMES, library, content=pools.content,
                          seed=args.seed, cache=cache, progress=not args.quiet)
    finally:
        cache.close()
    describer, log = train_describer(bank, seed=args.seed, progress=not args.quiet)
    describer.save(args.out / "describer.npz")
    log.to_csv(args.out / "curriculum.csv", index=False)
    print(f"\nTrained the describer on {len(pools.base)} base images x {len(FAMILY_NAMES)} families "
          f"({pools.note}).")
    print("Curriculum (held-out Acc@1 on the stage being trained, and on the hardest stage):")
    for row in log.groupby("stage", sort=False).tail(1).itertuples():
        print(f"  {row.stage:<12} after {row.tasks_seen:>5} tasks: {row.stage_accuracy:.2f}  "
              f"(hard: {row.hard_accuracy:.2f})")
    held_out = describer.info["held_out_top1"]
    print("Held-out Acc@1 per stage, trained vs ordering by strength: " + ", ".join(
        f"{k} {held_out['trained'][k]:.2f}/{held_out['by_strength'][k]:.2f}" for k in held_out["trained"]))
    print(f"Written to {args.out}/ in {time.perf_counter() - started:.0f} s.")
    return 0


TRAIN_POOL_SIZE = 400
COMMANDS = {"describe": _run_describe, "verify": _run_verify, "bench": _run_bench, "train": _run_train,
            "demo": _run_demo}


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the process exit code (0 ok, 2 for bad input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if getattr(args, "alpha", 0.05) is not None and not 0 < getattr(args, "alpha", 0.05) < 1:
        parser.error("--alpha must be between 0 and 1")
    try:
        return COMMANDS[args.command](args, parser)
    except (ValueError, FileNotFoundError, NotADirectoryError, PermissionError) as error:
        print(f"tellapart: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ntellapart: interrupted; scores computed so far are kept in the cache.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
