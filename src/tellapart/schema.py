"""The core schema: the score matrix, a finding, the overall test and the result.

Everything else depends on this module and it on no other part of tellapart (only ``io.atomic`` to write a
file safely; ``Result.to_html`` and ``str(result)`` hand the result to ``tellapart.report`` when called, as
pandas' ``DataFrame.plot`` does with its plotting module). The field lists of ``Finding`` and ``Overall``
are the one source of the DataFrame columns of ``Result.findings``, of the JSON document
(``Result.to_dict``; ``json_schema()`` returns it as JSON Schema) and of the README's description of both.

Concept categories are declared by each source on its concepts (``concepts.base.Concept.category``, one of
``concepts.base.CATEGORIES``); nothing downstream parses concept ids.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from tellapart.io.atomic import write_atomic

if TYPE_CHECKING:  # for annotations only: the core imports no part of the pipeline
    from tellapart.concepts.base import Concept
    from tellapart.io import ImageSet
    from tellapart.io.image import DecodedImage

Kind = Literal["presence", "magnitude"]

def _doc(text: str, **kwargs: Any) -> Any:
    """A dataclass field documented by ``text`` (kept in its metadata for ``json_schema``)."""
    return field(metadata={"doc": text}, **kwargs)


CONCEPT_TABLE_COLUMNS = ["kind", "category", "general", "threshold", "priority", "source", "source_version"]


def concept_table(
    concepts: Mapping[str, Concept], origin: Mapping[str, tuple[str, str]] | None = None
) -> pd.DataFrame:
    """Return one row per concept id (the index) with ``CONCEPT_TABLE_COLUMNS``.

    ``general`` is True for a concept some other concept names as its parent (a more general one);
    ``threshold`` is NaN for magnitude concepts; ``origin`` maps a concept id to (name, cache version) of
    the source that made it.
    """
    origin = origin or {}
    parents = {parent for c in concepts.values() for parent in c.parents}
    rows = [
        (c.kind, c.category, cid in parents, c.threshold if c.kind == "presence" else np.nan, c.priority,
         *origin.get(cid, ("", "")))
        for cid, c in concepts.items()
    ]
    return pd.DataFrame(rows, index=pd.Index(list(concepts), name="concept"), columns=CONCEPT_TABLE_COLUMNS)


def _empty_frame(columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame(columns=list(columns))


SKIPPED_COLUMNS = ["set", "source", "reason"]
DEGRADED_COLUMNS = ["set", "source", "what"]


@dataclass
class ScoreMatrix:
    """The score matrix of two image sets: the seam between the images and the statistics.

    Attributes:
        scores: images x concept ids (float32), one row per readable image.
        images: one row per readable image: ``set`` ("a"/"b"), ``source`` and ``key`` (content hash).
        concepts: one row per column of ``scores`` (``concept_table``): kind, category, whether it is a
            more general concept, threshold, ranking priority, and the name and cache version of the source
            that made it.
        skipped: one row per file that could not be used: ``set``, ``source``, ``reason``.
        degraded: one row per image used in a degraded form: ``set``, ``source``, ``what`` (e.g. its EXIF
            orientation could not be read, so it was used as stored).
        embeddings: float32 images x features (rows aligned with ``scores``): the backbone's pooled
            features of each image, then those of any other embedding source (an image-text model's),
            side by side (``ConceptLibrary.embedding_slices``); None when the library has no embedding
            source. A row is NaN where a source gave no embedding for that image.
        metadata: what is recorded about each image besides its pixels (rows aligned with ``scores``; one
            column per manifest column or DICOM header field, None where missing): the values the
            ``metadata`` concepts were made from, and the strata of ``describe(adjust_for=...)``.
        metadata_concepts: concept id -> (the ``Concept``, the ``metadata`` column it was made from), for
            the metadata concepts among ``scores``' columns (made per run, not in the library).
    """

    scores: pd.DataFrame
    images: pd.DataFrame
    concepts: pd.DataFrame = field(default_factory=lambda: concept_table({}))
    skipped: pd.DataFrame = field(default_factory=lambda: _empty_frame(SKIPPED_COLUMNS))
    degraded: pd.DataFrame = field(default_factory=lambda: _empty_frame(DEGRADED_COLUMNS))
    embeddings: np.ndarray | None = None
    metadata: pd.DataFrame = field(default_factory=pd.DataFrame)
    metadata_concepts: dict[str, tuple[Concept, str]] = field(default_factory=dict)

    @property
    def groups(self) -> np.ndarray:
        """The set label ("a" or "b") of each row."""
        return self.images["set"].to_numpy()


@dataclass(frozen=True)
class Finding:
    """One hypothesis tested on held-out images (describe) or on all images (verify)."""

    text: str = _doc("the plain-language sentence, from set A's point of view")
    concept: str = _doc('concept id, e.g. "stats.brightness"')
    phrase: str = _doc("the concept's phrase")
    kind: Kind = _doc('"presence" or "magnitude"')
    category: str = _doc("the concept's category (tellapart.concepts.base.CATEGORIES)")
    direction: Literal["a", "b"] = _doc('the set that shows more of the concept, "a" or "b"')
    auroc: float = _doc("effect size for the stated direction (0.5 = no difference)")
    auroc_ci: tuple[float, float] = _doc("95% confidence interval of the AUROC, [low, high]")
    p_value: float = _doc("uncorrected one-sided rank-test p-value")
    q_value: float = _doc("corrected for every tested hypothesis")
    weight: float = _doc("its weight in that correction (mean 1; set by the learned describer's confidence "
                         "on the discovery half, 1 without one)")
    significant: bool = _doc("q_value < alpha")
    explained_by: str | None = _doc("id of the stronger finding that accounts for this one, or null")
    share_a: float | None = _doc("presence: share of set A images showing the concept, else null")
    share_b: float | None = _doc("presence: share of set B images showing the concept, else null")
    median_a: float | None = _doc("median score in set A")
    median_b: float | None = _doc("median score in set B")
    examples_a: list[str] = _doc("sources of example images of set A")
    examples_b: list[str] = _doc("sources of example images of set B")
    auroc_unadjusted: float | None = _doc("with adjust_for: the plain AUROC on the same images (auroc, "
                                          "auroc_ci and p_value are then within strata of those columns), "
                                          "else null")
    p_value_unadjusted: float | None = _doc("with adjust_for: the plain one-sided rank-test p-value, "
                                            "else null")


@dataclass(frozen=True)
class Overall:
    """Is there any difference at all? Answered from the images themselves (``stats.classifier``)."""

    status: Literal["none", "named_only", "unexplained", "partly", "explained", "unavailable"] = _doc(
        'which case it is: "none", "named_only", "unexplained", "partly", "explained" or "unavailable"')
    text: str = _doc("the one-line answer shown in the terminal and the report")
    significant: bool = _doc("the image classifier's one-sided p_value < alpha")
    auroc: float | None = _doc("classifier trained on discovery embeddings, scored on validation")
    auroc_ci: tuple[float | None, float | None] = _doc("95% confidence interval of that AUROC")
    p_value: float | None = _doc("one-sided Mann-Whitney: held-out A images score more A-like than B")
    named_auroc: float | None = _doc("the same kind of model on the named findings' scores, measured on "
                                     "validation images that did not declare them (cross-fitted over two "
                                     "folds of the validation half, stats.classifier)")
    explained_share: float | None = _doc("clip((named_auroc - 0.5) / (auroc - 0.5), 0, 1); null if "
                                         "auroc <= 0.5")
    named_concepts: list[str] = _doc("the run's reported findings that are significant and not explained "
                                     "away")
    most_a_like: list[str] = _doc("held-out set-A images the classifier finds most A-like (sources)")
    most_b_like: list[str] = _doc("held-out set-B images it finds most B-like")
    n_features: int = _doc("embedding features the classifier saw")
    n_discovery: int = _doc("discovery images it was trained on")
    n_validation: int = _doc("validation images it was scored on")
    c: float | None = _doc("the regularisation chosen by cross-validation on discovery")
    reason: str | None = _doc('why the test did not run (status "unavailable"), else null')


@dataclass(frozen=True)
class Signal(Finding):
    """A hypothesis tested like a finding but not reported as one: a difference nobody can name in these
    images (``stats.reportable``). Signals form their own family in the correction."""

    reason: str = _doc("why it is a signal and not a finding")


@dataclass(frozen=True)
class Domain:
    """Are the run's images photos of everyday things (where ImageNet names and detectors of edits to photos
    mean something)? Decided from all images of both sets, never their labels
    (``stats.reportable.domain_check``)."""

    photo_like: bool | None = _doc("value >= threshold, unless the user declared the domain (describe's "
                                   "domain=, CLI --domain; measure then starts 'declared'); null when the "
                                   "check could not run (no embeddings and no ImageNet class scores; then "
                                   "nothing is withheld)")
    value: float | None = _doc("the measure over all images: the share of images the domain model takes "
                               "for photos, or (without embeddings) the median top-1 ImageNet probability")
    measure: str = _doc("what was measured: the share of images with P(photo) >= 0.5 under the domain "
                        "model on the image embeddings (its file version named), or the ImageNet model's "
                        "median top-1 probability")
    threshold: float = _doc("the value a photo-like run reaches (stats.reportable.PHOTO_LIKE_SHARE, or "
                            "PHOTO_LIKE_TOP1 for the top-1 measure)")
    withheld: list[str] = _doc("concept categories reported as signals, not findings, in this run")
    text: str = _doc("the decision in one sentence")


FINDING_COLUMNS: list[str] = [f.name for f in fields(Finding)]
SIGNAL_COLUMNS: list[str] = [f.name for f in fields(Signal)]
OVERALL_FIELDS: list[str] = [f.name for f in fields(Overall)]
DOMAIN_FIELDS: list[str] = [f.name for f in fields(Domain)]


@dataclass
class Result:
    """What tellapart found, with everything needed to check it.

    Attributes:
        findings: one row per hypothesis tested about a concept that may be reported in this run,
            significant ones first; columns ``FINDING_COLUMNS``, the fields of ``Finding`` (``auroc_ci``
            is a (low, high) tuple; ``examples_a``/``examples_b`` are lists of image sources).
        scores: the score matrix, images x concept ids (rows align with ``images``).
        images: per image row: ``set`` ("a"/"b"), ``source``, ``key``, ``split`` ("discovery"/"validation"
            or "all" for verify).
        skipped: files not used, and why: ``set``, ``source``, ``reason`` (unreadable, not an image,
            hidden, outside the manifest's folder, or a repeat of an image already in its set, counted once).
        duplicates: images present in both sets: ``key``, ``source_a``, ``source_b``.
        concepts: concept id -> Concept, for every concept in the library.
        n_a, n_b: readable images per set, each picture counted once.
        seed: seed of the discovery/validation split.
        alpha: significance level of the q-values.
        backend: the concept backend and every source's version.
        mode: "describe" or "verify".
        hypothesis: the text a person wrote (verify only).
        matches: the concepts the hypothesis was matched to (verify only): dicts with ``concept``,
            ``phrase``, ``similarity`` and ``direction``.
        n_screened: hypotheses screened (on the discovery half for describe).
        design: how describe used the images (``stats.contract.DESIGNS``): "maxt" (every concept tested on
            every image, permutation max-T) or "split" (discovery half chooses, validation half tests);
            None for verify.
        n_tested: hypotheses counted in the findings' correction: every concept of the findings family
            with "maxt" (``findings`` lists the significant ones and the strongest others), the rows of
            ``findings`` otherwise (None: ``len(findings)``; see ``tested_count``).
        notes: how files were read as samples where that changes what the counts mean, per set ("Set A:
            120 files read as 10 DICOM series ..."; ``ImageSet.notes``).
        sets: the two ImageSets, for reading example images again (the report's thumbnails).
        ci_level: level of the confidence intervals.
        embeddings: the images' backbone embeddings (rows align with ``images``), or None.
        embedding_blocks: the widths of the embedding's blocks, or None.
        embedding_version: the embedding's compatibility version (trained detectors must match it).
        overall: "is there any difference at all?" (describe only; None for verify, or when the library
            has no embedding source). See ``Overall``.
        degraded: images used in a degraded form: ``set``, ``source``, ``what``; and report parts that
            could not be made: ``set`` "", ``source`` the image or part, ``what`` why.
        localisation: concept id -> example image source -> float32 map on the backbone's grid: where an
            embedding detector (learned or saved finding) finds the concept in each example image of a
            significant finding (computed during ``describe``; the report draws it).
        signals: hypotheses about concepts nobody can name in these images (``stats.reportable``), tested
            like findings but as a family of their own (their correction costs the findings nothing) and
            never reported as findings; columns ``SIGNAL_COLUMNS``: a finding's and ``reason``.
        domain: are the images photos of everyday things, where ImageNet names and edit detectors mean
            something? (``Domain``; describe only.)
        outlines: concept id -> example image source -> the contours of the region the concept measured
            on it, each a list of [x, y] points in fractions of the image's width and height (3 decimals;
            computed during ``describe`` for sources that offer ``outlines``; the report draws them).
        adjusted_for: the metadata columns every finding was tested within strata of
            (``describe(adjust_for=...)``, ``stats.stratified``); their own concepts are not tested.
    """

    findings: pd.DataFrame
    scores: pd.DataFrame
    images: pd.DataFrame
    skipped: pd.DataFrame
    duplicates: pd.DataFrame
    concepts: dict[str, Concept]
    n_a: int
    n_b: int
    seed: int
    alpha: float
    backend: str
    mode: Literal["describe", "verify"] = "describe"
    hypothesis: str | None = None
    matches: list[dict[str, Any]] = field(default_factory=list)
    n_screened: int = 0
    sets: dict[str, ImageSet] = field(default_factory=dict, repr=False)
    ci_level: float = 0.95
    embeddings: np.ndarray | None = field(default=None, repr=False)
    embedding_blocks: tuple[int, ...] | None = None
    embedding_version: str | None = None
    overall: Overall | None = None
    degraded: pd.DataFrame = field(default_factory=lambda: _empty_frame(DEGRADED_COLUMNS))
    localisation: dict[str, dict[str, np.ndarray]] = field(default_factory=dict, repr=False)
    signals: pd.DataFrame = field(default_factory=lambda: _empty_frame(SIGNAL_COLUMNS))
    domain: Domain | None = None
    outlines: dict[str, dict[str, list[list[list[float]]]]] = field(default_factory=dict, repr=False)
    adjusted_for: list[str] = field(default_factory=list)
    design: str | None = None
    n_tested: int | None = None
    notes: list[str] = field(default_factory=list)
    _refs: dict[str, Any] | None = field(default=None, init=False, repr=False)

    @property
    def tested_count(self) -> int:
        """Hypotheses counted in the findings' correction (``n_tested``, else ``len(findings)``)."""
        return len(self.findings) if self.n_tested is None else int(self.n_tested)

    @property
    def tested_on(self) -> str:
        """Which images the p-values come from, in words: "all images" (verify, and the max-T design) or
        "held-out images" (the split design)."""
        return "held-out images" if self.mode == "describe" and self.design != "maxt" else "all images"

    @property
    def significant(self) -> pd.DataFrame:
        """The significant findings that no stronger finding explains."""
        f = self.findings
        return f[f["significant"] & f["explained_by"].isna()]

    def load_pixels(self, source: str) -> np.ndarray | None:
        """Return the RGB pixels of one image of either set by its source, or None if unreadable now."""
        image = self.load_image(source)
        return None if image is None else image.pixels

    def load_image(self, source: str) -> DecodedImage | None:
        """Return one image of either set by its source, decoded as for scoring, or None if unreadable now."""
        from tellapart.io import UnreadableImage

        if self._refs is None:
            self._refs = {ref.source: ref for s in self.sets.values() for ref in s.refs}
        ref = self._refs.get(source)
        if ref is None:
            return None
        try:
            return ref.load().decode()
        except UnreadableImage:
            return None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready dictionary (``json_schema()`` describes it)."""
        return result_to_dict(self)

    def to_json(self, path: str | os.PathLike | None = None) -> str:
        """Return the result as strict JSON text; also write it atomically to ``path`` if given."""
        text = json.dumps(self.to_dict(), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
        if path is not None:
            target = Path(path)
            if not target.parent.is_dir():
                raise FileNotFoundError(f"Cannot write {target}: the folder {target.parent} does not exist.")
            write_atomic(target, text)
        return text

    def to_html(self, path: str | os.PathLike) -> Path:
        """Write the self-contained HTML report to ``path`` (atomically) and return the path.

        A convenience: the report is drawn by ``tellapart.report.html.write_html``, imported on call, so
        the core does not depend on the presentation layer.
        """
        from tellapart.report.html import write_html

        return write_html(self, Path(path))

    def __str__(self) -> str:
        """The terminal table (``tellapart.report.table.findings_table``, imported on call)."""
        from tellapart.report.table import findings_table

        return findings_table(self)


# --- JSON: derived from the dataclasses' fields and their declared types --------------------------------


def tellapart_version() -> str:
    """Return the installed tellapart version, or ``"unknown"`` when running from an uninstalled tree."""
    import tellapart

    version = getattr(tellapart, "__version__", None)
    if version:
        return str(version)
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("tellapart")
    except PackageNotFoundError:
        return "unknown"


def _number(value: Any) -> float | None:
    """A plain float, or None for missing, NaN and infinite values (strict JSON has no token for them)."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _as_list(value: Any) -> list[Any]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, np.ndarray):
        return value.tolist()
    return list(value)


def _optional_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


# Declared field type (as written in the dataclass) -> JSON converter and JSON Schema type.
_JSON_TYPES: dict[str, tuple[Any, dict[str, Any]]] = {
    "str": (str, {"type": "string"}),
    "Kind": (str, {"enum": ["presence", "magnitude"]}),
    "str | None": (_optional_str, {"type": ["string", "null"]}),
    "bool": (bool, {"type": "boolean"}),
    "bool | None": (lambda v: None if v is None else bool(v), {"type": ["boolean", "null"]}),
    "int": (int, {"type": "integer"}),
    "float": (_number, {"type": ["number", "null"]}),
    "float | None": (_number, {"type": ["number", "null"]}),
    "list[str]": (lambda v: [str(s) for s in _as_list(v)], {"type": "array", "items": {"type": "string"}}),
    "tuple[float, float]": (lambda v: [_number(x) for x in v],
                            {"type": "array", "items": {"type": ["number", "null"]}, "minItems": 2,
                             "maxItems": 2}),
    "tuple[float | None, float | None]": (
        lambda v: [_number(x) for x in (v if v is not None else (None, None))],
        {"type": "array", "items": {"type": ["number", "null"]}, "minItems": 2, "maxItems": 2}),
}


def _json_type(annotation: str) -> tuple[Any, dict[str, Any]]:
    if annotation.startswith("Literal["):
        values = [v.strip().strip("'\"") for v in annotation[len("Literal["):-1].split(",")]
        return str, {"enum": values}
    return _JSON_TYPES[annotation]


def record_to_dict(cls: type, record: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``record`` (a row of a ``Finding`` or ``Overall`` table, or such an object's fields) as JSON
    values in the dataclass's field order, each converted by its declared type (NaN becomes None)."""
    return {f.name: _json_type(str(f.type))[0](record[f.name]) for f in fields(cls)}


def _records(frame: pd.DataFrame | None) -> list[dict[str, Any]]:
    if frame is None or len(frame) == 0:
        return []
    return frame.to_dict(orient="records")


def _object_record(obj: Any) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


def result_to_dict(result: Result) -> dict[str, Any]:
    """Return the JSON-ready dictionary of a ``Result`` (``json_schema()`` describes it)."""
    findings = [record_to_dict(Finding, row) for row in _records(result.findings)]
    verify = result.mode == "verify"
    overall = None if result.overall is None else record_to_dict(Overall, _object_record(result.overall))
    domain = None if result.domain is None else record_to_dict(Domain, _object_record(result.domain))
    return {
        "version": tellapart_version(),
        "mode": str(result.mode),
        "hypothesis": str(result.hypothesis) if verify and result.hypothesis is not None else None,
        "matches": [_match_to_dict(m) for m in result.matches] if verify else [],
        "n_a": int(result.n_a),
        "n_b": int(result.n_b),
        "backend": str(result.backend),
        "seed": int(result.seed),
        "alpha": float(result.alpha),
        "n_screened": int(result.n_screened),
        "n_tested": result.tested_count,
        "design": None if result.design is None else str(result.design),
        "notes": [str(note) for note in result.notes],
        "findings": findings,
        "skipped": [{name: str(r[name]) for name in SKIPPED_COLUMNS} for r in _records(result.skipped)],
        "degraded": [{name: str(r[name]) for name in DEGRADED_COLUMNS} for r in _records(result.degraded)],
        "duplicates": [{name: str(r[name]) for name in ("key", "source_a", "source_b")}
                       for r in _records(result.duplicates)],
        "overall": overall,
        "signals": [record_to_dict(Signal, row) for row in _records(result.signals)],
        "domain": domain,
        "outlines": outlines_to_json(result.outlines),
        "adjusted_for": [str(column) for column in result.adjusted_for],
    }


def outlines_to_json(outlines: Mapping[str, Mapping[str, Sequence[Any]]]) -> dict[str, Any]:
    """Return ``Result.outlines`` as JSON values: concept -> image source -> contours, each a list of
    [x, y] fractions rounded to 3 decimals (consecutive repeats after rounding dropped)."""
    return {str(concept): {str(source): round_contours(contours) for source, contours in per.items()}
            for concept, per in outlines.items()}


def round_contours(contours: Sequence[Any]) -> list[list[list[float]]]:
    """Return contours ((k, 2) arrays or lists of [x, y] fractions) as lists rounded to 3 decimals, with
    consecutive repeats dropped and contours left with fewer than 2 points removed."""
    rounded = [_contour(c) for c in contours]
    return [c for c in rounded if len(c) >= 2]


def _contour(points: Any) -> list[list[float]]:
    rounded = np.round(np.asarray(points, dtype=np.float64).reshape(-1, 2), 3)
    kept = [point for i, point in enumerate(rounded.tolist()) if i == 0 or point != rounded[i - 1].tolist()]
    return [[float(x), float(y)] for x, y in kept]


def _match_to_dict(match: Mapping[str, Any]) -> dict[str, Any]:
    direction = match.get("direction")
    return {
        "concept": str(match["concept"]),
        "phrase": str(match.get("phrase", "")),
        "similarity": _number(match.get("similarity")),
        "direction": str(direction) if direction is not None else None,
    }


def _object_schema(cls: type, description: str) -> dict[str, Any]:
    properties = {}
    for f in fields(cls):
        spec = dict(_json_type(str(f.type))[1])
        spec["description"] = f.metadata.get("doc", "")
        properties[f.name] = spec
    return {"type": "object", "description": description, "properties": properties,
            "required": [f.name for f in fields(cls)],
            "additionalProperties": False}


def json_schema() -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) of ``Result.to_json``'s document, derived from the fields."""
    strings = {"type": "array", "items": {"type": "object", "additionalProperties": {"type": "string"}}}
    finding = _object_schema(Finding, "one hypothesis tested: statistics from the validation half "
                                      "(describe) or from all images (verify)")
    overall = _object_schema(Overall, "is there any difference at all? (describe only)")
    overall["type"] = ["object", "null"]
    signal = _object_schema(Signal, "a hypothesis about a concept nobody can name in these images: tested "
                                    "like a finding, in a correction of its own, never reported as one")
    domain = _object_schema(Domain, "are the images photos of everyday things? (describe only)")
    domain["type"] = ["object", "null"]
    point = {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}
    contours = {"type": "array", "items": {"type": "array", "items": point}}
    properties: dict[str, Any] = {
        "version": {"type": "string", "description": "tellapart version that produced the file"},
        "mode": {"enum": ["describe", "verify"]},
        "hypothesis": {"type": ["string", "null"], "description": "the text a person wrote (verify only)"},
        "matches": {"type": "array", "description": "concepts the hypothesis was matched to (verify only)",
                    "items": {"type": "object", "properties": {
                        "concept": {"type": "string"}, "phrase": {"type": "string"},
                        "similarity": {"type": ["number", "null"]},
                        "direction": {"enum": ["a", "b", None]}}}},
        "n_a": {"type": "integer", "description": "readable images in set A"},
        "n_b": {"type": "integer", "description": "readable images in set B"},
        "backend": {"type": "string", "description": "concept backend and source versions"},
        "seed": {"type": "integer", "description": "seed of the discovery/validation split"},
        "alpha": {"type": "number", "description": "significance level for q-values"},
        "n_screened": {"type": "integer", "description": "hypotheses screened"},
        "n_tested": {"type": "integer", "description": "hypotheses counted in the findings' correction: "
                     "len(findings) with design split; every concept of the findings family with design "
                     "maxt (findings then lists the significant ones and the strongest others)"},
        "notes": {"type": "array", "items": {"type": "string"}, "description": "how files were read as "
                  "samples where that changes the counts, e.g. 'Set A: 120 files read as 10 DICOM series'"},
        "design": {"enum": ["maxt", "split", None], "description": "maxt: every concept tested on every "
                   "image (permutation step-down max-T; intervals simultaneous over all of them); split: "
                   "hypotheses chosen on a discovery half, tested on the validation half; null for verify"},
        "findings": {"type": "array", "items": finding, "description": "significant first"},
        "skipped": {**strings, "description": f"files not used, and why (unreadable, hidden, a repeat of an "
                                              f"image in the same set...): {SKIPPED_COLUMNS}"},
        "degraded": {**strings, "description": f"images used in a degraded form: {DEGRADED_COLUMNS}"},
        "duplicates": {**strings, "description": "images present in both sets: key, source_a, source_b"},
        "overall": overall,
        "signals": {"type": "array", "items": signal, "description": "significant first; never findings"},
        "domain": domain,
        "outlines": {"type": "object", "description": "concept id -> example image source -> contours of the "
                     "region the concept measured ([x, y] fractions of the width and height)",
                     "additionalProperties": {"type": "object", "additionalProperties": contours}},
        "adjusted_for": {"type": "array", "items": {"type": "string"}, "description": "the metadata columns "
                         "every finding was tested within strata of (adjust_for); not tested themselves"},
    }
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "tellapart result",
            "type": "object", "properties": properties, "required": list(properties),
            "additionalProperties": False}
