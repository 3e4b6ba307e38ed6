"""The JSON form of a ``Result``: a public, strict contract.

The text is strict JSON (no ``NaN`` or ``Infinity`` tokens: a number that is undefined is ``null``), UTF-8,
indented by two spaces. Top level::

    {
      "version":     str,           tellapart version that produced the file
      "mode":        "describe" | "verify",
      "hypothesis":  str | null,    the text a person wrote (verify only)
      "matches":     [              concepts the hypothesis was matched to (verify only, else [])
        {"concept": str, "phrase": str, "similarity": float, "direction": "a" | "b" | null}
      ],
      "n_a":         int,           readable images in set A
      "n_b":         int,           readable images in set B
      "backend":     str,           concept backend and source versions
      "seed":        int,           seed of the discovery/validation split
      "alpha":       float,         significance level for q-values
      "n_screened":  int,           hypotheses screened (on the discovery half for describe)
      "n_tested":    int,           hypotheses tested (= len(findings)), all counted in the correction
      "findings":    [finding, ...] in the order of ``Result.findings`` (significant first)
      "skipped":     [{"set": "a" | "b", "source": str, "reason": str}, ...]
      "duplicates":  [{"key": str, "source_a": str, "source_b": str}, ...]  images present in both sets
      "overall":     overall | null  is there any difference at all? (describe with the default backend;
                                    null for verify and for libraries without embeddings)
    }

``overall`` answers from the images themselves (see ``tellapart.stats.classifier``)::

    {
      "status":          "none" | "named_only" | "unexplained" | "partly" | "explained" | "unavailable",
      "text":            str,          the one-line answer shown in the terminal and the report
      "significant":     bool,         the image classifier's one-sided p_value < alpha
      "auroc":           float | null, classifier trained on discovery embeddings, scored on validation
      "auroc_ci":        [float | null, float | null],
      "p_value":         float | null, one-sided Mann-Whitney: held-out A images score more A-like than B
      "named_auroc":     float | null, the same model on the significant, unexplained findings' scores
      "explained_share": float | null, clip((named_auroc - 0.5) / (auroc - 0.5), 0, 1); null if auroc <= 0.5
      "named_concepts":  [str, ...],   the findings behind named_auroc
      "most_a_like":     [str, ...],   held-out set-A images the classifier finds most A-like (sources)
      "most_b_like":     [str, ...],   held-out set-B images it finds most B-like
      "n_features":      int,  "n_discovery": int,  "n_validation": int,
      "c":               float | null, the regularisation chosen by cross-validation on discovery
      "reason":          str | null    why the test did not run (status "unavailable")
    }

Each finding::

    {
      "text":         str,          the plain-language sentence, from set A's point of view
      "concept":      str,          concept id, e.g. "stats.brightness"
      "phrase":       str,          the concept's phrase
      "kind":         "presence" | "magnitude",
      "direction":    "a" | "b",    the set that shows more of the concept
      "auroc":        float,        effect size for the stated direction (0.5 = no difference)
      "auroc_ci":     [float, float],  confidence interval [low, high]
      "p_value":      float,        uncorrected
      "q_value":      float,        corrected for every tested hypothesis
      "weight":       float,        its weight in that correction (mean 1; set by the learned describer's
                                    confidence on the discovery half, 1 without one)
      "significant":  bool,         q_value < alpha
      "explained_by": str | null,   id of the stronger finding that accounts for this one
      "share_a":      float | null, presence: share of set A images showing the concept
      "share_b":      float | null,
      "median_a":     float | null, median score in set A
      "median_b":     float | null,
      "examples_a":   [str, ...],   sources of example images of set A
      "examples_b":   [str, ...]
    }

The statistics in a finding come from the validation half (describe) or from all images (verify).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tellapart.io.atomic import write_atomic

FINDING_FIELDS = [
    "text", "concept", "phrase", "kind", "direction", "auroc", "auroc_ci", "p_value", "q_value", "weight",
    "significant", "explained_by", "share_a", "share_b", "median_a", "median_b", "examples_a", "examples_b",
]
_FLOAT_FIELDS = ("auroc", "p_value", "q_value", "weight", "share_a", "share_b", "median_a", "median_b")


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


def result_to_dict(result: Any) -> dict[str, Any]:
    """Return the JSON-ready dictionary of a ``Result`` (schema in this module's docstring)."""
    findings = [finding_to_dict(row) for row in _records(result.findings)]
    verify = result.mode == "verify"
    document = {
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
        "n_tested": len(findings),
        "findings": findings,
        "skipped": [
            {"set": str(r["set"]), "source": str(r["source"]), "reason": str(r["reason"])}
            for r in _records(result.skipped)
        ],
        "duplicates": [
            {"key": str(r["key"]), "source_a": str(r["source_a"]), "source_b": str(r["source_b"])}
            for r in _records(result.duplicates)
        ],
    }
    document["overall"] = overall_to_dict(getattr(result, "overall", None))
    return document


OVERALL_FIELDS = [
    "status", "text", "significant", "auroc", "auroc_ci", "p_value", "named_auroc", "explained_share",
    "named_concepts", "most_a_like", "most_b_like", "n_features", "n_discovery", "n_validation", "c",
    "reason",
]


def overall_to_dict(overall: dict[str, Any] | None) -> dict[str, Any] | None:
    """Return ``Result.overall`` in the JSON schema's field order (None stays None; NaN becomes null)."""
    if overall is None:
        return None
    reason = overall.get("reason")
    out = {
        "status": str(overall["status"]),
        "text": str(overall["text"]),
        "significant": bool(overall["significant"]),
        "auroc_ci": [_number(v) for v in overall.get("auroc_ci") or (None, None)],
        "named_concepts": [str(c) for c in overall.get("named_concepts", [])],
        "most_a_like": [str(s) for s in overall.get("most_a_like", [])],
        "most_b_like": [str(s) for s in overall.get("most_b_like", [])],
        "n_features": int(overall.get("n_features", 0)),
        "n_discovery": int(overall.get("n_discovery", 0)),
        "n_validation": int(overall.get("n_validation", 0)),
        "reason": str(reason) if reason is not None else None,
    }
    out.update({name: _number(overall.get(name)) for name in ("auroc", "p_value", "named_auroc",
                                                               "explained_share", "c")})
    return {name: out[name] for name in OVERALL_FIELDS}


def finding_to_dict(row: dict[str, Any]) -> dict[str, Any]:
    """Return one finding (a row of ``Result.findings`` as a dict) in the JSON schema's field order."""
    out: dict[str, Any] = {
        "text": str(row["text"]),
        "concept": str(row["concept"]),
        "phrase": str(row["phrase"]),
        "kind": str(row["kind"]),
        "direction": str(row["direction"]),
        "auroc_ci": [_number(v) for v in row["auroc_ci"]],
        "significant": bool(row["significant"]),
        "explained_by": row["explained_by"] if isinstance(row["explained_by"], str) else None,
        "examples_a": [str(s) for s in _as_list(row["examples_a"])],
        "examples_b": [str(s) for s in _as_list(row["examples_b"])],
    }
    out.update({name: _number(row[name]) for name in _FLOAT_FIELDS})
    return {name: out[name] for name in FINDING_FIELDS}


def write_json(result: Any, path: str | os.PathLike | None = None) -> str:
    """Return the result as strict JSON text; if ``path`` is given, also write it there atomically."""
    text = json.dumps(result_to_dict(result), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    if path is not None:
        target = Path(path)
        if not target.parent.is_dir():
            raise FileNotFoundError(f"Cannot write {target}: the folder {target.parent} does not exist.")
        write_atomic(target, text)
    return text


def _records(frame: pd.DataFrame | None) -> list[dict[str, Any]]:
    if frame is None or len(frame) == 0:
        return []
    return frame.to_dict(orient="records")


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


def _match_to_dict(match: dict[str, Any]) -> dict[str, Any]:
    direction = match.get("direction")
    return {
        "concept": str(match["concept"]),
        "phrase": str(match.get("phrase", "")),
        "similarity": _number(match.get("similarity")),
        "direction": str(direction) if direction is not None else None,
    }
