"""The `tellapart` command line.

Sub-commands:
    describe  find the differences between two image sets and verify them on held-out images
    verify    test one hypothesis written in words (e.g. "set A images are darker") on two image sets
    bench     measure tellapart and its peer methods on differences with known answers
    train     train the learned detectors and the describer, on your own images if you like
    demo      build two sets with a known difference from bundled photos and describe them

Every sub-command speaks the same vocabulary:
    SET_A SET_B           folders (searched recursively), quoted globs or image files (describe, verify)
    --manifest FILE --group-col COL --group-a VALUE --group-b VALUE
                          the two sets as rows of a CSV/Parquet table instead (``--a``/``--b`` still work)
    --out DIR             the folder every file is written into
    --json FILE           also write the JSON document to FILE; ``--json -`` prints it to stdout and sends
                          the human-readable output to stderr (describe, verify, bench, demo)
    --cache-dir DIR       the per-image score cache: ``--cache-dir`` if given, else ``$TELLAPART_CACHE_DIR``,
                          else the user cache folder (``tellapart.concepts.cache.default_cache_dir()``), the
                          same rule as the Python API; ``--no-cache`` turns it off
    --detectors FILE|none, --describer FILE|none
                          files from ``tellapart train`` (default: the shipped ones; ``none``: without)
    --findings-store FILE|none
                          the findings saved with ``verify --save`` (default ``$TELLAPART_FINDINGS``, else
                          ``~/.local/share/tellapart/findings.npz``); ``train`` learns from it only when given
    --seed N, --quiet     reproducibility and no progress bar
    --model ID|DIR [--vocabulary FILE] [--allow-download]
                          an image-text model (CLIP, SigLIP, MONET; default ``$TELLAPART_MODEL``) scores
                          phrases as concepts (describe) or the hypothesis text itself (verify)
    --llm URL [--llm-model NAME]
                          a language model behind an OpenAI-compatible endpoint proposes new hypotheses from
                          the discovery half, tested on the other half (describe; ``tellapart.propose``)

``main(argv)`` runs it and returns the exit code (0 ok, 2 bad input, 130 interrupted). Every option and
every output path is checked before any image is read; a bad one stops the run with a one-line error that
names it. While a command runs, matplotlib's config and cache (``MPLCONFIGDIR``) and temporary files
(``TMPDIR``) are kept inside the score cache folder (with ``--no-cache``: inside ``--out``, removed after),
so nothing is written elsewhere.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sqlite3
import sys
import tempfile
import textwrap
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

from tellapart import __version__
from tellapart.io.printable import printable

NONE = "none"  # the value that turns off a trained file or the findings store
MODEL_ENV = "TELLAPART_MODEL"  # names the image-text model when --model is not given

EPILOG_MAIN = """\
examples:
  tellapart demo                                      # a known difference, found and reported
  tellapart describe scans/disease/ scans/healthy/ --out report/
  tellapart verify "set A images are darker" night/ day/
  tellapart describe yoga/ meditation/ --model google/siglip-base-patch16-224   # open vocabulary
  tellapart failures predictions.csv --out failures-report/
  tellapart bench --suite quick --json bench.json
  tellapart train --pool xrays/ --out xray-trained/

Shared options mean the same in every sub-command: --json FILE also writes the JSON document to FILE
(--json - prints it to stdout); the score cache is --cache-dir, else $TELLAPART_CACHE_DIR, else the user
cache folder (~/.cache/tellapart), as in the Python API; 'none' turns off --detectors, --describer and
--findings-store. Run `tellapart COMMAND --help` for a sub-command's options.
"""

EPILOG_DESCRIBE = """\
examples:
  tellapart describe scans/disease/ scans/healthy/ --out report/
  tellapart describe "failures/*.png" "successes/*.png" --json findings.json
  tellapart describe --manifest images.csv --group-col label --group-a malignant --group-b benign
  tellapart describe night/ day/ --json - | jq '.findings[0]'
  tellapart describe night/ day/ --detectors none --describer none   # nothing learned
  tellapart describe --manifest scans.csv --group-col outcome --group-a ill --group-b well --adjust-for site
                                                      # what differs beyond the site?
  tellapart describe yoga/ meditation/ --model google/siglip-base-patch16-224 --allow-download
                                                      # phrases scored by an image-text model
  tellapart describe lesions/malignant/ lesions/benign/ --model ~/models/monet --vocabulary builtin:dermoscopy
  tellapart describe a/ b/ --model openai/clip-vit-base-patch32 --vocabulary builtin --vocabulary mine.txt
  tellapart describe yoga/ meditation/ --model google/siglip-base-patch16-224 --llm http://localhost:11434
                                                      # a local Ollama proposes new phrases too

With --model (or $TELLAPART_MODEL) an image-text model's similarity to each phrase of the vocabulary is a
concept too ("Set A images are closer matches to 'people sitting' than set B images"), tested and corrected
like every other; its image embeddings join the "any difference at all?" classifier. A hub id is only read
from the hub cache unless --allow-download. --vocabulary FILE (one phrase per line, '#' comments) replaces
the built-in list of about 3,500 phrases; give --vocabulary builtin too to add to it, or
builtin:SECTION,SECTION for part of it (objects, imagenet, scenes, people, activities, colours, materials,
textures, shapes, styles, conditions, dermoscopy, radiology, histology).

With --llm URL a language model behind an OpenAI-compatible endpoint reads the strongest differences of the
discovery half and descriptions of its most typical images, and proposes new phrases. With --model, they are
scored by the image-text model and tested on the validation half as a family of their own with a quarter of
alpha, so the run's error rate holds; without it each is matched to the nearest concept (listed as a note).
The key comes from $TELLAPART_LLM_KEY (else $OPENAI_API_KEY); a server that is down, slow or refuses costs a
note, not the run.

A manifest's other columns (site, scanner, age...) and DICOM header fields (Manufacturer, KVP...) are
concepts too, reported as possible shortcuts (the scanner, not the disease).

