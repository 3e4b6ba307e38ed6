"""What do the images a model gets wrong have in common? ``failures`` answers it from a table of predictions.

Set A is the misclassified images, set B the correctly classified ones: once over all classes (pooled) and
once per true class (so the answer is not just "the hard class": "among true cats, the misclassified images
are darker"). What comes first is what the failures have in common across those analyses
(``Failures.common``: significant in the most analyses first). Each analysis is a ``describe`` run; the
runs share one error budget (each gets ``alpha`` divided by the number of analyses), so when nothing
distinguishes the failures the chance of any false finding across all of them stays at most ``alpha``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tellapart.describe import check_alpha, check_at_least, describe
from tellapart.io import ImageSet
from tellapart.io.atomic import write_atomic
from tellapart.io.imageset import cell_target, read_manifest
from tellapart.io.remote import is_url, url_folder
from tellapart.schema import Result

# Column names recognised without being told (case-insensitive), first match wins.
PATH_NAMES = ("path", "file", "filepath", "filename", "image")
TRUE_NAMES = ("true", "true_label", "label", "y_true", "target", "truth", "ground_truth", "class")
PRED_NAMES = ("pred", "predicted", "prediction", "pred_label", "predicted_label", "y_pred")
# A class is analysed on its own only when it has at least this many misclassified and this many correctly
# classified images: the discovery/validation split halves each set, and with fewer than 5 validation
# images per set no rank test can reach significance after correction.
MIN_PER_SET = 10
POOLED = "all classes"
COMMON_SHOWN = 5  # findings listed under "In common" in the summary (all of them are in ``Failures.common``)


@dataclass
class Failures:
    """What the misclassified images have in common, pooled and per true class.

    Attributes:
        analyses: analysis name (``POOLED``, or ``"true class X"``) -> the ``Result`` of describing its
            misclassified (set A) against its correctly classified (set B) images, at ``alpha_each``.
        skipped_classes: true classes not analysed on their own, and why: ``class``, ``n_wrong``,
            ``n_right``, ``reason``.
        n_wrong, n_right: misclassified and correctly classified rows of the predictions.
        alpha: the error budget over all analyses; ``alpha_each``: what each analysis ran at.
        columns: which column held the paths, true and predicted labels.
        dropped_rows: rows left out because their path or a label was empty.
    """

    analyses: dict[str, Result]
    skipped_classes: pd.DataFrame
    n_wrong: int
    n_right: int
    alpha: float
    alpha_each: float
    columns: dict[str, str] = field(default_factory=dict)
    dropped_rows: int = 0

    @property
    def common(self) -> pd.DataFrame:
        """What the misclassified images have in common across analyses: one row per (concept, direction)
        significant (and not explained by another finding) in at least one analysis, most analyses first,
        then significant pooled, then the higher median AUROC. Columns: ``concept``, ``direction``,
        ``text`` (the pooled sentence, else the one from the analysis where it is strongest),
        ``n_analyses``, ``analyses`` (their names, "; "-joined), ``auroc_pooled`` (NaN unless significant
        pooled) and ``auroc_median``.

        Why this order leads: a cause the model fails on shows within most true classes, while a pooled
        finding can be "the hard class" (the class that fails most differs from the others). Measured on
        the test's planted haze (tests/test_failures.py, statistics of commit 3ef560f): pooled, "blurrier"
        (AUROC 0.85) led "brighter" (0.82), though the haze separates hazy from clean digits perfectly on
        both (AUROC 1.00: on these digits it lowers the sharpness measure as surely as it raises
        brightness), and among clean digits the most-failed class (1) is far less sharp than the rest
        (AUROC 0.04), so sharpness carries class composition on top of the haze; "brighter" was
        significant in 7 of the 9 analyses, "blurrier" in 3.
        """
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        for name, result in self.analyses.items():
            for finding in result.significant.itertuples(index=False):  # significant, not explained
                row = rows.setdefault((finding.concept, finding.direction), {
                    "concept": finding.concept, "direction": finding.direction, "text": finding.text,
                    "analyses": [], "aurocs": [], "auroc_pooled": float("nan"), "best": -1.0})
                row["analyses"].append(name)
                row["aurocs"].append(float(finding.auroc))
                if name == POOLED:
                    row["auroc_pooled"], row["text"], row["best"] = float(finding.auroc), finding.text, 2.0
                elif float(finding.auroc) > row["best"]:
                    row["text"], row["best"] = finding.text, float(finding.auroc)
        columns = ["concept", "direction", "text", "n_analyses", "analyses", "auroc_pooled", "auroc_median"]
        table = pd.DataFrame(
            [{"concept": r["concept"], "direction": r["direction"], "text": r["text"],
              "n_analyses": len(r["analyses"]), "analyses": "; ".join(r["analyses"]),
              "auroc_pooled": r["auroc_pooled"], "auroc_median": float(np.median(r["aurocs"]))}
             for r in rows.values()], columns=columns)
        if table.empty:
            return table
        order = table.assign(pooled=table["auroc_pooled"].notna()).sort_values(
            ["n_analyses", "pooled", "auroc_median"], ascending=False, kind="stable")
        return table.loc[order.index].reset_index(drop=True)

    @property
    def findings(self) -> pd.DataFrame:
        """Every significant finding of every analysis, one row each: ``analysis`` (which class it is about)
        first, then the finding's columns (``Result.significant``)."""
        parts = [result.significant.assign(analysis=name) for name, result in self.analyses.items()]
        parts = [p for p in parts if len(p)]
        if not parts:
            return pd.DataFrame(columns=["analysis"])
        table = pd.concat(parts, ignore_index=True)
        return table[["analysis"] + [c for c in table.columns if c != "analysis"]]

    def to_dict(self) -> dict[str, Any]:
        """The whole answer as plain data: counts, the error budget, each analysis's ``Result.to_dict()``
        and the classes not analysed."""
        return {
            "mode": "failures", "n_wrong": self.n_wrong, "n_right": self.n_right, "alpha": self.alpha,
            "alpha_each": self.alpha_each, "columns": self.columns, "dropped_rows": self.dropped_rows,
            "common": [{k: None if isinstance(v, float) and np.isnan(v) else v for k, v in row.items()}
                       for row in self.common.to_dict(orient="records")],
            "analyses": {name: result.to_dict() for name, result in self.analyses.items()},
            "skipped_classes": self.skipped_classes.to_dict(orient="records"),
        }

    def to_json(self, path: str | os.PathLike | None = None) -> str:
        """Return ``to_dict()`` as strict JSON text; also write it atomically to ``path`` if given."""
        text = json.dumps(self.to_dict(), indent=2, ensure_ascii=False, allow_nan=False, default=str) + "\n"
        if path is not None:
            write_atomic(Path(path), text)
        return text

    def write_reports(self, folder: str | os.PathLike) -> dict[str, Path]:
        """Write one HTML report per analysis into ``folder`` (``all-classes.html``,
        ``true-class-<label>.html``) and return analysis name -> path."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths: dict[str, Path] = {}
        for name, result in self.analyses.items():
            stem, n = _slug(name), 1
            while folder / f"{stem}.html" in paths.values():  # two labels with one slug ("a/b", "a b")
                n += 1
                stem = f"{_slug(name)}-{n}"
            paths[name] = result.to_html(folder / f"{stem}.html")
        return paths

    def __str__(self) -> str:
        lines = [f"Misclassified vs correctly classified images: {self.n_wrong} vs {self.n_right} "
                 f"({len(self.analyses)} analyses, each at alpha {self.alpha_each:.3g} so that all together "
                 f"stay within {self.alpha:g})."]
        if self.dropped_rows:
            lines.append(f"{self.dropped_rows} rows left out: an empty path or label.")
        common = self.common
        if len(common) and len(self.analyses) > 1:
            lines.append("\nIn common, in the most analyses first:")
            for number, row in enumerate(common.head(COMMON_SHOWN).itertuples(), start=1):
                lines.append(f"  {number}. {_about_failures(row.text)} [significant in {row.n_analyses} of "
                             f"{len(self.analyses)} analyses]")
        for name, result in self.analyses.items():
            significant = result.significant
            lines.append(f"\n{name} ({result.n_a} misclassified vs {result.n_b} correct): "
                         f"{len(significant)} significant finding{'s' if len(significant) != 1 else ''}")
            for number, row in enumerate(significant.itertuples(), start=1):
                lines.append(f"  {number}. {_about_failures(row.text)}")
        for row in self.skipped_classes.itertuples():
            lines.append(f"\ntrue class {row._1}: not analysed on its own ({row.reason})")
        return "\n".join(lines) + "\n"


def _labels(column: pd.Series) -> pd.Series:
    """Labels as comparable text: a whole number read as a float (a column with an empty cell) becomes
    "1", not "1.0", so it equals the integer label of the other column."""
    def text(value: Any) -> str:
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)
    return column.map(text)


def _slug(name: str) -> str:
    """A file name for an analysis: letters (any script), digits and dashes."""
    return re.sub(r"[^\w]+", "-", name).strip("-_").lower() or "analysis"


def _about_failures(sentence: str) -> str:
    """A finding's sentence with the sets named for what they are here."""
    return (sentence.replace("Set A images", "The misclassified images")
            .replace("set B images", "the correctly classified ones"))


