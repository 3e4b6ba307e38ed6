"""Running a suite: score every pair once, run every method on the same scores, score the answers.

Each pair's images are scored once through ``ConceptLibrary.score_sets`` with a score cache (base pool
images recur across pairs and are scored once), then every method sees the same score matrix, so only the
method differs. Seconds per pair are the method's own time on that matrix; the shared scoring time is
reported separately.
"""

from __future__ import annotations

import io
import json
import os
import platform
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tellapart.bench.methods import METHODS, Method, PairContext
from tellapart.bench.scoring import MATCH_QUANTILE, MATCH_THRESHOLD, Scorer
from tellapart.bench.suites import (
    MULTI,
    REAL_HARD,
    TIERS,
    BenchPair,
    PairFactory,
    SuiteConfig,
    get_suite,
    real_pairs,
    synthetic_pairs,
)
from tellapart.io.atomic import write_atomic

ACC_SECTIONS = (*TIERS, MULTI, "real", REAL_HARD, "null")


@dataclass
class BenchReport:
    """The outcome of a benchmark run.

    Attributes:
        suite: the suite's config.
        rows: one row per (pair, method): ``pair``, ``section``, ``x`` (swept value), ``method``,
            ``acc1``, ``acc5``, ``acc1_reported`` (Acc@1 under the method's own reporting rule: 0 on a
            pair where it would report nothing), ``reported``, ``seconds``, ``findings`` (top 5
            "id:direction"), ``recall`` and ``precision`` (multi-edit pairs of methods that test their
            findings, else None).
        pairs: one row per pair: ``pair``, ``section``, ``truth``, ``n_a``, ``n_b``, ``scoring_seconds``.
        notes: skipped data sources and other remarks.
        seconds: wall time of the whole run.
    """

    suite: SuiteConfig
    seed: int
    rows: pd.DataFrame
    pairs: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    n_images_scored: int = 0

    @property
    def method_names(self) -> list[str]:
        """The methods that ran, in ``METHODS`` order."""
        ran = set(self.rows["method"]) if len(self.rows) else set()
        return [name for name in METHODS if name in ran]

    def summary(self) -> dict[str, dict[str, Any]]:
        """Return per method: Acc@1 and Acc@5 per section (of the full ranking, as VisDiff scores it),
        Acc@1 under the method's own reporting rule per section (``acc@1_reported``: what a user of that
        method would be told), multi-edit recall and precision, null false-finding rate, seconds per
        pair."""
        out: dict[str, dict[str, Any]] = {}
        for name in self.method_names:
            method = METHODS[name]
            mine = self.rows[self.rows["method"] == name]
            acc1, acc5, reported = {}, {}, {}
            for section in ACC_SECTIONS:
                part = mine[mine["section"] == section]
                acc1[section] = _mean(part["acc1"])
                acc5[section] = _mean(part["acc5"])
                reported[section] = _mean(part["acc1_reported"]) if "acc1_reported" in part else None
            null = mine[mine["section"] == "null"]
            multi = mine[mine["section"] == MULTI]
            out[name] = {
                "acc@1": acc1,
                "acc@5": acc5,
                "acc@1_reported": reported,
                "multi_edit": {key: _mean(multi[key].dropna()) if key in multi else None
                               for key in ("recall", "precision")} | {"n_pairs": int(len(multi))},
                "null_false_finding_rate": _mean(null["reported"].astype(float)),
                "n_null_pairs": int(len(null)),
                "seconds_per_pair": _mean(mine["seconds"]),
                "reporting_rule": method.reporting_rule,
            }
        return out

    def sweeps(self) -> dict[str, dict[str, dict[str, float]]]:
        """Return {sweep: {method: {x: Acc@5}}} for the purity and concentration sweeps."""
        out: dict[str, dict[str, dict[str, float]]] = {}
        for sweep in ("sweep_purity", "sweep_concentration"):
            part = self.rows[self.rows["section"] == sweep]
            if part.empty:
                continue
            table = part.groupby(["method", "x"])["acc5"].mean()
            out[sweep.removeprefix("sweep_")] = {
                method: {f"{x:g}": float(v) for (m, x), v in table.items() if m == method}
                for method in self.method_names
            }
        return out

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready results (top-level ``methods`` keyed by method name)."""
        counts = self.pairs["section"].value_counts().to_dict() if len(self.pairs) else {}
        return {
            "suite": self.suite.name,
            "config": self.suite.__dict__,
            "seed": self.seed,
            "machine": _machine(),
            "seconds": round(self.seconds, 1),
            "images_scored": self.n_images_scored,
            "scoring_seconds_per_pair": _mean(self.pairs["scoring_seconds"]) if len(self.pairs) else None,
            "pairs_per_section": {k: int(v) for k, v in counts.items()},
            "match_threshold": {"value": MATCH_THRESHOLD, "quantile_of_unrelated_pairs": MATCH_QUANTILE},
            "methods": self.summary(),
            "sweeps": self.sweeps(),
            "notes": list(self.notes),
            "pairs": json.loads(self.rows.to_json(orient="records")),
            "truth": json.loads(self.pairs.to_json(orient="records")),
        }

    def to_json(self) -> str:
        """Return the JSON document of ``to_dict`` (indented; what ``--json`` and ``results.json`` hold)."""
        return json.dumps(self.to_dict(), indent=2, default=str)

    def markdown(self) -> str:
        """Return the results as a markdown table (one row per method) with the reporting rules below it."""
        summary = self.summary()
        shown = (*TIERS, "real", REAL_HARD)
        head = ["method", *[f"{t} @1 / @5" for t in shown], "null false findings", "s / pair"]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for name, row in summary.items():
            cells = [name] + [f"{_fmt(row['acc@1'][t])} / {_fmt(row['acc@5'][t])}" for t in shown]
            cells += [_fmt(row["null_false_finding_rate"]), f"{row['seconds_per_pair']:.3f}"]
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", "Acc@1 under each method's own reporting rule (0 where it would report nothing; "
                  "tellapart's findings are always reported):", "",
                  "| method | " + " | ".join(f"{t} @1" for t in shown) + " |",
                  "|" + "---|" * (len(shown) + 1)]
        for name, row in summary.items():
            lines.append("| " + " | ".join([name] + [_fmt(row["acc@1_reported"][t]) for t in shown]) + " |")
        counts = self.pairs["section"].value_counts().to_dict() if len(self.pairs) else {}
        lines += [
            "",
            f"Suite `{self.suite.name}`, seed {self.seed}: "
            + ", ".join(f"{counts.get(s, 0)} {s}" for s in ACC_SECTIONS)
            + f" pairs; {self.n_images_scored} images scored; {self.seconds:.0f} s in all on {_machine()}.",
            "Reporting rules (null false findings): "
            + "; ".join(f"{name}: {METHODS[name].reporting_rule}" for name in self.method_names)
            + ".",
        ]
        multi = [f"{name} {_fmt(row['multi_edit']['recall'])} / {_fmt(row['multi_edit']['precision'])}"
                 for name, row in summary.items() if row["multi_edit"]["recall"] is not None]
        if multi:
            lines.append("Multi-edit pairs (2-3 medium-tier edits each), recall / precision of the "
                         "significant findings (precision counts true edits and findings marked explained): "
                         + "; ".join(multi) + ".")
        lines += [f"Note: {note}" for note in self.notes]
        return "\n".join(lines)


def _mean(values: pd.Series) -> float | None:
    return None if len(values) == 0 else round(float(values.mean()), 4)


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _machine() -> str:
    cores = os.cpu_count()
    return f"{platform.machine()}, {cores} cores, {platform.system()}, Python {platform.python_version()}"


def run_bench(
    suite: str | SuiteConfig = "quick",
    json_path: str | os.PathLike | None = None,
    out_dir: str | os.PathLike | None = None,
    seed: int = 0,
    progress: bool = True,
    *,
    cache_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
    library: Any = None,
    methods: list[str] | None = None,
    describer: Any = "shipped",
    families: list[str] | None = None,
    ray: str | None = None,
) -> BenchReport:
    """Run a benchmark suite and return its report.

    Parameters:
        suite: "quick" (under 5 minutes on 2 cores with an empty cache), "full" (>= 50 pairs per tier,
            100 images per set), or a ``SuiteConfig``.
        json_path: also write the JSON results there (atomically).
        out_dir: also write ``results.json``, ``results.md`` and the sweep plots (PNG) into this folder.
        seed: makes every pair, split and edit reproducible.
        progress: show a progress bar over pairs.
        cache_dir: the score cache (default ``tellapart.concepts.cache.default_cache_dir()``:
            ``$TELLAPART_CACHE_DIR``, else the user cache folder); ``use_cache=False`` turns it off.
        library: the concept library (default: the offline backend).
        methods: names of the methods to run (default all of ``METHODS``).
        describer: the learned describer of the trained tellapart methods ("shipped", a path, a
            ``LearnedDescriber``; None runs them untrained).
        families: only synthetic pairs whose edits all come from these families (the held-out-family
            protocol); real pairs are kept. Default: every family.
        ray: score each pair's images the cache lacks on a Ray cluster (``concepts.distributed``; its
            address, or "auto"), one session for the whole run; the methods then read the cache. Needs
            the cache.

    Returns:
        A ``BenchReport`` with ``.markdown()``, ``.to_dict()`` and ``.to_json()``.
    """
    from tellapart.concepts.distributed import check_ray, optional_ray_session
    from tellapart.concepts.library import ConceptLibrary
    from tellapart.stats.describer import load_describer

    config = get_suite(suite)
    chosen = _methods(methods)
    started = time.perf_counter()
    library = library or ConceptLibrary()
    judge = _Judge.for_library(library, load_describer(describer), seed)
    factory = PairFactory(config, seed, families=families)
    rows: list[dict[str, Any]] = []
    pair_rows: list[dict[str, Any]] = []
    keys: set[str] = set()
    check_ray(ray, use_cache)
    with (_score_cache(cache_dir, use_cache) as cache, optional_ray_session(ray),
          _progress(progress, config) as advance):
        for pair in _all_pairs(factory, config, seed, factory.notes):
            table, scoring_seconds = _score_pair(pair, library, cache, ray)
            keys.update(table.images["key"])
            rows += _run_methods(pair, table, chosen, judge)
            pair_rows.append(_truth_row(pair, scoring_seconds))
            advance()
    report = BenchReport(
        config,
        seed,
        pd.DataFrame(rows),
        pd.DataFrame(pair_rows),
        factory.notes,
        time.perf_counter() - started,
        len(keys),
    )
    _write(report, json_path, out_dir)
    return report


@dataclass
class _Judge:
    """What every pair is measured with: the answer scorer and what a method may know besides the scores."""

    scorer: Scorer
    seed: int
    thresholds: dict[str, float]
    priority: dict[str, int]
    library: Any
    describer: Any

    @classmethod
    def for_library(cls, library: Any, describer: Any, seed: int) -> _Judge:
        """Build the judge of a concept library and a loaded describer (None: untrained)."""
        return cls(Scorer(library.concepts, encoder=library.text_encoder), seed, library.thresholds(),
                   library.priority(), library, describer)

    def context(self, concepts: pd.DataFrame, embeddings: np.ndarray | None = None) -> PairContext:
        """The methods' context for a score matrix whose columns are the rows of ``concepts`` (its concept
        table, ``ScoreMatrix.concepts``) and whose images have ``embeddings``."""
        ranker = None if self.describer is None else self.describer.ranker(concepts)
        return PairContext(self.seed, self.thresholds, self.priority, ranker,
                           categories=concepts["category"].to_dict(), embeddings=embeddings)


def _methods(names: list[str] | None) -> list[Method]:
    if names is None:
        return list(METHODS.values())
    unknown = [n for n in names if n not in METHODS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; use any of {list(METHODS)}")
    return [METHODS[n] for n in names]


def _all_pairs(factory: PairFactory, config: SuiteConfig, seed: int, notes: list[str]):
    """Build the suite's pairs, synthetic first, then real (sources not installed add a note)."""
    yield from synthetic_pairs(factory)
    yield from real_pairs(config, seed, notes, dilution=lambda: factory.real_dilution)


