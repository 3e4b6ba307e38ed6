"""Real medical (and other real) image pairs: does tellapart name the true difference in a clinician's words,
and stay silent when there is none?

Runs ``tellapart.describe(a, b, seed=...)`` on

  (a) the five development pairs in the shared real-image folder (``--real-dir``, default
      /work/shared/real: pneumonia, pneumonia_null, malaria, wbc_lymph_neut, brain_tumor; skipped with a
      note when the folder is absent), and
  (b) pairs built here from real images that install with the project (``medical_pairs.py``: the optic disc
      of scikit-image's fundus photograph, nuclei in its immunohistochemistry slide, Fashion-MNIST shapes),
      each with a null pair (two random halves of one pool). Their images are written under
      ``OUT/images/seed-N/`` (deterministic from ``--seed``), so you can look at them.

For each case it reports:

  hit        one of the top three significant findings (significant, not explained by another, in the order
             tellapart gives) names the truth: its concept id is in the case's accepted set (``ACCEPTED``
             below) with the right direction ("a" = set A scores higher)
  n_sig      significant findings that no other explains (for a null case the right answer is 0)
  off_domain significant findings that are an ImageNet class or category, a learned synthetic-edit detector,
             an inserted-shape detector or a people/object model (``stats.reportable.WITHHELD_OFF_DOMAIN``,
             read from the library's concept table): never a finding on a medical image (the summary
             counts the Fashion-MNIST cases, which are not medical, apart)
  truth@     rank of the first true finding among all hypotheses tested on held-out images (significant or
             not; "-" when the truth was not even tested): how far it was from being named

then the top three significant findings' sentences per case, and a summary line: hits / non-null cases, false
findings on null cases, off-domain findings. Everything goes to ``OUT/results.json`` too.

Examples:

    python benchmarks/real_medical.py --out real-medical            # everything (about 4 min cold)
    python benchmarks/real_medical.py --cases retina_disc retina_null --n 30
    python benchmarks/real_medical.py --real-dir none               # built pairs only
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

import tellapart
from tellapart.concepts.library import ConceptLibrary
from tellapart.stats.reportable import WITHHELD_OFF_DOMAIN

sys.path.insert(0, str(Path(__file__).resolve().parent))
import medical_pairs  # noqa: E402  (a sibling module, found next to this script)

# What counts as naming the truth: case -> {concept id: the set that scores higher, "a" or "b"}; None marks a
# null case (the right answer is silence). The one table to update when region concept ids move.
ACCEPTED: dict[str, dict[str, str] | None] = {
    # ../shared/real (development pairs)
    "pneumonia": {  # A = pneumonia: hazier, whiter (opaque) lung fields (the dark structures in the chest)
        "region.dark_lightness": "a", "region.dark_contrast": "b", "region.dark_area": "b",
        "region.dark_texture": "b",
    },
    "pneumonia_null": None,
    "malaria": {  # A = parasitised: dark purple dots or rings inside the cell (dark structures in the cell)
        "region.spots_count": "a", "region.spots_area": "a", "region.spots_stained": "a",
        "region.dark_area": "a", "region.dark_count": "a",
    },
    "wbc_lymph_neut": {  # A = lymphocytes: one large round nucleus; B = neutrophils: a lobed nucleus
        "region.dark_largest_solidity": "a", "region.dark_largest_circularity": "a",
        "region.dark_count": "b", "region.dark_largest_area": "a",
    },
    "brain_tumor": {  # A = a tumour: a distinct mass, often asymmetric
        "region.mass_area": "a", "region.asymmetry": "a", "region.bright_largest_area": "a",
        "region.dark_largest_area": "a",
    },
    # built from images that install (medical_pairs.py)
    "retina_disc": {  # A = crops holding the optic disc: a large, bright, round structure (B: no bright one)
        "region.bright_area": "a", "region.bright_largest_area": "a", "region.bright_contrast": "a",
        "region.bright_lightness": "a", "region.bright_count": "a",
    },
    "retina_null": None,
    "ihc_nuclei": {  # A = stroma with many haematoxylin-stained (blue) nuclei; B = with few
        "region.dark_count": "a", "region.dark_area": "a", "region.spots_count": "a",
        "region.spots_area": "a", "region.spots_stained": "a",
    },
    "ihc_null": None,
    "coins_null": None,
    "fashion_trouser_shirt": {  # A = trousers: elongated, two legs with a gap between them; B = shirts
        "region.body_elongation": "a", "region.body_solidity": "b", "region.body_area": "b",
    },
    "fashion_bag_sandal": {  # A = bags: one compact solid shape; B = sandals: elongated, straps and holes
        "region.body_solidity": "a", "region.body_area": "a", "region.body_elongation": "b",
        "region.dark_area": "b", "region.dark_count": "b",
    },
    "fashion_null": None,
}

REAL_CASES = ("pneumonia", "pneumonia_null", "malaria", "wbc_lymph_neut", "brain_tumor")
BUILT_CASES = tuple(name for name in ACCEPTED if name not in REAL_CASES)
# Concept categories that are never a finding on a medical image: ImageNet classes and categories, learned
# synthetic-edit detectors, inserted-shape detectors, and the people, pose, face, COCO-object and OpenCV
# cascade models.
OFF_DOMAIN = frozenset(WITHHELD_OFF_DOMAIN)
# Fashion-MNIST garments are photos of everyday things, not medical images: ImageNet's "clothing" is a fair
# name there, so their off-domain findings are counted apart.
NOT_MEDICAL = frozenset(name for name in ACCEPTED if name.startswith("fashion_"))
TOP = 3


@dataclass
class CaseResult:
    """What tellapart said on one case, scored against the truth."""

    case: str
    kind: str  # "real" or "built"
    null: bool
    n_a: int
    n_b: int
    hit: bool | None  # None for a null case
    n_significant: int
    n_off_domain: int
    truth_rank: int | None  # 1-based rank of the first true finding among all tested hypotheses
    seconds: float
    overall: str
    top: list[dict] = field(default_factory=list)  # concept, direction, category, auroc, q_value, text
    off_domain: list[str] = field(default_factory=list)
    significant: list[str] = field(default_factory=list)


def names_truth(row: pd.Series | dict, accepted: dict[str, str] | None) -> bool:
    """Whether one finding names the truth: an accepted concept id with the accepted direction."""
    return bool(accepted) and accepted.get(row["concept"]) == row["direction"]


def score_case(case: str, kind: str, result: tellapart.Result, categories: pd.Series,
               seconds: float) -> CaseResult:
    """Score one ``describe`` result against ``ACCEPTED[case]``; ``categories`` maps concept id -> category
    (from the library's concept table)."""
    accepted = ACCEPTED[case]
    findings = result.findings
    named = result.significant  # significant and not explained by a stronger finding, in tellapart's order
    top = named.head(TOP)
    significant = findings[findings["significant"]]
    off = [cid for cid in significant["concept"] if categories.get(cid) in OFF_DOMAIN]
    true_rows = [i for i, (_, row) in enumerate(findings.iterrows()) if names_truth(row, accepted)]
    return CaseResult(
        case=case, kind=kind, null=accepted is None, n_a=result.n_a, n_b=result.n_b,
        hit=None if accepted is None else any(names_truth(row, accepted) for _, row in top.iterrows()),
        n_significant=len(named), n_off_domain=len(off),
        truth_rank=true_rows[0] + 1 if true_rows else None, seconds=seconds,
        overall=result.overall.text if result.overall is not None else "",
        top=[{"concept": r["concept"], "direction": r["direction"], "category": r["category"],
              "auroc": round(float(r["auroc"]), 3), "q_value": float(r["q_value"]), "text": r["text"],
              "true": names_truth(r, accepted)} for _, r in top.iterrows()],
        off_domain=off, significant=list(named["concept"]),
    )


def case_folders(args: argparse.Namespace) -> tuple[list[tuple[str, str, Path, Path]], list[str]]:
    """Return ([(case, kind, folder a, folder b)], notes): the real cases found, the built cases written."""
    notes: list[str] = []
    wanted = args.cases or list(ACCEPTED)
    unknown = [c for c in wanted if c not in ACCEPTED]
    if unknown:
        raise SystemExit(f"unknown case(s) {unknown}; choose from {list(ACCEPTED)}")
    folders = []
    real = None if args.real_dir.lower() == "none" else Path(args.real_dir)
    for case in (c for c in wanted if c in REAL_CASES):
        if real is None:
            continue
        a, b = real / case / "a", real / case / "b"
        if a.is_dir() and b.is_dir():
            folders.append((case, "real", a, b))
        else:
            notes.append(f"skipped {case}: {a} or {b} not found (--real-dir)")
    images = Path(args.out) / "images" / f"seed-{args.seed}"
    for case in (c for c in wanted if c in BUILT_CASES):
        try:
            built = medical_pairs.build_case(case, args.n, args.seed)
        except Exception as error:  # noqa: BLE001  (a data package missing: say so, run the rest)
            notes.append(f"skipped {case}: {error}")
            continue
        a, b = medical_pairs.write_case(built, images / case, args.seed)
        folders.append((case, "built", a, b))
    return folders, notes


def print_table(results: list[CaseResult], notes: list[str]) -> None:
    """Print one row per case, then each case's top findings, then the summary line."""
    print(f"{'case':<22} {'kind':<5} {'n_a':>4} {'n_b':>4}  {'hit':<4} {'n_sig':>5} {'off_domain':>10} "
          f"{'truth@':>6} {'s':>5}")
    for r in results:
        hit = "null" if r.null else ("YES" if r.hit else "no")
        rank = "-" if r.truth_rank is None else str(r.truth_rank)
        print(f"{r.case:<22} {r.kind:<5} {r.n_a:>4} {r.n_b:>4}  {hit:<4} {r.n_significant:>5} "
              f"{r.n_off_domain:>10} {rank:>6} {r.seconds:>5.0f}")
    print()
    for r in results:
        print(f"{r.case}: {r.overall}")
        for i, f in enumerate(r.top, 1):
            mark = "*" if f["true"] else " "
            print(f"  {mark}{i}. [{f['concept']} -> {f['direction']}, AUROC {f['auroc']:.2f}] {f['text']}")
        if not r.top:
            print("   (no significant finding)")
    for note in notes:
        print(f"note: {note}")
    print()
    print(summary(results))


def summary(results: list[CaseResult]) -> str:
    """One line: hits / non-null cases, false findings on null cases, off-domain findings."""
    non_null = [r for r in results if not r.null]
    nulls = [r for r in results if r.null]
    hits = sum(bool(r.hit) for r in non_null)
    false = sum(r.n_significant for r in nulls)
    noisy = sum(r.n_significant > 0 for r in nulls)
    off = sum(r.n_off_domain for r in results if r.case not in NOT_MEDICAL)
    other = sum(r.n_off_domain for r in results if r.case in NOT_MEDICAL)
    return (f"hits {hits}/{len(non_null)} non-null cases; false findings on null cases {false} "
            f"({noisy}/{len(nulls)} null cases reported anything); off-domain findings on medical cases "
            f"{off} (on Fashion-MNIST, not medical: {other})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="real-medical-out",
                        help="folder for results.json and the built images (default real-medical-out)")
    parser.add_argument("--real-dir", default="/work/shared/real",
                        help="folder with CASE/a and CASE/b of the development pairs, or 'none'")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the built pairs and of the discovery/validation split (default 0)")
    parser.add_argument("--n", type=int, default=40, help="images per set of each built pair (default 40)")
    parser.add_argument("--cases", nargs="+", metavar="CASE",
                        help=f"cases to run (default all): {' '.join(ACCEPTED)}")
    parser.add_argument("--cache-dir", default=None,
                        help="score cache (default tellapart's: $TELLAPART_CACHE_DIR or ~/.cache/tellapart)")
    parser.add_argument("--no-cache", action="store_true", help="score every image afresh")
    parser.add_argument("--describer", default="shipped",
                        help="'shipped' (default), 'none' or a describer file from tellapart train")
    args = parser.parse_args(argv)

    folders, notes = case_folders(args)
    library = ConceptLibrary()
    categories = library.concept_table()["category"]
    describer = None if args.describer == "none" else args.describer
    results = []
    for case, kind, a, b in folders:
        started = time.perf_counter()
        result = tellapart.describe(a, b, seed=args.seed, library=library, describer=describer,
                                    cache_dir=args.cache_dir, use_cache=not args.no_cache, progress=False)
        results.append(score_case(case, kind, result, categories, time.perf_counter() - started))
        print(f"... {case}: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    print_table(results, notes)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    document = {"seed": args.seed, "n_built": args.n, "backend": library.version, "summary": summary(results),
                "notes": notes, "accepted": ACCEPTED, "cases": [asdict(r) for r in results]}
    (out / "results.json").write_text(json.dumps(document, indent=1))
    print(f"wrote {out / 'results.json'}")


if __name__ == "__main__":
    main()
