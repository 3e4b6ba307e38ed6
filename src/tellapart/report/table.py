"""The terminal rendering of a ``Result``: numbered findings, what else was tested, what was skipped.

Rendered with ``rich`` into a plain string (no colour or control codes), so it reads the same in a
terminal, a log file or a notebook. Every user string (file and set names, the hypothesis) is shown with its
control characters escaped (``tellapart.io.printable``): a file name cannot drive the terminal.
"""

from __future__ import annotations

import io
import math
import re
import shutil
from typing import Any

import pandas as pd
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from tellapart.io.imageset import COUNTED_ONCE, HIDDEN_FILE, HIDDEN_FOLDER
from tellapart.io.printable import printable
from tellapart.phrasing import format_p
from tellapart.schema import Result
from tellapart.stats.contract import MIN_VISIBLE_SHARE

MIN_WIDTH = 80
MAX_WIDTH = 140
MAX_LISTED_SKIPS = 3

# The evidence phrasing.finding_sentence appends: "...; AUROC 0.81 [0.72, 0.90], q < 0.001)", or with
# adjust_for "...; adjusted AUROC 0.81 [0.72, 0.90], q < 0.001; unadjusted AUROC 0.90)"; a metadata
# finding's shortcut note may follow it.
_EVIDENCE = re.compile(r"(?:; |\()(?:adjusted )?AUROC \S+ \[[^\]]*\], [pq] [<=] [^;)]*"
                       r"(?:; unadjusted AUROC [^)]*)?\)")


def findings_table(result: Result, max_rows: int = 15, *, width: int | None = None) -> str:
    """Return the findings of ``result`` as plain text for a terminal.

    Lists the significant findings (at most ``max_rows``), numbered, with AUROC [CI] and q; findings a
    stronger one accounts for come next, marked "(explained by: ...)", and differences few images show
    outright last. Then how many other hypotheses were
    tested, how many signals nobody can name were withheld from the findings and why (``Result.signals``),
    the one-line answer to "is there any difference at all?" from the image classifier
    (``Result.overall``), and any skipped files and duplicates. ``width`` defaults to the terminal's,
    within 80-140.
    """
    width = width or min(max(shutil.get_terminal_size((100, 24)).columns, MIN_WIDTH), MAX_WIDTH)
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, force_terminal=False,
                      highlight=False, emoji=False, markup=False, soft_wrap=False)
    console.print(Text(printable(_headline(result))))
    if result.mode == "verify":
        for line in _verify_lines(result):
            console.print(Text(printable(line)))
    findings = result.findings
    significant = findings[findings["significant"].astype(bool)]
    # A verified hypothesis has only a few matches: show each result, significant or not.
    shown = findings if result.mode == "verify" else significant
    if len(shown):
        console.print(_findings_table(result, shown, max_rows))
    lines = (_summary_lines(result, len(significant), max_rows) + _signal_lines(result)
             + _overall_lines(result) + _data_lines(result))
    for line in lines:
        console.print(Text(printable(line)))
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n"


def set_name(result: Result, label: str) -> str | None:
    """Return the name of set ``label`` ("a"/"b") (e.g. its folder's name), or None if it has none."""
    image_set = result.sets.get(label)
    name = getattr(image_set, "name", None)
    # A set named after its own letter ("A") carries no extra information.
    return str(name) if name and str(name).upper() != label.upper() else None


def set_title(result: Result, label: str) -> str:
    """Return ``"Set A"`` or, when the set has a name, ``"Set A (cats)"``."""
    name = set_name(result, label)
    return f"Set {label.upper()}" + (f" ({name})" if name else "")


def plain_sentence(text: str) -> str:
    """Return a finding's sentence without its "AUROC [CI], q" evidence (shown separately); what follows
    the evidence (a metadata finding's shortcut note) is kept."""
    match = _EVIDENCE.search(text)
    if match is None:
        return text
    kept = text[: match.start()]
    kept = kept.rstrip() if match.group(0).startswith("(") else kept + ")"
    return kept + text[match.end():]


def format_auroc(auroc: float, ci: Any, unadjusted: Any = None) -> str:
    """Return ``"0.81 [0.72, 0.90]"`` (``"n/a"`` for undefined numbers); with a finite ``unadjusted``
    (the AUROC before ``adjust_for``) ``"0.81 [0.72, 0.90], unadjusted 0.90"``."""
    low, high = (ci if ci is not None else (math.nan, math.nan))
    text = f"{_two(auroc)} [{_two(low)}, {_two(high)}]"
    if unadjusted is not None and math.isfinite(float(unadjusted)):
        text += f", unadjusted {_two(unadjusted)}"
    return text


def _two(value: Any) -> str:
    return "n/a" if value is None or not math.isfinite(float(value)) else f"{float(value):.2f}"


def _headline(result: Result) -> str:
    return f"{set_title(result, 'a')}: {result.n_a} images vs {set_title(result, 'b')}: {result.n_b} images"


def _verify_lines(result: Result) -> list[str]:
    lines = [f'Hypothesis: "{result.hypothesis}"', "Matched concepts:"]
    for match in result.matches:
        similarity = match.get("similarity")
        shown = "n/a" if similarity is None else _two(similarity)
        lines.append(f"  - {match.get('phrase', '')} ({match['concept']}), similarity {shown}")
    return lines