def _score_pair(pair: BenchPair, library: Any, cache: Any, ray: str | None = None) -> tuple[Any, float]:
    """Score both sets of a pair once (with ``ray``, on that Ray cluster first); return the score table and
    the seconds it took."""
    from tellapart.concepts.distributed import score_sets
    from tellapart.io import ImageSet

    start = time.perf_counter()
    sets = {"a": ImageSet.from_spec(pair.set_a, name="A"), "b": ImageSet.from_spec(pair.set_b, name="B")}
    table = score_sets(library, sets, cache, ray=ray)
    return table, time.perf_counter() - start


def _run_methods(pair: BenchPair, table: Any, methods: list[Method], judge: _Judge) -> list[dict[str, Any]]:
    """Run every method on the pair's score matrix and score its answer; one row per method."""
    context = judge.context(table.concepts, table.embeddings)
    rows = []
    for method in methods:
        start = time.perf_counter()
        output = method.run(table.scores, table.groups, context)
        seconds = time.perf_counter() - start
        # On a null pair only what the method reports counts (its ranking always exists).
        shown = output.findings if pair.differences or output.reported else []
        recall = precision = None
        if pair.section == MULTI and output.significant is not None:
            recall, precision = judge.scorer.recall_precision(output.significant, pair.differences)
        rows.append(
            {
                "pair": pair.name,
                "section": pair.section,
                "x": pair.x,
                "method": method.name,
                "acc1": judge.scorer.accuracy(shown, pair.differences, 1),
                "acc5": judge.scorer.accuracy(shown, pair.differences, 5),
                "acc1_reported": judge.scorer.accuracy(output.findings if output.reported else [],
                                                       pair.differences, 1),
                "reported": bool(output.reported),
                "seconds": seconds,
                "findings": [f"{cid}:{d}" for cid, d in output.findings[:5]],
                "recall": recall,
                "precision": precision,
            }
        )
    return rows