def _column(table: pd.DataFrame, given: str | None, names: tuple[str, ...], what: str, option: str) -> str:
    """The column ``given``, else the first of ``names`` present (case-insensitive); ValueError naming
    ``option`` when there is none."""
    if given is not None:
        if given not in table.columns:
            raise ValueError(f"the predictions have no column {given!r} ({option}); columns: "
                             f"{', '.join(map(str, table.columns))}")
        return given
    lower = {str(c).lower(): c for c in table.columns}
    for name in names:
        if name in lower:
            return str(lower[name])
    raise ValueError(f"cannot tell which column holds the {what}: name it with {option} (looked for "
                     f"{', '.join(names)}; columns: {', '.join(map(str, table.columns))})")


def _paths(rows: pd.Series, base: Path | str) -> list[Path | str]:
    """The rows' images as a manifest's path cells name them (``io.imageset.cell_target``): URLs kept as
    text (a Path would fold ``s3://`` into ``s3:/``), relative paths resolved against ``base`` (a folder,
    or a folder URL)."""
    return [cell_target(_cell_text(v), base) for v in rows]


def _cell_text(value: object) -> str:
    """A path cell as text: a URL without the spaces around it; a local path exactly as written."""
    text = str(value)
    return text.strip() if is_url(text.strip()) else text