What the numbers mean: each finding was chosen on one half of the images (discovery) and measured on the
other half (validation). AUROC is the chance that a random set-A image shows more of the concept than a
random set-B image (0.5 = no difference), with a 95% confidence interval; q is the p-value corrected for
every hypothesis tested (Benjamini-Hochberg). Only findings with q < alpha are called significant.
"""

EPILOG_VERIFY = """\
examples:
  tellapart verify "set A images are darker" night/ day/
  tellapart verify "photos with dogs" adopted/ not_adopted/ --json dogs.json
  tellapart verify "images with a red square" marked/ plain/ --save   # keep it if it holds
  tellapart verify "set A shows more people sitting" meditation/ yoga/ --model google/siglip-base-patch16-224

Without a model, the text is matched to the closest concepts with the bundled sentence model (the match is
shown), and each match is tested on all images of both sets. With --model (or $TELLAPART_MODEL), the text
itself is scored by the image-text model ("set A images show more X than set B" scores "X", one-sided) and
tested on all images.
"""

EPILOG_BENCH = """\
examples:
  tellapart bench                                # quick suite, under 5 minutes
  tellapart bench --suite full --out bench-results/
  tellapart bench --json - --quiet > bench.json  # the table goes to stderr
"""

EPILOG_TRAIN = """\
examples:
  tellapart train --pool xrays/ --out xray-trained/
  tellapart train --findings-store --out my-trained/   # also learn from your saved findings
  tellapart train --out src/tellapart/data             # reproduce the shipped files
"""

EPILOG_FAILURES = """\
examples:
  tellapart failures predictions.csv --out failures-report/
  tellapart failures preds.parquet --true-col y --pred-col y_hat --path-col file --json -