def _truth_row(pair: BenchPair, scoring_seconds: float) -> dict[str, Any]:
    """The pair's row of ``BenchReport.pairs``: its known differences and sizes."""
    return {
        "pair": pair.name,
        "section": pair.section,
        "x": pair.x,
        "truth": [d.to_dict() for d in pair.differences],
        "n_a": len(pair.set_a),
        "n_b": len(pair.set_b),
        "scoring_seconds": scoring_seconds,
    }


@contextmanager
def _score_cache(cache_dir: str | os.PathLike | None, use_cache: bool) -> Iterator[Any]:
    """Open the score cache (the default folder unless ``cache_dir``), or yield None without one."""
    from tellapart.concepts.cache import ScoreCache, default_cache_dir

    if not use_cache:
        yield None
        return
    cache = ScoreCache(cache_dir or default_cache_dir())
    try:
        yield cache
    finally:
        cache.close()


@contextmanager
def _progress(enabled: bool, config: SuiteConfig) -> Iterator[Callable[[], None]]:
    """Yield a function that advances a progress bar over the suite's pairs (a no-op if disabled)."""
    if not enabled:
        yield lambda: None
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=_expected_pairs(config), unit="pair", desc=f"Benchmark ({config.name})", leave=False)
    try:
        yield lambda: bar.update(1)
    finally:
        bar.close()


