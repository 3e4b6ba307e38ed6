"""Tests for tellapart.report: strict JSON, the terminal table, the self-contained HTML report, plots."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import math
import re
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import stats
from skimage import data as skdata

from tellapart.concepts.base import Concept
from tellapart.io import ImageSet, UnreadableImage
from tellapart.phrasing import finding_sentence
from tellapart.report.html import MAX_THUMBNAILS, write_html
from tellapart.report.plots import COLOR_A, COLOR_B, distribution_plot
from tellapart.report.table import findings_table, plain_sentence
from tellapart.report.thumbnails import thumbnail_data_uri
from tellapart.schema import FINDING_COLUMNS, Result, result_to_dict

COLOUR_IMAGES = ["astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "colorwheel",
                 "hubble_deep_field", "logo", "retina"]
GRAY_IMAGES = ["camera", "moon", "page", "text", "coins", "clock", "grass", "gravel", "brick", "cell"]
EVIL_DIR = "<script>alert(1)<"
EVIL_FILE = "script>&\"'.png"
EVIL_SOURCE_PART = "<script>alert(1)</script>&\"'.png"
EVIL_REASON = "the header says <b>bold</b> & cannot be parsed"

CONCEPTS = {
    "test.colour": Concept("test.colour", "show strong colour", "presence", threshold=0.1, category="stats"),
    "test.saturation": Concept("test.saturation", "saturation", "magnitude", more="more saturated",
                               less="less saturated", category="stats"),
    "test.brightness": Concept("test.brightness", "brightness", "magnitude", more="brighter", less="darker",
                               category="stats"),
    "test.contrast": Concept("test.contrast", "contrast", "magnitude", more="higher in contrast",
                             less="lower in contrast", category="stats"),
}


# --- a Result built by hand, exactly as describe.py builds one, from real images ---------------------------


def _save(array: np.ndarray, path: Path) -> None:
    """Save as PNG; the few big samples are subsampled to about 512 px so the fixture stays fast."""
    step = math.ceil(max(array.shape[:2]) / 512)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array[::step, ::step]).save(path, compress_level=1)


def _write_sets(root: Path) -> tuple[Path, Path]:
    """Set A: colour photos (one under a hostile name). B: grayscale ones, a copy of coffee, a broken file."""
    a, b = root / "colour", root / "gray"
    for name in COLOUR_IMAGES:
        _save(getattr(skdata, name)(), a / f"{name}.png")
    _save(skdata.cat()[:, ::-1], a / EVIL_DIR / EVIL_FILE)  # mirrored: cat is chelsea; a repeat counts once
    for name in GRAY_IMAGES:
        _save(getattr(skdata, name)(), b / f"{name}.png")
    _save(skdata.coffee(), b / "coffee_copy.png")
    (b / "broken.png").write_bytes(b"this is not a png")
    return a, b


def _scores(pixels: np.ndarray) -> list[float]:
    rgb = pixels.astype(np.float32)
    chroma = rgb.max(axis=2) - rgb.min(axis=2)
    gray = rgb.mean(axis=2)
    return [float((chroma > 40).mean()), float(chroma.mean() / 255), float(gray.mean() / 255),
            float(gray.std() / 255)]


def _score_sets(sets: dict[str, ImageSet]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    rows, vectors, skipped = [], [], []
    for label, image_set in sets.items():
        skipped += [(label, s.source, s.reason) for s in image_set.skipped]
        for ref in image_set.refs:
            try:
                decoded = ref.load().decode()
            except UnreadableImage as error:
                skipped.append((label, ref.source, error.reason))
                continue
            rows.append((label, ref.source, decoded.key))
            vectors.append(_scores(decoded.pixels))
    skipped.append(("b", "gray/odd.png", EVIL_REASON))
    scores = pd.DataFrame(np.asarray(vectors, dtype=np.float32), columns=list(CONCEPTS))
    images = pd.DataFrame(rows, columns=["set", "source", "key"])
    return scores, images, pd.DataFrame(skipped, columns=["set", "source", "reason"])


def _finding(concept: Concept, values: np.ndarray, groups: np.ndarray, sources: pd.Series) -> dict:
    a, b = values[groups == "a"], values[groups == "b"]
    u = stats.mannwhitneyu(a, b).statistic
    auroc_a = u / (len(a) * len(b))
    direction = "a" if auroc_a >= 0.5 else "b"
    auroc = auroc_a if direction == "a" else 1 - auroc_a
    se = math.sqrt(auroc * (1 - auroc) / min(len(a), len(b)) + 1e-4)  # a rough interval is enough here
    ci = (max(0.0, auroc - 1.96 * se), min(1.0, auroc + 1.96 * se))
    share_a, share_b = (float((a >= concept.threshold).mean()), float((b >= concept.threshold).mean())) \
        if concept.kind == "presence" else (math.nan, math.nan)
    examples = []
    for label in ("a", "b"):
        rows = np.flatnonzero(groups == label)
        order = np.argsort(values[rows], kind="stable")
        order = order[::-1] if label == direction else order
        examples.append([str(sources.iloc[i]) for i in rows[order[:6]]])
    return {
        "concept": concept.id, "phrase": concept.phrase, "kind": concept.kind, "category": concept.category,
        "direction": direction,
        "auroc": float(auroc), "auroc_ci": ci, "p_value": float(stats.mannwhitneyu(a, b).pvalue),
        "share_a": share_a, "share_b": share_b, "median_a": float(np.median(a)),
        "median_b": float(np.median(b)), "examples_a": examples[0], "examples_b": examples[1],
    }


def build_result(root: Path) -> Result:
    """A describe-mode Result over real skimage images; stats on the validation half, as describe does."""
    a, b = _write_sets(root)
    sets = {"a": ImageSet.from_spec(a, name="colour photos"), "b": ImageSet.from_spec(b, name="gray photos")}
    scores, images, skipped = _score_sets(sets)
    split = np.empty(len(images), dtype=object)
    for label in ("a", "b"):
        rows = np.flatnonzero(images["set"] == label)
        split[rows] = np.where(np.arange(len(rows)) % 3 == 2, "discovery", "validation")
    images = images.assign(split=split)
    used = (split == "validation")
    records = [
        _finding(c, scores[cid].to_numpy()[used], images["set"].to_numpy()[used], images["source"][used])
        for cid, c in CONCEPTS.items()
    ]
    q = stats.false_discovery_control([r["p_value"] for r in records])
    for record, q_value in zip(records, q, strict=True):
        concept = CONCEPTS[record["concept"]]
        record["q_value"] = float(q_value)
        record["weight"] = 1.0
        record["significant"] = bool(q_value < 0.05)
        record["explained_by"] = "test.colour" if record["concept"] == "test.saturation" else None
        record["text"] = finding_sentence(concept, record["direction"], record["auroc"], record["auroc_ci"],
                                          record["q_value"], median_a=record["median_a"],
                                          median_b=record["median_b"], share_a=record["share_a"],
                                          share_b=record["share_b"])
    records.sort(key=lambda r: (not r["significant"], r["q_value"]))
    a_rows, b_rows = images[images["set"] == "a"], images[images["set"] == "b"]
    duplicates = a_rows[["key", "source"]].merge(b_rows[["key", "source"]], on="key", suffixes=("_a", "_b"))
    return Result(
        findings=pd.DataFrame.from_records(records, columns=FINDING_COLUMNS), scores=scores, images=images,
        skipped=skipped, duplicates=duplicates[["key", "source_a", "source_b"]].reset_index(drop=True),
        concepts=dict(CONCEPTS), n_a=len(a_rows), n_b=len(b_rows), seed=0, alpha=0.05,
        backend="test-backend", n_screened=12, sets=sets,
    )


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> Result:
    made = build_result(tmp_path_factory.mktemp("images"))
    # The rendering tests below need both kinds of row; fail loudly if the real images stop providing them.
    assert made.findings["significant"].any() and not made.findings["significant"].all()
    return made


def _strict_loads(text: str) -> object:
    def reject(token: str) -> None:
        raise ValueError(f"non-strict JSON token {token}")

    return json.loads(text, parse_constant=reject)


# --- JSON ---------------------------------------------------------------------------------------------------


def test_json_is_strict_complete_and_ordered(result: Result) -> None:
    findings = result.findings.copy()
    findings.at[0, "median_b"] = math.nan  # an undefined number must become null, not NaN
    findings.at[0, "auroc_ci"] = (0.7, math.inf)
    doc = _strict_loads(dataclasses.replace(result, findings=findings).to_json())

    assert set(doc) == {"findings", "n_a", "n_b", "backend", "seed", "alpha", "mode", "hypothesis", "matches",
                        "n_screened", "n_tested", "skipped", "degraded", "duplicates", "version", "overall",
                        "signals", "domain", "outlines", "adjusted_for", "design", "notes"}
    assert (doc["signals"], doc["domain"], doc["outlines"]) == ([], None, {})
    assert (doc["mode"], doc["hypothesis"], doc["matches"]) == ("describe", None, [])
    assert (doc["n_a"], doc["n_b"], doc["n_tested"], doc["n_screened"]) == (10, 11, 4, 12)
    assert isinstance(doc["version"], str) and doc["version"]
    assert [f["concept"] for f in doc["findings"]] == list(result.findings["concept"])
    first = doc["findings"][0]
    assert list(first) == FINDING_COLUMNS
    assert first["median_b"] is None and first["auroc_ci"] == [0.7, None]
    for finding in doc["findings"][1:]:
        assert isinstance(finding["significant"], bool) and finding["direction"] in ("a", "b")
        assert isinstance(finding["auroc"], float) and len(finding["auroc_ci"]) == 2
        assert all(isinstance(s, str) for s in finding["examples_a"] + finding["examples_b"])
        assert finding["explained_by"] in (None, "test.colour")
    presence = next(f for f in doc["findings"] if f["kind"] == "presence")
    magnitude = next(f for f in doc["findings"] if f["kind"] == "magnitude")
    assert isinstance(presence["share_a"], float) and magnitude["share_a"] is None
    assert {"set": "b", "source": "gray/odd.png", "reason": EVIL_REASON} in doc["skipped"]
    assert any(s["source"].endswith("broken.png") for s in doc["skipped"])
    assert len(doc["duplicates"]) == 1 and doc["duplicates"][0]["source_b"].endswith("coffee_copy.png")
    assert result_to_dict(result)["findings"][0]["median_b"] is not None  # the original was not modified


def test_json_verify_fields_and_atomic_write(result: Result, tmp_path: Path) -> None:
    verify = dataclasses.replace(
        result, mode="verify", hypothesis="set A is more colourful",
        matches=[{"concept": "test.saturation", "phrase": "saturation", "similarity": np.float32(0.71),
                  "direction": "a"}],
    )
    target = tmp_path / "result.json"
    text = verify.to_json(target)
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]
    assert target.read_text(encoding="utf-8") == text
    doc = _strict_loads(text)
    assert doc["mode"] == "verify" and doc["hypothesis"] == "set A is more colourful"
    assert doc["matches"][0]["similarity"] == pytest.approx(0.71, abs=1e-6)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        result.to_json(tmp_path / "missing" / "result.json")


# --- terminal table ---------------------------------------------------------------------------------------


def test_table_lists_findings_skips_and_duplicates(result: Result) -> None:
    text = findings_table(result, width=120)
    assert "\x1b[" not in text and all(line == line.rstrip() for line in text.splitlines())
    significant = result.findings[result.findings["significant"]]
    assert "Set A (colour photos): 10 images vs Set B (gray photos): 11 images" in text
    flat = " ".join(text.split())
    assert len(significant) >= 2  # colour and saturation tell colour photos from gray ones
    for row in significant.itertuples():
        assert " ".join(plain_sentence(row.text).split()[:6]) in flat
    assert "test.saturation" in set(significant["concept"])  # the fixture marks it explained by colour
    assert "(explained by: show strong colour)" in flat
    n_rest = len(result.findings) - len(significant)
    assert f"{n_rest} more hypothes" in flat and "tested on held-out images, none significant" in flat
    assert "2 files skipped" in flat and "broken.png" in flat and "<b>bold</b>" in flat
    assert "1 image is in both sets" in flat


def test_table_when_nothing_is_significant(result: Result) -> None:
    findings = result.findings.assign(significant=False)
    text = findings_table(dataclasses.replace(result, findings=findings), width=100)
    assert "No significant difference found (4 hypotheses tested on held-out images, alpha=0.05)" in text


def test_table_for_a_verified_hypothesis(result: Result) -> None:
    verify = dataclasses.replace(
        result, mode="verify", hypothesis="colour photos are brighter",
        matches=[{"concept": "test.brightness", "phrase": "brightness", "similarity": 0.734,
                  "direction": "a"}],
        findings=result.findings[result.findings["concept"] == "test.brightness"].reset_index(drop=True),
    )
    assert not verify.findings["significant"].any()  # 10 colour vs 11 gray photos: brightness is alike
    text = " ".join(findings_table(verify, width=160).split())
    assert 'Hypothesis: "colour photos are brighter"' in text
    assert "brightness (test.brightness), similarity 0.73" in text
    assert plain_sentence(verify.findings["text"][0]).split(" (")[0] in text and "(not significant)" in text
    assert "No significant difference found (1 hypothesis tested on all images, alpha=0.05)" in text


def test_plain_sentence_strips_only_the_evidence() -> None:
    dog = Concept("semantic.dog", "contain a dog", "presence", category="semantic_category")
    sentence = finding_sentence(dog, "a", 0.9, (0.8, 0.95), 0.0004, share_a=0.6, share_b=0.04)
    expected = "Set A images contain a dog far more often than set B images (60% vs 4%)"
    assert plain_sentence(sentence) == expected
    bare = finding_sentence(dog, "b", 0.7, (0.6, 0.8), 0.02)
    assert plain_sentence(bare) == "Set A images contain a dog less often than set B images"
    assert plain_sentence("Set A images are odd (see notes)") == "Set A images are odd (see notes)"


# --- HTML ---------------------------------------------------------------------------------------------------


def test_html_is_escaped_self_contained_and_atomic(result: Result, tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    assert write_html(result, target) == target
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]  # no temp file, no side files
    page = target.read_text(encoding="utf-8")

    assert "<script" not in page.lower() and "<b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&amp;&quot;&#x27;.png" in page
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; cannot be parsed" in page
    links = re.findall(r"""(?:src|href|url)\s*[=(]\s*["']?([^"')\s>]*)""", page)
    assert links and all(link.startswith("data:") for link in links), "external resource"
    assert "<link" not in page and "@import" not in page

    thumbs = re.findall(r'url\("(data:image/jpeg;base64,[^"]+)"\)', page)
    plots = re.findall(r'src="(data:image/png;base64,[^"]+)"', page)
    n_significant = int(result.findings["significant"].sum())
    assert len(plots) == n_significant and len(thumbs) >= 2
    assert len(set(thumbs)) == len(thumbs)  # each image is embedded once, however many findings show it
    figures = page.count("<figure>")
    assert figures <= n_significant * 2 * MAX_THUMBNAILS and figures == page.count('class="thumb t')
    evil = re.search(r'class="thumb (t\d+)"[^>]*title="[^"]*alert\(1\)&lt;/script&gt;', page)
    assert evil and f".{evil.group(1)} {{ background-image" in page  # the hostile file is shown, escaped
    thumb = _decode(thumbs[0])
    assert thumb.format == "JPEG" and max(thumb.size) <= 160
    assert _decode(plots[0]).format == "PNG"
    assert "Set A images that show it most" in page and "Set B images that show it least" in page
    assert "Skipped files (2)" in page and "Images in both sets (1)" in page
    assert "look more alike" in page and "Not significant" in page and "<details>" in page


def test_html_for_a_verified_hypothesis_escapes_it(result: Result, tmp_path: Path) -> None:
    verify = dataclasses.replace(
        result, mode="verify", hypothesis='<img src=x onerror="alert(1)"> are more colourful',
        matches=[{"concept": "test.colour", "phrase": "show strong colour", "similarity": np.float32(0.81),
                  "direction": None}],
    )
    page = write_html(verify, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "onerror=\"" not in page and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page
    assert "<td>0.81</td>" in page and "all images (the hypothesis was not derived from them)" in page


def test_html_placeholder_for_a_missing_example(result: Result, tmp_path: Path) -> None:
    first = result.findings[result.findings["significant"]].iloc[0]
    missing = dataclasses.replace(result, sets={})  # no set can load any image now
    page = write_html(missing, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "image not available" in page and "data:image/jpeg" not in page
    assert Path(first["examples_a"][0]).name in page


def test_html_says_when_the_describer_weighted_the_correction(result: Result, tmp_path: Path) -> None:
    plain = write_html(result, tmp_path / "plain.html").read_text(encoding="utf-8")
    assert "(weighted: the learned describer" not in plain and "(weight " not in plain
    findings = result.findings.copy()
    findings["weight"] = np.linspace(2.5, 0.4, len(findings))
    page = write_html(dataclasses.replace(result, findings=findings), tmp_path / "w.html").read_text("utf-8")
    assert "tests (weighted: the learned describer gave each hypothesis a weight" in page
    first = findings[findings["significant"]].iloc[0]
    assert f"(weight {first['weight']:.2f})" in page


def test_html_without_findings_or_problems(result: Result, tmp_path: Path) -> None:
    empty = dataclasses.replace(
        result, findings=result.findings.iloc[0:0], skipped=result.skipped.iloc[0:0],
        duplicates=result.duplicates.iloc[0:0],
    )
    page = write_html(empty, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "No significant difference found" in page
    assert "<h2>Skipped files</h2>\n<p>None.</p>" in page
    assert "<h2>Images in both sets</h2>\n<p>None.</p>" in page


def _decode(uri: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    image.load()
    return image


# --- thumbnails and plots -----------------------------------------------------------------------------------


def test_thumbnail_keeps_aspect_and_never_enlarges() -> None:
    image = _decode(thumbnail_data_uri(skdata.rocket(), max_side=160))  # 640 x 427
    assert image.format == "JPEG" and image.size == (160, 107)
    small = _decode(thumbnail_data_uri(skdata.microaneurysms()))  # 102 x 102 grayscale
    assert small.size == (102, 102) and small.mode == "RGB"
    logo = _decode(thumbnail_data_uri(skdata.logo(), max_side=50))  # RGBA, composited on white
    assert logo.size == (50, 50) and np.asarray(logo)[0, 0].min() > 240
    with pytest.raises(ValueError, match="uint8"):
        thumbnail_data_uri(skdata.camera().astype(np.float64))


def test_distribution_plot_draws_both_sets_and_leaves_no_global_state() -> None:
    import matplotlib.pyplot as plt

    backend = matplotlib.get_backend()
    a = np.array([_scores(getattr(skdata, n)())[1] for n in COLOUR_IMAGES[:5]])
    b = np.array([_scores(np.stack([getattr(skdata, n)()] * 3, axis=2))[1] for n in GRAY_IMAGES[:5]])
    plot = _decode(distribution_plot(a, b, "saturation $x$", "saturation", threshold=0.1))
    assert plot.format == "PNG" and 380 <= plot.size[0] <= 470 and 150 <= plot.size[1] <= 190
    pixels = np.asarray(plot.convert("RGB")).reshape(-1, 3).astype(int)
    for colour in (COLOR_A, COLOR_B):
        rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
        assert (np.abs(pixels - rgb).sum(axis=1) < 60).sum() > 10, colour
    assert matplotlib.get_backend() == backend and plt.get_fignums() == []
    empty = _decode(distribution_plot(np.array([np.nan]), np.array([]), "nothing", "score"))
    assert empty.format == "PNG"


# --- end to end ---------------------------------------------------------------------------------------------


def test_describe_end_to_end_reports(tmp_path: Path) -> None:
    from tellapart.concepts.image_stats import ImageStatsSource
    from tellapart.concepts.library import ConceptLibrary
    from tellapart.describe import describe

    a, b = _write_sets(tmp_path / "images")
    found = describe(a, b, library=ConceptLibrary([ImageStatsSource()]), use_cache=False, progress=False)
    assert found.significant.shape[0] >= 1  # colour photos vs grayscale ones must differ

    doc = _strict_loads(found.to_json(tmp_path / "result.json"))
    assert doc["n_tested"] == len(found.findings) and doc["n_screened"] >= doc["n_tested"]
    assert [f["text"] for f in doc["findings"]] == list(found.findings["text"])
    assert any(s["source"].endswith("broken.png") for s in doc["skipped"]) and len(doc["duplicates"]) == 1

    out = tmp_path / "out"
    out.mkdir()
    page = found.to_html(out / "report.html").read_text(encoding="utf-8")
    assert [p.name for p in out.iterdir()] == ["report.html"]
    assert "<script" not in page.lower()
    assert 'class="thumb t0"' in page and "data:image/png;base64," in page

    text = str(found)
    first = plain_sentence(found.significant["text"].iloc[0]).split(" (")[0]
    assert first.split(" than ")[0] in " ".join(text.split()) and "1 file skipped" in text
