"""Metadata concepts: what is recorded about each image besides its pixels, as concepts like any other.

The values come from the samples themselves (``io.LoadedImage.metadata``: a manifest's extra columns, a
DICOM file's header fields ``io.dicom.HEADER_FIELDS``). A column whose values are all numbers is one
magnitude concept ("have a higher KVP"); any other column gives one presence concept per value ("have
Manufacturer = SIEMENS", score 1 or 0, threshold 0.5), for its ``MAX_VALUES`` most frequent values
recorded for at least ``MIN_COUNT`` images. A
missing value is NaN (left out of the tests). The concepts are made per run from the values, cost nothing
to compute and are never cached. Their category is ``metadata``: a difference in them is a possible
shortcut (the scanner, not the disease), phrased as such (``phrasing``), and a user may adjust the image
concepts for them (``stats.stratified``).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tellapart.concepts.base import Concept
from tellapart.io.image import Notice

__all__ = ["MAX_VALUES", "MetadataConcepts", "metadata_concepts", "metadata_table"]

# Presence concepts made per categorical column: its most frequent values. A column with more distinct
# values (an ID, a free-text note) would otherwise add hundreds of one-image concepts that only cost power
# in the discovery ranking; the values left out are listed in ``MetadataConcepts.left_out``.
MAX_VALUES = 20
# A value recorded for fewer images than this gets no concept: with about half of them in the validation
# half it could not be significant, and an identifier column (one value per image) would otherwise add a
# concept per image.
MIN_COUNT = 5
ID_PREFIX = "metadata."


@dataclass
class MetadataConcepts:
    """The metadata concepts of one run.

    Attributes:
        concepts: the concepts, in the column order of ``scores``.
        scores: float32 (n_samples, len(concepts)); NaN where the sample has no value.
        columns: concept id -> the metadata column it was made from (what ``adjust_for`` names).
        left_out: column -> number of its values recorded for ``MIN_COUNT`` or more images beyond the
            ``MAX_VALUES`` most frequent, which got no concept.
    """

    concepts: list[Concept] = field(default_factory=list)
    scores: np.ndarray = field(default_factory=lambda: np.empty((0, 0), dtype=np.float32))
    columns: dict[str, str] = field(default_factory=dict)
    left_out: dict[str, int] = field(default_factory=dict)


def metadata_table(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Return one row per sample, one column per metadata field any sample has (None where missing)."""
    names = list(dict.fromkeys(name for record in records for name in record))
    return pd.DataFrame([[record.get(name) for name in names] for record in records], columns=names,
                        dtype=object)


def is_numeric(values: pd.Series) -> bool:
    """True when every present value of a metadata column is a number (then it is a magnitude)."""
    present = values.dropna()
    if present.empty or any(isinstance(v, bool) for v in present):
        return False
    return bool(pd.to_numeric(present, errors="coerce").notna().all())


def metadata_concepts(table: pd.DataFrame) -> MetadataConcepts:
    """Return the concepts and scores of ``metadata_table``'s columns; a column with fewer than two
    distinct values says nothing and gives none. A column whose values were capped at `MAX_VALUES` is
    said in a `tellapart.io.image.Notice` warning (and in ``left_out``)."""
    out = MetadataConcepts(scores=np.empty((len(table), 0), dtype=np.float32))
    blocks = []
    for name in table.columns:
        values = table[name]
        present = values.dropna()
        if present.nunique() < 2:
            continue
        if is_numeric(values):
            concept = Concept(f"{ID_PREFIX}{name}", str(name), "magnitude", more=f"have a higher {name}",
                              less=f"have a lower {name}", synonyms=(str(name),), category="metadata")
            out.concepts.append(concept)
            out.columns[concept.id] = str(name)
            blocks.append(pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)[:, None])
            continue
        text = values.map(lambda v: None if v is None else str(v))
        counts = text.value_counts()
        counts = counts[counts >= MIN_COUNT]
        kept = list(counts.index[:MAX_VALUES])
        if len(counts) > MAX_VALUES:
            out.left_out[str(name)] = len(counts) - MAX_VALUES
        for value in kept:
            concept = Concept(f"{ID_PREFIX}{name}={value}", _phrase(str(name), value), "presence",
                              synonyms=(str(name), value), category="metadata")
            out.concepts.append(concept)
            out.columns[concept.id] = str(name)
            column = np.where(text.isna(), np.nan, (text == value).to_numpy(dtype=np.float64))
            blocks.append(column[:, None])
    if blocks:
        out.scores = np.hstack(blocks).astype(np.float32)
    for name, n in out.left_out.items():
        warnings.warn(f"metadata column {name!r}: only its {MAX_VALUES} most frequent values are tested; {n} "
                      f"more value{'s' if n != 1 else ''} recorded for {MIN_COUNT} or more images "
                      f"{'are' if n != 1 else 'is'} not", Notice, stacklevel=2)
    return out


def _phrase(column: str, value: str) -> str:
    """The presence phrase completing "Set A images ...": the scanner's maker read as such, else the field."""
    if column.lower() in ("manufacturer", "scanner", "vendor"):
        return f"come from a {value} scanner"
    return f"have {column} = {value}"