def _expected_pairs(config: SuiteConfig) -> int:
    """How many pairs the suite builds (an estimate: real sources that are not installed are skipped)."""
    from tellapart.bench.suites import CONCENTRATION_SWEEP, PURITY_SWEEP, REAL_NULLS, REAL_PAIRS

    per_source = Counter(source for source, *_ in REAL_PAIRS)
    real = sum(min(count, config.real_pairs) for count in per_source.values())
    return (
        (len(TIERS) + 1) * config.pairs_per_tier
        + config.null_pairs
        + config.sweep_pairs * (len(PURITY_SWEEP) + len(CONCENTRATION_SWEEP))
        + real * (1 + config.real_hard_draws)
        + (len(REAL_NULLS) if config.null_pairs and config.real_pairs else 0)
    )


def _write(
    report: BenchReport, json_path: str | os.PathLike | None, out_dir: str | os.PathLike | None
) -> None:
    data = report.to_json()
    if json_path is not None:
        write_atomic(json_path, data)
    if out_dir is not None:
        folder = Path(out_dir)
        folder.mkdir(parents=True, exist_ok=True)
        write_atomic(folder / "results.json", data)
        write_atomic(folder / "results.md", report.markdown() + "\n")
        for sweep, curves in report.sweeps().items():
            write_atomic(folder / f"sweep_{sweep}.png", _plot(sweep, curves, report.suite.name))


def _plot(sweep: str, curves: dict[str, dict[str, float]], suite: str) -> bytes:
    """A PNG of Acc@5 against the swept knob, one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for method, points in curves.items():
        xs = sorted(points, key=float)
        ax.plot(
            [float(x) for x in xs],
            [points[x] for x in xs],
            marker="o",
            linewidth=2.5 if method.startswith("tellapart") else 1.2,
            label=method,
        )
    what = "purity (share of A's images edited)" if sweep == "purity" else "concentration (share not diluted)"
    ax.set_xlabel(what)
    ax.set_ylabel("Acc@5" + (" (at 0: 1 = nothing reported)" if sweep == "purity" else ""))
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"{sweep.capitalize()} sweep, hard tier ({suite} suite)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()
