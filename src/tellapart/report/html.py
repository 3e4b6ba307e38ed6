"""The HTML report: one self-contained file (inline CSS, images as data URIs) a person can open and check.

An image that illustrates several findings is embedded once, as a CSS class with a data-URI background,
and referenced wherever it appears: the file stays small however often the same examples recur.

Every piece of text that comes from the user or their files (set names, paths, skip reasons, the
hypothesis) is HTML-escaped, attributes included: a file called ``<script>...`` must not run.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tellapart.io.atomic import write_atomic
from tellapart.phrasing import format_p, format_value
from tellapart.report.plots import distribution_plot
from tellapart.report.table import format_auroc, plain_sentence, set_title
from tellapart.report.thumbnails import heat_from_maps, overlay_data_uri, thumbnail_data_uri
from tellapart.schema import SIGNAL_COLUMNS, Result, tellapart_version

MAX_THUMBNAILS = 6
MAX_ILLUSTRATED = 20
THUMBNAIL_SIDE = 160

CSS = """
:root { --a: #0072B2; --b: #E69F00; --ink: #1d1d1f; --muted: #5f6368; --line: #dadce0; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       max-width: 1100px; margin: 0 auto; padding: 24px; background: #fafafa; }
h1 { font-size: 1.5em; margin: 0 0 4px; } h2 { font-size: 1.2em; margin: 32px 0 8px; }
h3 { font-size: 1.05em; margin: 0 0 6px; } h4 { font-size: .9em; margin: 10px 0 4px; color: var(--muted); }
.meta { color: var(--muted); margin: 2px 0; } .set-a { color: var(--a); font-weight: 600; }
.set-b { color: #b07800; font-weight: 600; } code { font-size: .9em; word-break: break-all; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 16px; margin: 12px 0; }
.card.explained { opacity: .8; border-style: dashed; }
.num { display: inline-block; min-width: 1.8em; color: var(--muted); }
.stats { margin: 2px 0; font-variant-numeric: tabular-nums; }
.note { color: var(--muted); font-size: .9em; }
.plot { display: block; max-width: 100%; margin: 8px 0; }
.thumbs { display: flex; flex-wrap: wrap; gap: 8px; }
figure { margin: 0; width: 160px; }
.thumb { width: 160px; background: #eee center / contain no-repeat; border-radius: 4px; position: relative; }
.thumb svg { position: absolute; inset: 0; width: 100%; height: 100%; overflow: visible; }
.outline polyline { fill: none; stroke-linejoin: round; stroke-linecap: round;
                    vector-effect: non-scaling-stroke; }
.outline .halo { stroke: #111; stroke-width: 3.5px; stroke-opacity: .75; }
.outline .line { stroke: #00e5ff; stroke-width: 1.5px; }
figcaption { font-size: .75em; color: var(--muted); overflow-wrap: anywhere; }
.missing { width: 160px; height: 100px; display: flex; align-items: center; justify-content: center;
           background: #eee; color: var(--muted); font-size: .8em; border-radius: 4px; }
table { border-collapse: collapse; width: 100%; background: #fff; font-size: .9em; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
td { overflow-wrap: anywhere; } summary { cursor: pointer; font-weight: 600; margin: 8px 0; }
.nowrap { white-space: nowrap; }
"""


def write_html(result: Result, path: Path) -> Path:
    """Write the self-contained HTML report of ``result`` to ``path`` atomically; return the path.

    Nothing else is created: plots and thumbnails are embedded in the file. The folder must exist.
    """
    target = Path(path)
    if not target.parent.is_dir():
        raise FileNotFoundError(f"Cannot write {target}: the folder {target.parent} does not exist.")
    write_atomic(target, render_html(result))
    return target


def render_html(result: Result) -> str:
    """Return the HTML report of ``result`` as text."""
    thumbnails = _Thumbnails(result)
    body = [
        _header(result),
        _verify_section(result) if result.mode == "verify" else "",
        _findings_section(result, thumbnails),
        _overall_section(result, thumbnails),
        _others_section(result),
        _signals_section(result),
        _skipped_section(result),
        _degraded_section(result),
        _duplicates_section(result),
        f'<p class="note">Made by tellapart {_e(tellapart_version())}.</p>',
    ]
    title = f"tellapart: {set_title(result, 'a')} vs {set_title(result, 'b')}"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{CSS}{thumbnails.css()}</style>\n</head>\n<body>\n"
        + "\n".join(part for part in body if part)
        + "\n</body>\n</html>\n"
    )


def _e(value: Any) -> str:
    """Escape text for HTML content and attribute values alike."""
    return html.escape(str(value), quote=True)


def _weighting(result: Result) -> str:
    """How the correction weighted the hypotheses ("" when every weight is 1)."""
    weights = result.findings["weight"] if "weight" in result.findings else None
    if weights is None or not len(weights) or np.allclose(weights.astype(float), 1.0):
        return ""
    return (" (weighted: the learned describer gave each hypothesis a weight from its confidence on the "
            "discovery half)")


def _weight(row: dict[str, Any]) -> str:
    """" (weight w)" after a q-value from a weighted correction, else ""."""
    weight = row.get("weight")
    if weight is None or not np.isfinite(weight) or abs(weight - 1.0) < 1e-9:
        return ""
    return f" (weight {weight:.2f})"


def _header(result: Result) -> str:
    n_tested = result.tested_count
    rows = _used_rows(result.images)
    used_a = int((rows & (result.images["set"] == "a").to_numpy()).sum())
    used_b = int((rows & (result.images["set"] == "b").to_numpy()).sum())
    if result.mode == "verify":
        where = "all images (the hypothesis was not derived from them)"
    elif result.design == "maxt":
        where = (f"all images ({used_a} of set A, {used_b} of set B): every concept tested, none chosen "
                 "by looking at the sets, step-down max-T over random relabellings; each AUROC interval "
                 "covers all of them at once")
    else:
        where = f"held-out validation images ({used_a} of set A, {used_b} of set B)"
    return (
        "<header>\n"
        f'<h1><span class="set-a">{_e(set_title(result, "a"))}</span>: {result.n_a} images vs '
        f'<span class="set-b">{_e(set_title(result, "b"))}</span>: {result.n_b} images</h1>\n'
        f'<p class="meta">{int(result.n_screened)} hypotheses screened, {n_tested} tested on {_e(where)}; '
        f"p-values corrected for all {n_tested} tests{_weighting(result)}; significant when q &lt; "
        f"{result.alpha:.3g}.</p>\n"
        f'<p class="meta">seed {int(result.seed)} &middot; alpha {result.alpha:.3g} &middot; '
        f"backend <code>{_e(result.backend)}</code></p>\n</header>"
    )


def _verify_section(result: Result) -> str:
    rows = [(_e(m.get("phrase", "")), f"<code>{_e(m['concept'])}</code>", _similarity(m.get("similarity")))
            for m in result.matches]
    return (
        f"<h2>Hypothesis</h2>\n<p>&ldquo;{_e(result.hypothesis or '')}&rdquo;</p>\n"
        + _table(("matched concept", "id", "similarity"), rows)
    )


def _table(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """An HTML table; ``headers`` are plain text, ``rows`` hold cells that are already escaped HTML."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _similarity(value: Any) -> str:
    return f"{float(value):.2f}" if _finite(value) else "n/a"


def _findings_section(result: Result, thumbnails: _Thumbnails) -> str:
    significant = result.findings[result.findings["significant"].astype(bool)]
    if not len(significant):
        where = result.tested_on
        return (
            "<h2>Findings</h2>\n<p>No significant difference found "
            f"({len(result.findings)} hypotheses tested on {where}, alpha={result.alpha:g}).</p>"
        )
    cards = [
        _card(result, row, number, thumbnails, illustrate=number <= MAX_ILLUSTRATED)
        for number, row in enumerate(significant.to_dict(orient="records"), start=1)
    ]
    if len(significant) > MAX_ILLUSTRATED:
        cards.append(f'<p class="note">Findings after the first {MAX_ILLUSTRATED} are shown without '
                     "plots and images, to keep this file small.</p>")
    n_explained = int(significant["explained_by"].map(lambda v: isinstance(v, str)).sum())
    explained = f"; {n_explained} of them explained by a stronger one" if n_explained else ""
    return f"<h2>Significant findings ({len(significant)}{explained})</h2>\n" + "\n".join(cards)


def _card(
    result: Result, row: dict[str, Any], number: int, thumbnails: _Thumbnails, illustrate: bool
) -> str:
    explained = row["explained_by"] if isinstance(row["explained_by"], str) else None
    effect = format_auroc(row["auroc"], row["auroc_ci"], row.get("auroc_unadjusted"))
    parts = [
        f'<section class="card{" explained" if explained else ""}" id="finding-{number}">',
        f'<h3><span class="num">{number}.</span>{_e(plain_sentence(str(row["text"])))}</h3>',
        f'<p class="stats">AUROC {_e(effect)} &middot; '
        f'{_e(format_p(row["p_value"], "p"))} &middot; {_e(format_p(row["q_value"]))}{_weight(row)} &middot; '
        f'set {_e(str(row["direction"]).upper())} shows more of it</p>',
        f'<p class="stats">{_e(_shares_and_medians(result, row))}</p>',
    ]
    if explained:
        parts.append(f'<p class="note">Explained by: {_e(_phrase_of(result, explained))} &mdash; a stronger '
                     "finding accounts for this one.</p>")
    if illustrate:
        parts.append(_plot(result, row))
        parts += _strips(row, thumbnails)
    parts.append("</section>")
    return "\n".join(parts)


def _shares_and_medians(result: Result, row: dict[str, Any]) -> str:
    concept = result.concepts.get(row["concept"])
    unit = concept.unit if concept is not None else ""
    what = row["phrase"] if row["kind"] == "magnitude" else "score"
    medians = (f"median {what}: {format_value(row['median_a'], unit)} in set A vs "
               f"{format_value(row['median_b'], unit)} in set B")
    share_a, share_b = row.get("share_a"), row.get("share_b")
    if row["kind"] != "presence" or not (_finite(share_a) and _finite(share_b)):
        return medians
    return f"shows it: {share_a:.0%} of set A vs {share_b:.0%} of set B images \u00b7 {medians}"


def _finite(value: Any) -> bool:
    """True for a finite real number, numpy scalars included."""
    return isinstance(value, (int, float, np.number)) and math.isfinite(float(value))


def _phrase_of(result: Result, concept_id: str) -> str:
    concept = result.concepts.get(concept_id)
    return concept.phrase if concept is not None else concept_id


def _used_rows(images: pd.DataFrame) -> np.ndarray:
    """The image rows the statistics used: the validation half, or every row when split is "all"."""
    if "split" not in images:
        return np.ones(len(images), dtype=bool)
    return images["split"].isin(["validation", "all"]).to_numpy()


def _plot(result: Result, row: dict[str, Any]) -> str:
    concept_id = row["concept"]
    if concept_id not in result.scores:
        return '<p class="note">No scores stored for this concept.</p>'
    values = result.scores[concept_id].to_numpy()
    used = _used_rows(result.images)
    groups = result.images["set"].to_numpy()
    concept = result.concepts.get(concept_id)
    presence = row["kind"] == "presence"
    if presence:
        xlabel = "score (an image shows it at or above the dotted line)"
    else:
        xlabel = str(row["phrase"]) + (f" ({concept.unit})" if concept is not None and concept.unit else "")
    title = f"images that {row['phrase']}" if presence else str(row["phrase"])
    if not presence and concept is not None and concept.unit == "%":
        values = values * 100.0  # stored as a fraction, read as a percentage (the axis says "%")
    uri = distribution_plot(
        values[used & (groups == "a")], values[used & (groups == "b")], title=title,
        xlabel=xlabel, threshold=concept.threshold if presence and concept is not None else None,
    )
    alt = f"Distribution of the scores for {title} in set A and set B"
    return f'<img class="plot" src="{uri}" alt="{_e(alt)}">'


def _strips(row: dict[str, Any], thumbnails: _Thumbnails) -> list[str]:
    """Two strips of example images; the set that shows more of the concept shows its top scorers.

    For a learned detector (or a saved finding) the images carry a heat overlay: where it finds the concept.
    """
    a_more = row["direction"] == "a"
    labels = {
        "a": "Set A images that show it most" if a_more else "Set A images that show it least",
        "b": "Set B images that show it least" if a_more else "Set B images that show it most",
    }
    examples = {label: list(row[f"examples_{label}"] or [])[:MAX_THUMBNAILS] for label in ("a", "b")}
    overlays = thumbnails.overlays(str(row["concept"]), examples["a"] + examples["b"])
    outlines = thumbnails.outlines(str(row["concept"]))
    strips = []
    if overlays:
        strips.append('<p class="note">Highlighted: where the learned detector finds it (red to yellow = '
                      "weaker to stronger evidence, on one scale for all these images; no colour = no "
                      "evidence for it there).</p>")
    if any(source in outlines for source in examples["a"] + examples["b"]):
        strips.append('<p class="note">Outlined: the region this was measured on, in each image (no outline: '
                      "the image has no such region).</p>")
    for label in ("a", "b"):
        figures = "".join(thumbnails.figure(source, overlays.get(source), outlines.get(source))
                          for source in examples[label])
        figures = figures or '<p class="note">None.</p>'
        strips.append(f"<h4>{labels[label]}</h4>\n<div class=\"thumbs\">{figures}</div>")
    return strips


class _Thumbnails:
    """Each example image made into a thumbnail once, embedded once as a CSS class, referenced by class."""

    def __init__(self, result: Result) -> None:
        self._result = result
        self._classes: dict[str, str | None] = {}
        self._rules: list[str] = []

    def figure(self, source: str, css_class: str | None = None,
               outline: list[list[list[float]]] | None = None) -> str:
        """Return a ``<figure>`` with the thumbnail of ``source`` (or the given thumbnail class, e.g. an
        overlay from `overlays`), with ``outline`` (contours of [x, y] image fractions) drawn over it, or a
        placeholder if it cannot be read."""
        css_class = css_class or self._class_of(source)
        name = Path(source).name or source
        if css_class:
            image = (f'<div class="thumb {css_class}" role="img" aria-label="{_e(name)}" '
                     f'title="{_e(source)}">{_outline_svg(outline)}</div>')
        else:
            image = f'<div class="missing" title="{_e(source)}">image not available</div>'
        return f"<figure>{image}<figcaption>{_e(name)}</figcaption></figure>"

    def css(self) -> str:
        """Return the CSS rules holding every thumbnail made so far."""
        return "\n".join(self._rules)

    def _class_of(self, source: str) -> str | None:
        if source not in self._classes:
            self._classes[source] = self._make(source, f"t{len(self._classes)}")
        return self._classes[source]

    def overlays(self, concept_id: str, sources: list[str]) -> dict[str, str]:
        """Source -> CSS class of its thumbnail with the heat map of ``concept_id`` drawn over it.

        Drawn from the maps ``describe`` computed (``Result.localisation``): empty for a concept without
        them; images that cannot be read now are left out (they get the usual placeholder). The maps of one
        call share a heat scale, so the strips compare images honestly.
        """
        maps = self._result.localisation.get(concept_id, {})
        wanted = [source for source in dict.fromkeys(sources) if source in maps]
        pixels = {source: self._result.load_pixels(source) for source in wanted}
        pixels = {source: image for source, image in pixels.items() if image is not None}
        if not pixels:
            return {}
        heats = heat_from_maps([maps[source] for source in pixels])
        classes = {}
        for (source, image), heat in zip(pixels.items(), heats, strict=True):
            css_class = f"h{len(self._rules)}"
            self._add_rule(css_class, overlay_data_uri(image, heat, THUMBNAIL_SIDE), image.shape)
            classes[source] = css_class
        return classes

    def outlines(self, concept_id: str) -> dict[str, list[list[list[float]]]]:
        """Source -> the contours of the region ``concept_id`` measured on it (``Result.outlines``, computed
        by ``describe``; empty for a concept without outlines)."""
        return self._result.outlines.get(concept_id, {})

    def _make(self, source: str, css_class: str) -> str | None:
        """Embed the thumbnail of ``source``; None when it cannot be read now (``Result.load_pixels``)."""
        pixels = self._result.load_pixels(source)
        if pixels is None:
            return None
        self._add_rule(css_class, thumbnail_data_uri(pixels, THUMBNAIL_SIDE), pixels.shape)
        return css_class

    def _add_rule(self, css_class: str, uri: str, shape: tuple[int, ...]) -> None:
        height, width = shape[:2]
        self._rules.append(
            f'.{css_class} {{ background-image: url("{uri}"); aspect-ratio: {width} / {height}; }}'
        )


def _outline_svg(contours: list[list[list[float]]] | None) -> str:
    """An SVG over the whole thumbnail drawing each contour as a thin bright line on a dark halo ("" when
    there is none). Coordinates are image fractions: the thumbnail has the image's aspect ratio, so a
    0-1 viewBox stretched over it puts every point where it belongs."""
    lines = []
    for contour in contours or []:
        if len(contour) < 2:
            continue
        points = " ".join(f"{float(x):.3f},{float(y):.3f}" for x, y in contour)
        lines.append(f'<polyline class="halo" points="{points}"/><polyline class="line" points="{points}"/>')
    if not lines:
        return ""
    return ('<svg class="outline" viewBox="0 0 1 1" preserveAspectRatio="none" aria-hidden="true">'
            + "".join(lines) + "</svg>")


def _overall_section(result: Result, thumbnails: _Thumbnails) -> str:
    """The answer to "is there any difference at all?" from the image classifier, with its extreme images."""
    overall = result.overall
    if overall is None:
        return ""
    parts = [
        '<h2>Is there any difference at all?</h2>\n<section class="card" id="overall">',
        f"<p>{_e(overall.text)}</p>",
        '<p class="note">An L2-regularised logistic regression learned to tell the sets apart from the '
        "images' features (the bundled backbone's pooled embedding) on the discovery half only, and was "
        "scored on the held-out validation half. The named findings' share is how much of its separation "
        "above chance a model of the same kind reproduces from the reported findings' scores alone, on "
        "validation images that did not declare them (declared on one half of the validation images, "
        "measured on the other, and the other way round).</p>",
    ]
    if overall.most_a_like or overall.most_b_like:
        for label, extremes, what in (("a", overall.most_a_like, "most A-like"),
                                      ("b", overall.most_b_like, "most B-like")):
            sources = list(extremes)[:MAX_THUMBNAILS]
            figures = "".join(thumbnails.figure(source) for source in sources) or '<p class="note">None.</p>'
            title = f"Held-out {set_title(result, label)} images the classifier finds {what}"
            parts.append(f"<h4>{_e(title)}</h4>\n<div class=\"thumbs\">{figures}</div>")
    parts.append("</section>")
    return "\n".join(parts)


def _others_section(result: Result) -> str:
    others = result.findings[~result.findings["significant"].astype(bool)]
    if not len(others):
        return ""
    rows = [(_e(plain_sentence(str(r["text"]))),
             _e(format_auroc(r["auroc"], r["auroc_ci"], r.get("auroc_unadjusted"))),
             _e(format_p(r["p_value"], "p")), _e(format_p(r["q_value"])))
            for r in others.to_dict(orient="records")]
    noun = "hypothesis" if len(others) == 1 else "hypotheses"
    return (
        f"<h2>Not significant</h2>\n<details><summary>{len(others)} other {noun} tested, none "
        "significant</summary>\n" + _table(("hypothesis", "AUROC [CI]", "p", "q"), rows) + "</details>"
    )


def _signals_section(result: Result) -> str:
    """The signals nobody can name (``Result.signals``), collapsed, each with why it is not a finding."""
    signals = result.signals if result.signals is not None else pd.DataFrame(columns=SIGNAL_COLUMNS)
    domain = result.domain
    if not len(signals) and (domain is None or not domain.withheld):
        return ""
    n_significant = int(signals["significant"].astype(bool).sum()) if len(signals) else 0
    note = (f'<p class="note">{_e(domain.text)}</p>' if domain is not None else "")
    rows = [(_e(plain_sentence(str(r["text"]))),
             f'<span class="nowrap">{_e(format_auroc(r["auroc"], r["auroc_ci"]))}</span>',
             f'<span class="nowrap">{_e(format_p(r["q_value"]))}</span>', _e(r["reason"]))
            for r in signals.to_dict(orient="records")]
    table = _table(("signal", "AUROC [CI]", "q", "why it is not a finding"), rows) if rows else "<p>None.</p>"
    noun = "signal" if len(signals) == 1 else "signals"
    return (
        '<h2>Signals nobody can name</h2>\n<details id="signals"><summary>'
        f"{len(signals)} {noun} withheld from the findings ({n_significant} significant in their own "
        "correction)</summary>\n"
        '<p class="note">These concepts tell the sets apart in the scores, but a person could not see or '
        "name them in these images, so they are not reported as findings. They were chosen, tested and "
        "corrected as a family of their own: they cost the findings no power.</p>\n"
        + note + table + "</details>"
    )


def _skipped_section(result: Result) -> str:
    skipped = result.skipped
    if skipped is None or not len(skipped):
        return "<h2>Skipped files</h2>\n<p>None.</p>"
    rows = [(_e(str(r["set"]).upper()), f"<code>{_e(r['source'])}</code>", _e(r["reason"]))
            for r in skipped.to_dict(orient="records")]
    return f"<h2>Skipped files ({len(skipped)})</h2>\n" + _table(("set", "file", "reason"), rows)


def _degraded_section(result: Result) -> str:
    """Images used in a degraded form and report parts that could not be made (nothing when none)."""
    degraded = result.degraded
    if degraded is None or not len(degraded):
        return ""
    rows = [(_e(str(r["set"]).upper() or "-"), f"<code>{_e(r['source'])}</code>", _e(r["what"]))
            for r in degraded.to_dict(orient="records")]
    return (f"<h2>Used with a caveat ({len(degraded)})</h2>\n<p class=\"note\">These images were used, but "
            "not quite as stored, or a part of this report could not be drawn for them.</p>\n"
            + _table(("set", "file", "what"), rows))


def _duplicates_section(result: Result) -> str:
    duplicates = result.duplicates
    note = ('<p class="note">The same image in both sets makes the sets look more alike, so a real '
            "difference can be missed or measured smaller than it is.</p>")
    if duplicates is None or not len(duplicates):
        return "<h2>Images in both sets</h2>\n<p>None.</p>"
    rows = [tuple(f"<code>{_e(value)}</code>" for value in (str(r["key"])[:12], r["source_a"], r["source_b"]))
            for r in duplicates.to_dict(orient="records")]
    return (f"<h2>Images in both sets ({len(duplicates)})</h2>\n{note}\n"
            + _table(("content hash", "in set A", "in set B"), rows))