PREDICTIONS has one row per image: its path (relative paths resolve against the file's folder), the true
label and the predicted label (other columns are ignored). Set A is the misclassified images, set B the
correct ones, once over all classes and once per true class with at least 10 of each; every analysis runs
at --alpha divided by the number of analyses, so all of them together stay within --alpha.
"""

EPILOG_DEMO = """\
examples:
  tellapart demo
  tellapart demo --out /tmp/demo --n 20 --json -
"""

DESCRIPTION_TRAIN = (
    "Train what tellapart learns from synthetic differences. (1) Learned detectors: each synth family's "
    "edit is applied to images of a pool at random strengths, and a linear detector on the bundled "
    "backbone's embedding learns to recognise it. (2) The learned describer: pairs of sets with known edits "
    "are assembled from a bank of edited pool images scored by the whole library, and a small network "
    "learns which screened concepts are the true differences, with a curriculum (strong, pure, single "
    "edits first; then subtler, rarer, more diluted and more numerous). Writes OUT/learned_detectors.npz, "
    "OUT/describer.npz and OUT/curriculum.csv (the learning log). Use them with `tellapart describe "
    "--detectors OUT/learned_detectors.npz --describer OUT/describer.npz`."
)


# --- the parser: one builder per sub-command, shared options from small helpers ---------------------------


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser for every sub-command."""
    parser = argparse.ArgumentParser(
        prog="tellapart",
        description="Tell two sets of images apart in plain language, and prove every claim.",
        epilog=EPILOG_MAIN,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"tellapart {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add_command in (_describe_parser, _verify_parser, _failures_parser, _bench_parser, _train_parser,
                        _demo_parser):
        add_command(sub)
    return parser


def _sub_parser(sub: Any, name: str, summary: str, description: str, epilog: str) -> argparse.ArgumentParser:
    """Add a sub-command whose help keeps the line breaks of its examples (the description is wrapped)."""
    return sub.add_parser(name, help=summary, description=textwrap.fill(description, 104), epilog=epilog,
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def _describe_parser(sub: Any) -> None:
    parser = _sub_parser(
        sub, "describe", "find and verify the differences between two image sets",
        "Find the differences between set A and set B, verified on held-out images.", EPILOG_DESCRIBE,
    )
    _add_sets(parser)
    _add_output(parser, Path("tellapart-report"), "report.html and findings.json")
    _add_seed(parser, "seed of the relabellings (maxt) or of the discovery/validation split; same seed, "
                      "same result")
    _add_alpha(parser)
    parser.add_argument("--design", choices=["maxt", "split"], default="maxt",
                        help="maxt (default): test every concept on every image, the chance of any false "
                             "finding held at alpha by random relabellings (step-down max-T); split: "
                             "choose hypotheses on half the images, test them on the other half")
    parser.add_argument("--domain", choices=["auto", "photos", "other"], default="auto",
                        help="are the images photos of everyday things? auto (default): decided from the "
                             "images by the domain model (the report says how); other: scans, micrographs, "
                             "fundus or dermoscopy images, so ImageNet names, synthetic-edit detectors and "
                             "the people, face, pose, object and OpenCV cascade models are signals, never "
                             "findings; photos: report them, and run those models on every image")
    parser.add_argument("--max-hypotheses", type=int, default=None, metavar="N",
                        help="--design split: test at most N hypotheses on the validation half (default "
                             "10 with the learned describer, 30 without); maxt: list at most N that are "
                             "not significant")
    parser.add_argument("--correction", choices=["bh", "holm"], default="bh",
                        help="--design split: Benjamini-Hochberg (default) or Holm; weighted by the "
                             "learned describer's confidence unless --describer none")
    parser.add_argument("--adjust-for", nargs="+", default=None, metavar="COLUMN",
                        help="test every concept within strata of these metadata columns (manifest "
                             "columns such as scanner or site, DICOM header fields such as Manufacturer; "
                             "numeric ones in quartiles): what differs beyond them, shown beside the "
                             "unadjusted AUROC. "
                             "The columns themselves are not tested")
    _add_model(parser, vocabulary=True)
    _add_llm(parser)
    _add_trained_files(parser, describer=True)
    _add_findings_store(parser)
    _add_cache(parser)
    _add_ray(parser, "put it after the sets, or write --ray=ADDRESS")
    _add_quiet(parser)


def _verify_parser(sub: Any) -> None:
    parser = _sub_parser(
        sub, "verify", "test one hypothesis you wrote, e.g. 'set A images are darker'",
        "Test a difference you expect, written in words, on all images of both sets.", EPILOG_VERIFY,
    )
    parser.add_argument("text", help="the hypothesis, e.g. \"set A images are blurrier\"")
    _add_sets(parser)
    _add_output(parser, Path("tellapart-report"), "report.html and findings.json")
    _add_alpha(parser)
    parser.add_argument("--top-k", type=int, default=3, metavar="K",
                        help="test the K concepts closest to the text (default 3)")
    parser.add_argument("--save", action="store_true",
                        help="if the hypothesis holds, keep it in the findings store: later runs look for "
                             "it in new data as the concept saved.<hypothesis>")
    _add_model(parser, vocabulary=False)
    _add_trained_files(parser, describer=False)
    _add_findings_store(parser)
    _add_cache(parser)
    _add_quiet(parser)


def _bench_parser(sub: Any) -> None:
    parser = _sub_parser(
        sub, "bench", "measure tellapart and peer methods on differences with known answers",
        "Run a benchmark suite: synthetic differences (easy/medium/hard tiers), real category pairs, "
        "identical-set (null) pairs and purity/concentration sweeps; tellapart and the peer methods "
        "(VisDiff's AUROC, difference-of-means and t-test rankings, Domino) run on the same concept scores. "
        "Prints a markdown table.",
        EPILOG_BENCH,
    )
    parser.add_argument("--suite", choices=["quick", "full"], default="quick",
                        help="quick (a few minutes) or full (>= 50 pairs per tier, ~100 images per set)")
    _add_output(parser, None, "results.json, results.md and the sweep plots")
    _add_seed(parser, "seed for every pair and split")
    _add_cache(parser)
    _add_ray(parser, "one Ray session for the whole run")
    _add_quiet(parser)


def _train_parser(sub: Any) -> None:
    parser = _sub_parser(
        sub, "train", "train the learned detectors and the describer, on your own images if you like",
        DESCRIPTION_TRAIN, EPILOG_TRAIN,
    )
    parser.add_argument("--pool", type=Path, metavar="DIR",
                        help="a folder of base images (default: crops of the bundled sample photos)")
    _add_out(parser, Path("tellapart-trained"), "the trained files")
    parser.add_argument("--n-per-family", type=int, default=120, metavar="N",
                        help="edited training images per family for the detectors (default 120)")
    _add_seed(parser, "seed of the edits, splits and training; same seed, same files")
    _add_findings_store(parser, train=True)
    _add_cache(parser)
    _add_ray(parser, "the detectors' images and the describer's bank")
    _add_quiet(parser)


def _failures_parser(sub: Any) -> None:
    parser = _sub_parser(
        sub, "failures", "what the images a model gets wrong have in common",
        "Describe what the misclassified images of a model have in common against the correctly "
        "classified ones, over all classes and per true class, verified on held-out images.",
        EPILOG_FAILURES,
    )
    # Text, not a Path: a URL's "//" is kept (pathlib folds s3://b/p.csv into s3:/b/p.csv).
    parser.add_argument("predictions", metavar="PREDICTIONS",
                        help="a CSV, TSV or Parquet table (a path or an fsspec URL): image path, true label, "
                             "predicted label")
    parser.add_argument("--true-col", metavar="COL", help="the true labels' column (default: found by name)")
    parser.add_argument("--pred-col", metavar="COL",
                        help="the predicted labels' column (default: found by name)")
    parser.add_argument("--path-col", metavar="COL", help="the image paths' column (default: found by name)")
    parser.add_argument("--pooled-only", action="store_true", help="no per-class analyses")
    _add_output(parser, Path("tellapart-failures"), "one report per analysis and failures.json")
    _add_seed(parser, "seed of every analysis's discovery/validation split")
    _add_alpha(parser)
    _add_trained_files(parser, describer=True)
    _add_findings_store(parser)
    _add_cache(parser)
    _add_quiet(parser)


def _demo_parser(sub: Any) -> None:
    parser = _sub_parser(
        sub, "demo", "build two sets with a known difference from bundled images and describe them",
        "Builds 40 vs 40 images from bundled photos, pastes a small red rectangle at a random place on every "
        "set-A image, describes the two sets and writes the report.",
        EPILOG_DEMO,
    )
    _add_output(parser, Path("tellapart-demo"), "the demo images, report.html and findings.json")
    parser.add_argument("--n", type=int, default=40, help="images per set (default 40)")
    _add_seed(parser, "seed for the images and the split")
    _add_cache(parser)
    _add_quiet(parser)


def _add_sets(parser: argparse.ArgumentParser) -> None:
    """SET_A SET_B, or a manifest with a group column and the group value of each set."""
    parser.add_argument("set_a", nargs="?", metavar="SET_A",
                        help="set A: a folder (searched recursively), a quoted glob, or an image file")
    parser.add_argument("set_b", nargs="?", metavar="SET_B", help="set B, like SET_A")
    group = parser.add_argument_group("sets from a manifest (instead of SET_A SET_B)")
    group.add_argument("--manifest", metavar="FILE",
                       help="a CSV or Parquet table with one row per image (a path or an fsspec URL)")
    group.add_argument("--group-col", metavar="COL",
                       help="the manifest column that says which set an image is in")
    group.add_argument("--group-a", dest="value_a", metavar="VALUE",
                       help="the value of --group-col that puts an image in set A")
    group.add_argument("--group-b", dest="value_b", metavar="VALUE",
                       help="the value of --group-col that puts an image in set B")
    group.add_argument("--a", dest="value_a", help=argparse.SUPPRESS)  # the old spellings
    group.add_argument("--b", dest="value_b", help=argparse.SUPPRESS)
    group.add_argument("--path-col", metavar="COL",
                       help="the column with image paths (default: found by name)")
    group.add_argument("--confine", action="store_true",
                       help="use only manifest paths inside the manifest's folder (symbolic links followed); "
                            "the others are listed as skipped. For manifests you did not write: without it a "
                            "manifest may name any image you can read (../, absolute paths)")
    group.add_argument("--subject-col", metavar="COL",
                       help="the column that says which images belong together (a patient, a series): a "
                            "subject's images are one sample, scored together and averaged into one row, so "
                            "they never straddle the held-out split and the tests count subjects")


def _add_out(container: Any, default: Path | None, what: str) -> None:
    """--out DIR on a parser or an argument group."""
    where = f"default ./{default}" if default is not None else "default: none, only the table is printed"
    container.add_argument("--out", type=Path, default=default, metavar="DIR",
                           help=f"folder for {what} ({where})")


def _add_output(parser: argparse.ArgumentParser, default_out: Path | None, what: str) -> None:
    """--out DIR and --json FILE (FILE '-' is stdout)."""
    group = parser.add_argument_group("output")
    _add_out(group, default_out, what)
    group.add_argument("--json", metavar="FILE",
                       help="also write the JSON document to FILE; '-' prints it to stdout and the "
                            "human-readable output to stderr")


def _add_alpha(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--alpha", type=float, default=0.05,
                        help="significance level for corrected q-values (default 0.05)")


def _add_seed(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--seed", type=int, default=0, metavar="N", help=f"{what} (default 0)")


def _add_quiet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_ray(parser: argparse.ArgumentParser, note: str) -> None:
    parser.add_argument("--ray", nargs="?", const="auto", default=None, metavar="ADDRESS",
                        help="score the images the cache lacks on a Ray cluster (pip install "
                             "'tellapart[ray]'), writing into the score cache: its address, or nothing for "
                             f"the local Ray (ray.init()); {note}")


def _require_ray(args: argparse.Namespace) -> None:
    """With --ray, fail before any image is read when Ray is missing or the cache is off (exit 2)."""
    from tellapart.concepts.distributed import check_ray

    try:
        check_ray(args.ray, use_cache=not args.no_cache)
    except ImportError as error:
        raise ValueError(str(error)) from None


def _add_cache(parser: argparse.ArgumentParser) -> None:
    """--cache-dir and --no-cache, with the one default rule of the CLI and the Python API."""
    group = parser.add_argument_group("score cache")
    group.add_argument("--cache-dir", type=Path, metavar="DIR",
                       help="where per-image scores are cached (default $TELLAPART_CACHE_DIR, else the "
                            "user cache folder ~/.cache/tellapart, as in the Python API)")
    group.add_argument("--no-cache", action="store_true", help="do not read or write the score cache")


def _add_model(parser: argparse.ArgumentParser, *, vocabulary: bool) -> None:
    """--model, --allow-download and (describe) --vocabulary: the open vocabulary of an image-text model."""
    group = parser.add_argument_group("open vocabulary (an image-text model)")
    group.add_argument("--model", default=os.environ.get(MODEL_ENV) or None, metavar="ID|DIR",
                       help="a CLIP-family model (CLIP, SigLIP, MONET): a folder written by save_pretrained "
                            "or a model-hub id such as google/siglip-base-patch16-224 (default "
                            f"${MODEL_ENV}); without it, or with 'none', only the offline library is used")
    if vocabulary:
        group.add_argument("--vocabulary", action="append", metavar="FILE|builtin[:SECTIONS]",
                           help="the phrases the model scores: a file with one phrase per line ('#' "
                                "comments) replaces the built-in list; repeat to combine, e.g. --vocabulary "
                                "builtin --vocabulary mine.txt (default: builtin)")
    group.add_argument("--allow-download", action="store_true",
                       help="let a hub model be downloaded into the hub cache (default: use it only if it "
                            "is already there)")


def _add_llm(parser: argparse.ArgumentParser) -> None:
    """--llm and its settings: a language model that proposes new hypotheses (``tellapart.propose``)."""
    group = parser.add_argument_group("hypotheses from a language model (optional)")
    group.add_argument("--llm", metavar="URL",
                       help="an OpenAI-compatible chat endpoint (vLLM, Ollama, llama.cpp server, a hosted "
                            "API; key from $TELLAPART_LLM_KEY or $OPENAI_API_KEY) that proposes new phrases "
                            "from the discovery half; with --model they are scored and tested on the other "
                            "half (a quarter of alpha), without it matched to the nearest concept. A server "
                            "that fails only adds a note")
    group.add_argument("--llm-model", metavar="NAME",
                       help="the model the endpoint serves (default: the first it lists)")
    group.add_argument("--llm-timeout", type=float, default=60.0, metavar="SECONDS",
                       help="seconds to wait for the endpoint (default 60)")
    group.add_argument("--llm-phrases", type=int, default=10, metavar="N",
                       help="how many phrases to ask for (default 10)")


def _add_trained_files(parser: argparse.ArgumentParser, *, describer: bool) -> None:
    """--detectors (and --describer): a file from `tellapart train`, the shipped one, or 'none'."""
    group = parser.add_argument_group("trained files (from `tellapart train`)")
    group.add_argument("--detectors", metavar="FILE|none",
                       help="learned detectors (default: the shipped ones); 'none' leaves them out, so "
                            "only the untrained concept library is screened")
    if describer:
        group.add_argument("--describer", metavar="FILE|none",
                           help="learned describer (default: the shipped one); 'none' orders hypotheses by "
                                "discovery AUROC instead")


def _add_findings_store(parser: argparse.ArgumentParser, *, train: bool = False) -> None:
    """--findings-store: where the findings saved with `verify --save` are kept."""
    default = "default $TELLAPART_FINDINGS, else ~/.local/share/tellapart/findings.npz"
    if train:
        parser.add_argument("--findings-store", nargs="?", const=True, default=None, metavar="FILE",
                            help="also learn from the saved findings, as concepts and as describer "
                                 f"training tasks ({default})")
        parser.add_argument("--findings", dest="findings_store", nargs="?", const=True,
                            help=argparse.SUPPRESS)  # the old spelling
        return
    parser.add_argument("--findings-store", metavar="FILE|none",
                        help="saved findings to offer as concepts, and where `verify --save` keeps them "
                             f"({default}); 'none' leaves them out")


# --- resolving options ------------------------------------------------------------------------------------


def _trained_file(value: str | None) -> str | Path | None:
    """--detectors / --describer: not given -> "shipped", 'none' -> None, else the path."""
    if value is None:
        return "shipped"
    return None if value.lower() == NONE else Path(value)


def _findings_path(value: str | None) -> Path | None:
    """--findings-store: not given -> the default store, 'none' -> None, else the path."""
    from tellapart.findings_store import default_store_path

    if value is None:
        return default_store_path()
    return None if value.lower() == NONE else Path(value)


def _resolve_sets(args: argparse.Namespace, parser: argparse.ArgumentParser) -> tuple[Any, Any]:
    """The two sets: SET_A SET_B, or the manifest's rows of each group value."""
    from tellapart.io import ImageSet

    if args.manifest is not None:  # _sets_problem checked the options
        return tuple(
            ImageSet.from_manifest(args.manifest, args.group_col, value, path_col=args.path_col,
                                   confine=args.confine, subject_col=args.subject_col)
            for value in (args.value_a, args.value_b)
        )
    return args.set_a, args.set_b


def _library(args: argparse.Namespace):
    """The default concept library, with --detectors, the saved findings (if the store exists) and the
    image-text model of --model (with its --vocabulary)."""
    from tellapart.concepts.library import ConceptLibrary

    store = _findings_path(args.findings_store)
    library = ConceptLibrary(learned=_trained_file(args.detectors),
                             findings=store if store is not None and store.is_file() else None)
    model = _model_name(args)
    if model is None:
        return library
    from tellapart.concepts.vocabulary import load_vocabulary
    from tellapart.describe import with_model

    vocabulary = load_vocabulary(args.vocabulary) if getattr(args, "vocabulary", None) else None
    return with_model(library, model, vocabulary, args.allow_download,
                      text_cache=None if args.no_cache else _cache_folder(args))


def _model_name(args: argparse.Namespace) -> str | None:
    """The image-text model this run uses: --model (or $TELLAPART_MODEL), None without one or for 'none'."""
    model = getattr(args, "model", None)
    return None if model is None or model.strip().lower() == NONE else model


# --- checking every option before any image is read -------------------------------------------------------

# (option, attribute, least value): the whole-number options and their rule.
AT_LEAST = (("--seed", "seed", 0), ("--max-hypotheses", "max_hypotheses", 1), ("--top-k", "top_k", 1),
            ("--n-per-family", "n_per_family", 1), ("--n", "n", 10), ("--llm-phrases", "llm_phrases", 1))


def _validate(args: argparse.Namespace, parser: argparse.ArgumentParser, created: list[Path]) -> None:
    """Check every option and output path of the sub-command; ``parser.error`` (exit 2) names the first bad
    one. Runs before any image is listed or read, so a bad option never costs a run. Output folders that
    did not exist are created, and added to ``created``."""
    problem = (_option_problem(args) or _sets_problem(args) or _trained_files_problem(args)
               or _model_problem(args) or _llm_problem(args))
    for target in _outputs(args):
        problem = problem or _output_problem(*target, created)
    if problem:
        parser.error(printable(problem))


def _option_problem(args: argparse.Namespace) -> str | None:
    """Why a numeric option is out of range, or None."""
    from tellapart.describe import check_alpha, check_at_least

    try:
        if hasattr(args, "alpha"):
            check_alpha(args.alpha, "--alpha")
        for option, name, least in AT_LEAST:
            check_at_least(option, getattr(args, name, None), least)
    except ValueError as error:
        return str(error)
    return None


def _sets_problem(args: argparse.Namespace) -> str | None:
    """Why SET_A/SET_B, the manifest's groups or train's --pool cannot be the images asked for, or None."""
    pool = getattr(args, "pool", None)
    if pool is not None and not pool.is_dir():
        return f"--pool {pool} is not a folder; give a folder of images"
    if not hasattr(args, "set_a"):
        return None
    if args.manifest is not None:
        needed = (("--group-col", args.group_col), ("--group-a", args.value_a), ("--group-b", args.value_b))
        missing = [flag for flag, value in needed if value is None]
        if args.set_a or args.set_b:
            return "give either SET_A SET_B or --manifest, not both"
        if missing:
            return f"--manifest also needs {', '.join(missing)}"
    elif not (args.set_a and args.set_b):
        return ("give two sets (SET_A SET_B), or --manifest FILE --group-col COL --group-a VALUE "
                "--group-b VALUE")
    if args.confine and args.manifest is None:
        return "--confine keeps manifest paths inside the manifest's folder; give --manifest too"
    if args.subject_col is not None and args.manifest is None:
        return "--subject-col names a manifest column; give --manifest too"
    if args.manifest is not None and args.value_a is not None and str(args.value_a) == str(args.value_b):
        return (f"--group-a and --group-b are both {args.value_a!r}: a set compared with itself shows "
                "nothing; give two different groups")
    if args.set_a and args.set_b and os.path.realpath(args.set_a) == os.path.realpath(args.set_b):
        return f"SET_A and SET_B are the same ({args.set_a}): a set compared with itself shows nothing"
    return None


def _trained_files_problem(args: argparse.Namespace) -> str | None:
    """Why a file given to --detectors, --describer or --findings-store cannot be used, or None: each is
    loaded here, so a wrong file is named before any image is read."""
    from tellapart.concepts.learned import LearnedDetectors
    from tellapart.stats.describer import LearnedDescriber

    checks = [("--detectors", getattr(args, "detectors", None), LearnedDetectors.load,
               "learned_detectors.npz"),
              ("--describer", getattr(args, "describer", None), LearnedDescriber.load, "describer.npz")]
    for option, value, load, made in checks:
        path = _trained_file(value)
        if isinstance(path, Path):
            problem = _npz_problem(option, path, load, f"give the {made} `tellapart train` wrote, or 'none'")
            if problem:
                return problem
    store = _given_store(args)
    if getattr(args, "save", False) and store is None:
        return "--save needs a findings store: give --findings-store FILE, not 'none'"
    if store is not None and store.exists():
        return _npz_problem("--findings-store", store, LearnedDetectors.load,
                            "give the store `tellapart verify --save` wrote, or 'none'")
    if store is not None and not getattr(args, "save", False) and args.findings_store not in (None, True):
        return (f"--findings-store {store} does not exist; save a finding with `tellapart verify ... --save "
                "--findings-store FILE`, or leave the option out")
    return None


def _model_problem(args: argparse.Namespace) -> str | None:
    """Why --model, --vocabulary or --allow-download cannot be used, or None: the vocabulary files are read
    and the model is found (in its folder or the hub cache; downloaded only with --allow-download) here,
    before any image is read."""
    if not hasattr(args, "model"):
        return None
    vocabulary = getattr(args, "vocabulary", None)
    model = _model_name(args)
    if model is None:
        if vocabulary:
            return f"--vocabulary is scored by an image-text model: give --model ID|DIR too (or ${MODEL_ENV})"
        if args.allow_download:
            return f"--allow-download downloads the model of --model: give --model ID too (or ${MODEL_ENV})"
        return None
    from tellapart.concepts.imagetext import resolve_model
    from tellapart.concepts.vocabulary import load_vocabulary

    for option, check in (("--vocabulary", lambda: vocabulary and load_vocabulary(vocabulary)),
                          ("--model", lambda: resolve_model(model, allow_download=args.allow_download))):
        try:
            check()
        except ValueError as error:
            return f"{option}: {error}"
    return None


def _llm_problem(args: argparse.Namespace) -> str | None:
    """Why --llm or its settings cannot be used, or None (the URL's form is checked; no request is made)."""
    if getattr(args, "llm", None) is None:
        return None
    if args.adjust_for:
        return "--llm cannot be combined with --adjust-for yet: proposals are tested without strata"
    if not (args.llm_timeout > 0 and args.llm_timeout < float("inf")):
        return f"--llm-timeout must be a positive number of seconds, got {args.llm_timeout:g}"
    from tellapart.propose import ChatClient, ProposerError

    try:
        ChatClient(args.llm, model=args.llm_model, timeout=args.llm_timeout)
    except ProposerError as error:
        return f"--llm: {error}"
    return None


def _given_store(args: argparse.Namespace) -> Path | None:
    """The findings store this run reads or writes (None when it uses none)."""
    if not hasattr(args, "findings_store"):
        return None
    value = args.findings_store
    if args.command == "train":
        return None if value is None else _findings_path(None if value is True else value)
    return _findings_path(value)


def _npz_problem(option: str, path: Path, load: Callable[[Path], Any], advice: str) -> str | None:
    """Why ``path`` is not a file ``load`` accepts (missing, a folder, not an .npz, another kind), or None."""
    if not path.exists():
        return f"{option} {path} does not exist; {advice}"
    if not path.is_file():
        return f"{option} {path} is a folder, not a file; {advice}"
    try:
        load(path)
    except KeyError as error:
        return f"{option} {path} is another kind of file (it holds no {error} record); {advice}"
    except (ValueError, OSError) as error:
        detail = str(error).removeprefix(f"{path} ")  # the loaders' messages start with the path
        return f"{option} {path} {detail}; {advice}"
    return None


def _outputs(args: argparse.Namespace) -> list[tuple[str, Path, bool]]:
    """Every path this run writes: (option, path, is a folder)."""
    targets = []
    if getattr(args, "out", None) is not None:
        targets.append(("--out", args.out, True))
    if getattr(args, "json", None) not in (None, "-"):
        targets.append(("--json", Path(args.json), False))
    if not getattr(args, "no_cache", True):
        targets.append(("--cache-dir", _cache_folder(args), True))
    if getattr(args, "save", False) and _given_store(args) is not None:
        targets.append(("--findings-store", _given_store(args), False))
    return targets


def _output_problem(option: str, path: Path, folder: bool, created: list[Path]) -> str | None:
    """Prepare ``path`` to be written; return why it cannot be (a file where a folder is needed or the
    reverse, a folder nobody may write), or None. Missing folders on the way are created now, as for
    --out (and listed in ``created``), and a test file is written and removed where the output goes: what
    the run writes at its end is known to be writable before it starts."""
    what = "folder" if folder else "file"
    if path.exists() and path.is_dir() != folder:
        other = "a folder" if path.is_dir() else "a file"
        return f"{option} {path} is {other}, not a {what}; give a {what} path"
    ancestor = next((p for p in path.absolute().parents if p.exists()), None)
    if ancestor is not None and not ancestor.is_dir():
        return f"{option} {path} cannot be created: {ancestor} is a file, not a folder"
    place = path if folder else path.parent
    created += [p for p in (place, *place.parents) if not p.exists()][::-1]
    try:
        place.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(prefix=".tellapart-write-test-", dir=place)
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        why = error.strerror or str(error)
        return f"{option} {path} cannot be written ({why} in {place}); choose another place"
    return None


def _cache_folder(args: argparse.Namespace) -> Path:
    """The score cache folder of this run: --cache-dir, else the one default rule of the Python API."""
    from tellapart.concepts.cache import default_cache_dir

    return args.cache_dir or default_cache_dir()


# --- third-party files: inside the run's own folders ------------------------------------------------------


@contextlib.contextmanager
def _files_kept_inside(args: argparse.Namespace) -> Iterator[None]:
    """While a command runs, keep what libraries write inside the run's own folders: matplotlib's config and
    font cache (``MPLCONFIGDIR``, unless set) in ``CACHE/matplotlib``, and temporary files (``TMPDIR``,
    ``tempfile``) in a folder of this run inside the cache (``--no-cache``: inside ``--out``), removed at the
    end. ``bench --no-cache`` without ``--out`` has neither: the system's defaults are used."""
    use_cache = not getattr(args, "no_cache", True)
    root = _cache_folder(args) if use_cache else getattr(args, "out", None)
    if root is None:
        yield
        return
    root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".tellapart-tmp-", dir=root))
    settings = {"TMPDIR": str(scratch)}
    if not os.environ.get("MPLCONFIGDIR"):
        settings["MPLCONFIGDIR"] = str(root / "matplotlib" if use_cache else scratch / "matplotlib")
    saved = {name: os.environ.get(name) for name in settings}
    saved_tempdir = tempfile.tempdir
    os.environ.update(settings)
    tempfile.tempdir = str(scratch)
    try:
        yield
    finally:
        tempfile.tempdir = saved_tempdir
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(scratch, ignore_errors=True)


# --- output -----------------------------------------------------------------------------------------------


def _human(args: argparse.Namespace) -> TextIO:
    """Where the human-readable output goes: stderr when the JSON document takes stdout."""
    return sys.stderr if getattr(args, "json", None) == "-" else sys.stdout


def _emit_json(document: str, target: str | None) -> None:
    """Write the JSON document for --json: '-' prints it to stdout, a path is written atomically."""
    from tellapart.io.atomic import write_atomic

    if target is None:
        return
    if target == "-":
        sys.stdout.write(document if document.endswith("\n") else document + "\n")
        sys.stdout.flush()
        return
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, document)