def _findings_table(result: Result, rows: Any, max_rows: int) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=False)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("Finding", ratio=1, overflow="fold")
    table.add_column("AUROC [CI]", no_wrap=True)
    table.add_column("q", no_wrap=True)
    rows = rows.head(max_rows)
    explained = rows["explained_by"].map(lambda value: isinstance(value, str)).to_numpy(dtype=bool)
    faint = ((rows["kind"] == "presence") & (rows[["share_a", "share_b"]].max(axis=1) < MIN_VISIBLE_SHARE)
             ).to_numpy(dtype=bool) & ~explained
    # Findings of their own first; then side effects of a stronger finding (each saying whose), then
    # differences few images show outright.
    groups = [rows[~explained & ~faint], rows[explained], rows[faint]]
    number = 0
    for group in groups:
        if number and len(group):
            table.add_section()
        for row in group.itertuples(index=False):
            number += 1
            table.add_row(*_cells(result, row, number))
    return table


def _cells(result: Result, row: Any, number: int) -> tuple[str, Text, str, str]:
    sentence = plain_sentence(str(row.text))
    if not row.significant:
        sentence += " (not significant)"
    elif isinstance(row.explained_by, str):
        sentence += f" (explained by: {_phrase_of(result, row.explained_by)})"
    q = format_p(row.q_value).removeprefix("q ").removeprefix("= ")
    effect = format_auroc(row.auroc, row.auroc_ci, getattr(row, "auroc_unadjusted", None))
    return str(number), Text(printable(sentence)), effect, q


def _phrase_of(result: Result, concept_id: str) -> str:
    concept = result.concepts.get(concept_id)
    return concept.phrase if concept is not None else concept_id


def _summary_lines(result: Result, n_significant: int, max_rows: int) -> list[str]:
    where = result.tested_on
    n_tested = result.tested_count
    if n_significant == 0:
        noun = "hypothesis" if n_tested == 1 else "hypotheses"
        return [f"No significant difference found ({n_tested} {noun} tested on {where}, "
                f"alpha={result.alpha:g})"]
    lines = []
    if result.mode == "verify":
        return lines
    if n_significant > max_rows:
        lines.append(f"... and {n_significant - max_rows} more significant findings "
                     "(all are in the JSON and HTML reports)")
    rest = n_tested - n_significant
    if rest:
        noun = "hypothesis" if rest == 1 else "hypotheses"
        lines.append(f"{rest} more {noun} tested on {where}, none significant")
    return lines


def _signal_lines(result: Result) -> list[str]:
    """One line: how many signals nobody can name were withheld from the findings, and why."""
    signals = result.signals
    if signals is None or not len(signals):
        return []
    domain = result.domain
    withheld = set(domain.withheld) if domain is not None else set()
    off_domain = signals["category"].isin(withheld).to_numpy(dtype=bool)
    why = []
    if off_domain.any():
        value = domain.value if domain is not None else None
        confidence = f" ({domain.measure}: {value:.2f})" if value is not None else ""
        why.append(f"{int(off_domain.sum())} ImageNet names, synthetic-edit detectors or people/object "
                   "models on images that are "
                   f"not photos of everyday things{confidence}")
    if (~off_domain).any():
        why.append(f"{int((~off_domain).sum())} shown outright by too few images of either set")
    n_significant = int(signals["significant"].astype(bool).sum())
    noun = "signal" if len(signals) == 1 else "signals"
    return [f"Withheld from the findings: {len(signals)} {noun} nobody can name ({n_significant} significant "
            f"in their own correction): {'; '.join(why)}. They are in the JSON and the report."]


def _overall_lines(result: Result) -> list[str]:
    overall = result.overall
    return [f"Overall: {overall.text}"] if overall is not None and overall.text else []


def _data_lines(result: Result) -> list[str]:
    """Lines on the data: how files were read as samples (``Result.notes``), files skipped (hidden ones
    counted, and listed last), repeats counted once, images in both sets."""
    lines = [printable(note) for note in result.notes]
    skipped = result.skipped
    if skipped is not None and len(skipped):
        repeats = skipped["reason"].str.endswith(COUNTED_ONCE).to_numpy(dtype=bool)
        lines += _listed(skipped[~repeats], "skipped") + _listed(skipped[repeats], "counted once (repeats)")
    duplicates = result.duplicates
    if duplicates is not None and len(duplicates):
        noun = "image is" if len(duplicates) == 1 else "images are"
        lines.append(f"{len(duplicates)} {noun} in both sets (duplicates make the sets look more alike)")
    return lines


def _listed(rows: pd.DataFrame, what: str) -> list[str]:
    """One line: how many files, which (the first MAX_LISTED_SKIPS, hidden ones last) and why."""
    if not len(rows):
        return []
    hidden = rows["reason"].isin([HIDDEN_FILE, HIDDEN_FOLDER]).to_numpy(dtype=bool)
    first = pd.concat([rows[~hidden], rows[hidden]]).head(MAX_LISTED_SKIPS)
    shown = "; ".join(f"{r.source} ({r.reason})" for r in first.itertuples())
    more = f"; and {len(rows) - MAX_LISTED_SKIPS} more" if len(rows) > MAX_LISTED_SKIPS else ""
    noun = "file" if len(rows) == 1 else "files"
    of_which = f" ({int(hidden.sum())} hidden)" if hidden.any() else ""
    return [f"{len(rows)} {noun} {what}{of_which}: {shown}{more}"]
