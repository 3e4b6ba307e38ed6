"""Findings a user validated with ``tellapart verify --save``, kept and offered to later runs as concepts.

A saved finding is a direction in the backbone's embedding space: a linear model (the classifier of
``stats.classifier``) that told the verified set A from set B, with the hypothesis text as its phrase and a
record of the data it was validated on. Later ``describe``/``verify`` runs score every image on it
(``saved.<slug>`` concepts), so "the difference I confirmed last month" can be looked for in new data.
The store is one ``.npz`` file in the same format as learned detectors (``concepts.learned``).
"""

from __future__ import annotations

import datetime
import os
import re
from pathlib import Path

import numpy as np

from tellapart.concepts.base import Concept
from tellapart.concepts.learned import LearnedDetectors


def default_store_path() -> Path:
    """``$TELLAPART_FINDINGS`` if set, else ``~/.local/share/tellapart/findings.npz``."""
    if os.environ.get("TELLAPART_FINDINGS"):
        return Path(os.environ["TELLAPART_FINDINGS"])
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "tellapart" / "findings.npz"


def load_findings(path: str | os.PathLike | None = None) -> LearnedDetectors | None:
    """The saved findings at ``path`` (default `default_store_path`), or None when there are none."""
    target = Path(path) if path is not None else default_store_path()
    return LearnedDetectors.load(target, category="saved") if target.is_file() else None


def save_finding(result, path: str | os.PathLike | None = None, seed: int = 0) -> Concept:
    """Save a verified hypothesis (a ``Result`` of ``verify`` with a significant finding) to the store.

    Fits the embedding classifier on all of the result's images (set A vs set B) and stores it as the
    concept ``saved.<slug of the hypothesis>``; returns that concept. Raises ValueError when the result is not
    a verify result, nothing in it is significant, or it carries no embeddings.
    """
    from tellapart.stats.classifier import fit_classifier
    from tellapart.train.detectors import fold_classifier

    if result.mode != "verify" or not result.hypothesis:
        raise ValueError("only a `verify` result can be saved: it tests a hypothesis a person wrote")
    if not result.findings["significant"].any():
        raise ValueError(f"nothing significant to save: {result.hypothesis!r} was not confirmed on these "
                         "sets")
    if result.embeddings is None:
        raise ValueError("the result has no image embeddings (the concept library has no backbone)")
    y = (result.images["set"] == "a").to_numpy()
    model = fit_classifier(result.embeddings.astype(np.float64), y, seed=seed, blocks=result.embedding_blocks)
    weights, bias = fold_classifier(model)
    top = result.findings[result.findings["significant"]].iloc[0]
    concept = Concept(
        f"saved.{_slug(result.hypothesis)}",
        f"resemble the saved finding \u201c{result.hypothesis}\u201d",
        "presence",
        parents=(str(top["concept"]),),
        synonyms=(result.hypothesis,),
        category="saved",
    )
    record = {
        "hypothesis": result.hypothesis, "concept": concept.id, "validated_on": {
            "n_a": result.n_a, "n_b": result.n_b, "matched_concept": str(top["concept"]),
            "auroc": float(top["auroc"]), "q_value": float(top["q_value"]), "backend": result.backend,
        }, "saved": datetime.date.today().isoformat(),
    }
    target = Path(path) if path is not None else default_store_path()
    existing = load_findings(target)
    concepts, rows, biases, records = [concept], [weights], [bias], [record]
    if existing is not None:
        if existing.embedding_version != result.embedding_version:
            raise ValueError(f"{target} holds findings for another embedding; save to a new store")
        keep = [i for i, c in enumerate(existing.concepts) if c.id != concept.id]
        concepts = [existing.concepts[i] for i in keep] + concepts
        rows = [existing.weights[i] for i in keep] + rows
        biases = [float(existing.bias[i]) for i in keep] + biases
        old = [r for r in existing.info.get("findings", []) if r.get("concept") != concept.id]
        records = old + records
    target.parent.mkdir(parents=True, exist_ok=True)
    LearnedDetectors(tuple(concepts), np.vstack(rows).astype(np.float32), np.asarray(biases, np.float32),
                     result.embedding_version, {"findings": records}).save(target)
    return concept


def _slug(text: str) -> str:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return "_".join(words)[:60] or "finding"