def _write_outputs(result: Any, args: argparse.Namespace) -> None:
    """OUT/report.html and OUT/findings.json, the table, and the JSON document for --json."""
    args.out.mkdir(parents=True, exist_ok=True)
    html = result.to_html(args.out / "report.html")
    saved = args.out / "findings.json"
    document = result.to_json(saved)
    human = _human(args)
    print(result, file=human)
    extra = f" and {args.json}" if args.json not in (None, "-") else ""
    print(printable(f"\nReport: {html}\nJSON:   {saved}{extra}", keep_newlines=True), file=human)
    _emit_json(document, args.json)


# --- the sub-commands -------------------------------------------------------------------------------------


def _run_describe(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from tellapart.describe import describe

    _require_ray(args)
    a, b = _resolve_sets(args, parser)
    result = describe(a, b, seed=args.seed, alpha=args.alpha, max_hypotheses=args.max_hypotheses,
                      correction=args.correction, library=_library(args), cache_dir=args.cache_dir,
                      use_cache=not args.no_cache, progress=not args.quiet,
                      describer=_trained_file(args.describer), adjust_for=args.adjust_for,
                      design=args.design, domain=args.domain, llm=args.llm, llm_model=args.llm_model,
                      llm_timeout=args.llm_timeout, llm_phrases=args.llm_phrases, ray=args.ray)
    _write_outputs(result, args)
    return 0


def _run_verify(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from tellapart.describe import verify

    store = _findings_path(args.findings_store)
    a, b = _resolve_sets(args, parser)
    result = verify(args.text, a, b, alpha=args.alpha, top_k=args.top_k, library=_library(args),
                    cache_dir=args.cache_dir, use_cache=not args.no_cache, progress=not args.quiet)
    _write_outputs(result, args)
    if args.save:
        from tellapart.findings_store import save_finding

        concept = save_finding(result, store)
        print(printable(f"Saved as the concept {concept.id} in {store}: later runs look for it."),
              file=_human(args))
    return 0


def _run_failures(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from tellapart.failures import failures

    result = failures(args.predictions, true_col=args.true_col, pred_col=args.pred_col,
                      path_col=args.path_col, per_class=not args.pooled_only, alpha=args.alpha,
                      seed=args.seed, library=_library(args), cache_dir=args.cache_dir,
                      use_cache=not args.no_cache, progress=not args.quiet,
                      describer=_trained_file(args.describer))
    reports = result.write_reports(args.out)
    saved = args.out / "failures.json"
    document = result.to_json(saved)
    human = _human(args)
    print(result, file=human)
    listed = "\n".join(f"  {name}: {path}" for name, path in reports.items())
    extra = f" and {args.json}" if args.json not in (None, "-") else ""
    print(printable(f"\nReports:\n{listed}\nJSON: {saved}{extra}", keep_newlines=True), file=human)
    _emit_json(document, args.json)
    return 0


def _run_bench(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from tellapart.bench import run_bench

    _require_ray(args)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
    to_file = args.json not in (None, "-")
    if to_file:  # before a long run, not after it
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    report = run_bench(args.suite, args.json if to_file else None, args.out, seed=args.seed,
                       progress=not args.quiet, cache_dir=args.cache_dir, use_cache=not args.no_cache,
                       ray=args.ray)
    print(report.markdown(), file=_human(args))
    if args.json == "-":
        _emit_json(report.to_json(), "-")
    return 0


def _run_demo(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from tellapart.describe import describe
    from tellapart.synth import bundled_pool, make_pair, paste_rectangle, write_pair

    print(f"Building the demo: {args.n} vs {args.n} bundled photos; every set-A image gets a small red "
          "rectangle at a random place.", file=_human(args))
    pool = bundled_pool(2 * args.n, seed=args.seed)
    set_a, set_b = make_pair(pool, lambda img, rng: paste_rectangle(img, rng, size=16, colour="red"),
                             args.n, args.n, seed=args.seed)
    truth = {"difference": "set A images carry a small red rectangle at a random place",
             "concepts": ["shape.rectangle", "shape.rectangle_small"]}
    folder_a, folder_b = write_pair(set_a, set_b, args.out / "images", truth=truth)
    result = describe(folder_a, folder_b, seed=args.seed, cache_dir=args.cache_dir,
                      use_cache=not args.no_cache, progress=not args.quiet)
    _write_outputs(result, args)
    return 0


def _run_train(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    import time

    from tellapart.concepts.cache import ScoreCache, default_cache_dir
    from tellapart.concepts.distributed import optional_ray_session
    from tellapart.concepts.library import ConceptLibrary
    from tellapart.synth import FAMILY_NAMES
    from tellapart.synth.pools import folder_pool
    from tellapart.train import build_bank, detector_pool, train_describer, train_detectors, training_pools

    started = time.perf_counter()
    _require_ray(args)
    findings = _train_findings(args, parser)
    user_pool = folder_pool(args.pool) if args.pool else None
    pool = user_pool if user_pool is not None else detector_pool(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    cache = None if args.no_cache else ScoreCache(args.cache_dir or default_cache_dir())
    try:
        with optional_ray_session(args.ray):
            detectors = train_detectors(pool, n_per_family=args.n_per_family, seed=args.seed, cache=cache,
                                        progress=not args.quiet, ray=args.ray)
            detectors.save(args.out / "learned_detectors.npz")
            print(f"Trained {len(detectors.concepts)} detectors on {len(pool)} base images; held-out AUROC "
                  "(edited vs unedited images):")
            for name, value in detectors.info["held_out_auroc"].items():
                print(f"  learned.{name:<16} {value:.3f}")
            library = ConceptLibrary(learned=detectors, findings=findings)
            pools = training_pools(args.seed, user_pool)
            bank = build_bank(pools.base, pools.dilution, FAMILY_NAMES, library, content=pools.content,
                              seed=args.seed, cache=cache, progress=not args.quiet, ray=args.ray)
    finally:
        if cache is not None:
            cache.close()
    describer, log = train_describer(bank, seed=args.seed, progress=not args.quiet)
    describer.save(args.out / "describer.npz")
    log.to_csv(args.out / "curriculum.csv", index=False)
    _print_training(describer, log, pools, len(FAMILY_NAMES))
    print(printable(f"Written to {args.out}/ in {time.perf_counter() - started:.0f} s."))
    return 0


def _train_findings(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Path | None:
    """train's --findings-store: not given or 'none' -> None, bare -> the default store, else the path."""
    value = args.findings_store
    if value is None:
        return None
    store = _findings_path(None if value is True else value)
    if store is not None and not store.is_file():
        parser.error(f"no saved findings at {store}: save some with `tellapart verify ... --save`")
    return store


def _print_training(describer: Any, log: Any, pools: Any, n_families: int) -> None:
    """The describer's curriculum and held-out accuracy, as `tellapart train` reports them."""
    print(f"\nTrained the describer on {len(pools.base)} base images x {n_families} families ({pools.note}).")
    print("Curriculum (held-out Acc@1 on the stage being trained, and on the hardest stage):")
    for row in log.groupby("stage", sort=False).tail(1).itertuples():
        print(f"  {row.stage:<12} after {row.tasks_seen:>5} tasks: {row.stage_accuracy:.2f}  "
              f"(hard: {row.hard_accuracy:.2f})")
    held_out = describer.info["held_out_top1"]
    print("Held-out Acc@1 per stage, trained vs ordering by strength: " + ", ".join(
        f"{k} {held_out['trained'][k]:.2f}/{held_out['by_strength'][k]:.2f}" for k in held_out["trained"]))


COMMANDS: dict[str, Callable[[argparse.Namespace, argparse.ArgumentParser], int]] = {
    "describe": _run_describe,
    "verify": _run_verify,
    "failures": _run_failures,
    "bench": _run_bench,
    "train": _run_train,
    "demo": _run_demo,
}


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the process exit code (0 ok, 2 for bad input, 130 interrupted).

    Options and output paths are checked first (``_validate``); then the command runs with third-party
    files kept inside its folders (``_files_kept_inside``). A bad input or a file that cannot be read or
    written ends in one line on stderr, never a traceback.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    created: list[Path] = []
    try:
        return _run(args, parser, created)
    finally:
        _remove_if_empty(created)  # a run that stopped early leaves no empty folder behind


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser, created: list[Path]) -> int:
    """Check the options, run the command; return its exit code, or 2 (130) after one line on stderr."""
    try:
        _validate(args, parser, created)
        with warnings.catch_warnings(), _files_kept_inside(args):
            warnings.showwarning = _warning_printer(warnings.showwarning)
            return COMMANDS[args.command](args, parser)
    except (ValueError, OSError) as error:
        print(f"tellapart: error: {_error_text(error)}", file=sys.stderr)
        return 2
    except ImportError as error:  # fsspec or a URL protocol's backend not installed: the message says what
        print(f"tellapart: error: {printable(error, keep_newlines=True)}", file=sys.stderr)
        return 2
    except sqlite3.Error as error:  # e.g. still locked by another run after a minute, or a full disk
        print(f"tellapart: error: the score cache failed ({printable(error)}); run again, or use another "
              "--cache-dir or --no-cache", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ntellapart: interrupted; scores computed so far are kept in the cache.", file=sys.stderr)
        return 130


def _remove_if_empty(folders: list[Path]) -> None:
    """Remove those of ``folders`` (made by this run, parents first) that are still empty, deepest first."""
    for folder in reversed(folders):
        with contextlib.suppress(OSError):
            folder.rmdir()


def _error_text(error: Exception) -> str:
    """The message of an error for the terminal: an OSError as "what: which file", control codes escaped."""
    if isinstance(error, OSError) and error.strerror and error.filename:
        return printable(f"{error.strerror}: {error.filename}")
    return printable(error, keep_newlines=True)


def _warning_printer(original: Callable[..., None]) -> Callable[..., None]:
    """Return a ``warnings.showwarning`` that prints tellapart's own warnings (e.g. a damaged score cache
    moved aside; notes on how files were read, e.g. "12 files read as 1 DICOM series") as one line on
    stderr, and leaves the others to ``original``."""
    from tellapart.concepts.cache import CacheRecovered
    from tellapart.io.image import Notice

    def show(message: Warning | str, category: type[Warning], *where: Any, **more: Any) -> None:
        if issubclass(category, CacheRecovered):
            print(f"tellapart: warning: {printable(message)}", file=sys.stderr)
        elif issubclass(category, Notice):
            print(f"tellapart: note: {printable(message)}", file=sys.stderr)
        else:
            original(message, category, *where, **more)

    return show


if __name__ == "__main__":
    sys.exit(main())