def _base(folder: str | os.PathLike) -> Path | str:
    """The folder relative paths resolve against, given as a path or as a folder URL (kept as text)."""
    if is_url(folder):
        text = str(folder).strip()
        return text if text.endswith("/") else text + "/"
    return Path(folder)


def failures(
    predictions: pd.DataFrame | str | os.PathLike,
    *,
    true_col: str | None = None,
    pred_col: str | None = None,
    path_col: str | None = None,
    base_dir: str | os.PathLike | None = None,
    per_class: bool = True,
    alpha: float = 0.05,
    seed: int = 0,
    **describe_options: Any,
) -> Failures:
    """Describe what the images a model misclassifies have in common, pooled and per true class.

    Parameters:
        predictions: a DataFrame, or a CSV/TSV/Parquet file (a path, or an fsspec URL given as text), with
            one row per image: its path (or URL), true label and predicted label (any other columns, such
            as a score, are ignored).
        true_col, pred_col, path_col: the columns, when their names are not among ``TRUE_NAMES``,
            ``PRED_NAMES`` and ``PATH_NAMES``.
        base_dir: folder (or folder URL) that relative paths resolve against (default: the file's folder
            or folder URL, or the current folder for a DataFrame).
        per_class: also analyse each true class with at least ``MIN_PER_SET`` misclassified and
            ``MIN_PER_SET`` correctly classified images.
        alpha: the error budget over all analyses; each runs at ``alpha`` / (number of analyses).
        seed: the discovery/validation split of every analysis.
        describe_options: passed to ``describe`` (``library``, ``cache_dir``, ``describer``, ``progress``...).

    Returns:
        A ``Failures``: ``analyses`` (name -> ``Result``, set A = misclassified), ``findings`` (every
        significant finding with the analysis it belongs to) and ``skipped_classes``.

    Raises:
        ValueError for a missing column, no misclassified or no correct image, or too few of either.
    """
    check_alpha(alpha)
    check_at_least("seed", seed, 0)
    if isinstance(predictions, pd.DataFrame):
        table, base = predictions, _base(base_dir) if base_dir is not None else Path.cwd()
    elif is_url(predictions):  # fetched once (``io.imageset.read_manifest``); its folder URL is the base
        url = str(predictions).strip()
        table = read_manifest(url)
        base = _base(base_dir) if base_dir is not None else url_folder(url)
    else:
        source = Path(predictions).expanduser()
        if not source.is_file():
            raise FileNotFoundError(f"predictions file not found: {source}")
        table = read_manifest(source)
        base = _base(base_dir) if base_dir is not None else source.absolute().parent
    path = _column(table, path_col, PATH_NAMES, "image paths", "path_col / --path-col")
    truth = _column(table, true_col, TRUE_NAMES, "true labels", "true_col / --true-col")
    predicted = _column(table, pred_col, PRED_NAMES, "predicted labels", "pred_col / --pred-col")
    complete = table.dropna(subset=[path, truth, predicted])
    dropped = len(table) - len(complete)
    table = complete
    wrong = (_labels(table[truth]) != _labels(table[predicted])).to_numpy()
    n_wrong, n_right = int(wrong.sum()), int((~wrong).sum())
    if n_wrong < MIN_PER_SET or n_right < MIN_PER_SET:
        raise ValueError(f"{n_wrong} misclassified and {n_right} correctly classified images: each needs at "
                         f"least {MIN_PER_SET} to compare them")

    groups: dict[str, pd.Series] = {POOLED: pd.Series(True, index=table.index)}
    skipped = []
    if per_class:
        true_labels = _labels(table[truth])
        for label in sorted(true_labels.unique(), key=lambda v: (len(v), v)):
            in_class = true_labels == label
            k_wrong, k_right = int((in_class & wrong).sum()), int((in_class & ~wrong).sum())
            if k_wrong >= MIN_PER_SET and k_right >= MIN_PER_SET:
                groups[f"true class {label}"] = in_class
            else:
                skipped.append({"class": label, "n_wrong": k_wrong, "n_right": k_right,
                                "reason": f"fewer than {MIN_PER_SET} misclassified or correctly classified "
                                          "images"})
    alpha_each = alpha / len(groups)
    analyses = {}
    for name, members in groups.items():
        rows = table[members.to_numpy()]
        is_wrong = wrong[members.to_numpy()]
        set_a = ImageSet.from_spec(_paths(rows[path][is_wrong], base), name="misclassified")
        set_b = ImageSet.from_spec(_paths(rows[path][~is_wrong], base), name="correct")
        analyses[name] = describe(set_a, set_b, alpha=alpha_each, seed=seed, **describe_options)
    skipped_classes = pd.DataFrame(skipped, columns=["class", "n_wrong", "n_right", "reason"])
    columns = {"path": path, "true": truth, "predicted": predicted}
    return Failures(analyses, skipped_classes, n_wrong, n_right, alpha, alpha_each, columns, dropped)
