"""Metadata as concepts (manifest columns, DICOM header fields) and adjusting for confounders
(``describe(adjust_for=...)``, ``--adjust-for``): a difference the scanner alone makes disappears after
adjustment, a real one stays, and under the null the adjusted test reports nothing."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import stats

import tellapart
from tellapart import cli
from tellapart.concepts.image_stats import ImageStatsSource
from tellapart.concepts.library import SPARE_COLUMNS, ConceptLibrary
from tellapart.concepts.metadata import MAX_VALUES, MIN_COUNT, metadata_concepts, metadata_table
from tellapart.io import ImageSet
from tellapart.io.image import Notice
from tellapart.report.table import findings_table
from tellapart.stats.contract import test_concepts
from tellapart.stats.stratified import NUMERIC_STRATA, strata, van_elteren, van_elteren_matrix

N = 40  # images per set
CONFOUNDED = 36  # of set A's images come from scanner SIEMENS, and of set B's from GE
NULL_RUNS = 20  # identical-distribution runs (a third of a second each)
DRAWS = 4000  # null draws of the van Elteren test: its rejection rate to within about +-0.007


def _library() -> ConceptLibrary:
    return ConceptLibrary(sources=[ImageStatsSource()], learned=None)


def _describe(a, b, **options) -> tellapart.Result:
    return tellapart.describe(a, b, library=_library(), describer=None, use_cache=False, progress=False,
                              **options)


@pytest.fixture(scope="module")
def confounded(pool, tmp_path_factory) -> Path:
    """A manifest of 40 vs 40 crops of the bundled photos: set A is mostly scanner SIEMENS (36/40), set B
    mostly GE (36/40); SIEMENS images are darkened (the pixel effect the scanner causes), and every set-A
    image, whatever its scanner, carries a red tint of about constant brightness (the real difference)."""
    root = tmp_path_factory.mktemp("confounded")
    rows = []
    for index in range(2 * N):
        group = "a" if index < N else "b"
        scanner = "SIEMENS" if (index % N < CONFOUNDED) == (group == "a") else "GE"
        image = pool[index].astype(np.float64)
        if scanner == "SIEMENS":
            image = image * 0.5
        if group == "a":
            image = image + np.array([30.0, -15.0, -15.0])
        name = f"img{index:03d}.png"
        Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(root / name)
        rows.append({"path": name, "label": group, "scanner": scanner})
    table = root / "images.csv"
    pd.DataFrame(rows).to_csv(table, index=False)
    return table


def _sets(manifest: Path) -> tuple[ImageSet, ImageSet]:
    return ImageSet.from_manifest(manifest, "label", "a"), ImageSet.from_manifest(manifest, "label", "b")


def _row(result: tellapart.Result, concept: str) -> pd.Series:
    found = result.findings[result.findings["concept"] == concept]
    assert len(found) == 1, f"{concept} was not tested: {list(result.findings['concept'])}"
    return found.iloc[0]


def test_manifest_columns_become_metadata_concepts(confounded):
    a, b = _sets(confounded)
    assert a.refs[0].metadata == {"scanner": "SIEMENS"}
    table = _library().score_sets({"a": a, "b": b})
    assert set(table.metadata_concepts) == {"metadata.scanner=SIEMENS", "metadata.scanner=GE"}
    concept, column = table.metadata_concepts["metadata.scanner=SIEMENS"]
    assert (concept.category, concept.kind, column) == ("metadata", "presence", "scanner")
    assert concept.phrase == "come from a SIEMENS scanner"
    assert table.scores["metadata.scanner=SIEMENS"].sum() == 2 * CONFOUNDED - N + 2 * (N - CONFOUNDED)
    assert table.concepts.loc["metadata.scanner=GE", "category"] == "metadata"


@pytest.mark.parametrize("extra_columns", [3, SPARE_COLUMNS + 5])
def test_many_metadata_columns_keep_every_score_in_place(pool, tmp_path, extra_columns):
    # However many metadata concepts a manifest makes (up to `SPARE_COLUMNS` go in the score matrix's spare
    # columns, more in a block of their own), each column holds its own scores after the sources' columns.
    rng = np.random.default_rng(0)
    rows = []
    for index in range(20):
        name = f"img{index:02d}.png"
        Image.fromarray(pool[index]).save(tmp_path / name)
        rows.append({"path": name, "label": "ab"[index % 2],
                     **{f"m{j}": int(rng.integers(0, 1000)) for j in range(extra_columns)}})
    manifest = tmp_path / "images.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    sets = dict(zip("ab", _sets(manifest), strict=True))
    table = _library().score_sets(sets)
    expected = metadata_concepts(metadata_table([ref.metadata for s in sets.values() for ref in s.refs]))
    ids = [c.id for c in expected.concepts]
    assert len(ids) == extra_columns and list(table.scores.columns[-extra_columns:]) == ids
    np.testing.assert_array_equal(table.scores[ids].to_numpy(), expected.scores)
    plain = ConceptLibrary(sources=[ImageStatsSource()], learned=None).score_sets(
        {label: ImageSet.from_spec([pool[i] for i in range(20) if "ab"[i % 2] == label]) for label in "ab"})
    pd.testing.assert_frame_equal(table.scores.iloc[:, :-extra_columns], plain.scores)


def test_a_picture_listed_again_counts_once_for_the_metadata_concepts(pool, tmp_path):
    # Five rows of one picture with scanner GE among fifteen SIEMENS pictures: counted once (as describe
    # counts it), GE is recorded for one image, too few for a concept (`MIN_COUNT`); every row counted, it
    # would be one.
    rows = []
    for index in range(15):
        Image.fromarray(pool[index]).save(tmp_path / f"img{index:02d}.png")
        rows.append({"path": f"img{index:02d}.png", "label": "a", "scanner": "SIEMENS"})
    Image.fromarray(pool[20]).save(tmp_path / "ge.png")
    rows += [{"path": "ge.png", "label": "a", "scanner": "GE"}] * MIN_COUNT
    manifest = tmp_path / "images.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    sets = {"a": ImageSet.from_manifest(manifest, "label", "a")}
    assert "metadata.scanner=GE" in _library().score_sets(sets).metadata_concepts
    once = _library().score_sets(sets, once_per_set=True)
    assert len(once.images) == 16 and "metadata.scanner=GE" not in once.metadata_concepts


def test_the_scanner_is_a_shortcut_and_its_pixel_effect_goes_once_adjusted_for(confounded):
    a, b = _sets(confounded)
    plain = _describe(a, b)
    scanner = plain.findings[plain.findings["category"] == "metadata"]
    assert scanner["significant"].any()
    assert "a possible shortcut" in scanner.iloc[0]["text"] and "scanner" in scanner.iloc[0]["text"]
    darker = _row(plain, "stats.brightness")
    assert darker["significant"] and darker["direction"] == "b"  # "Set A images are darker"
    assert _row(plain, "stats.red_tint")["significant"]

    adjusted = _describe(a, b, adjust_for=["scanner"])
    assert adjusted.adjusted_for == ["scanner"]
    assert not (adjusted.findings["category"] == "metadata").any()  # the adjusting column is not tested
    # Within scanners "darker" is no difference: not significant (or, with --design split, not even chosen).
    darker = adjusted.findings[adjusted.findings["concept"] == "stats.brightness"]
    assert darker.empty or not darker.iloc[0]["significant"]
    validation = adjusted.images["split"].isin(["validation", "all"]).to_numpy()  # the images tested
    scanner = [ref.metadata["scanner"] for s in (a, b) for ref in s.refs]
    within = van_elteren(adjusted.scores["stats.brightness"].to_numpy()[validation],
                         adjusted.images["set"].to_numpy()[validation],
                         np.asarray(scanner)[validation], "less")
    assert within[0] < 0.6 and within[2] > 0.05, within
    tint = _row(adjusted, "stats.red_tint")
    assert tint["significant"] and tint["auroc"] > 0.9
    assert "adjusted AUROC" in tint["text"] and "unadjusted AUROC" in tint["text"]
    table = findings_table(adjusted, width=140)
    assert "unadjusted 1.00" in table and "adjusted AUROC" not in table  # the evidence is in its column
    document = json.loads(adjusted.to_json())
    assert document["adjusted_for"] == ["scanner"]
    assert {"auroc_unadjusted", "p_value_unadjusted"} <= set(document["findings"][0])
    assert json.loads(plain.to_json())["findings"][0]["auroc_unadjusted"] is None


def test_cli_adjust_for(confounded, tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "_library", lambda args: _library())
    options = ["describe", "--manifest", str(confounded), "--group-col", "label", "--group-a", "a",
               "--group-b", "b", "--describer", "none", "--no-cache", "--quiet"]
    out = tmp_path / "out.json"
    assert cli.main([*options, "--adjust-for", "scanner", "--out", str(tmp_path / "o"), "--json",
                     str(out)]) == 0
    document = json.loads(out.read_text())
    assert document["adjusted_for"] == ["scanner"]
    assert ", unadjusted 1.00" in (tmp_path / "o" / "report.html").read_text()
    significant = {f["concept"] for f in document["findings"] if f["significant"]}
    assert "stats.red_tint" in significant and "stats.brightness" not in significant
    assert cli.main([*options, "--adjust-for", "site", "--out", str(tmp_path / "o2")]) == 2


def test_adjust_for_an_unknown_column_is_named_before_any_image_is_read(confounded):
    a, b = _sets(confounded)
    with pytest.raises(ValueError, match="'site'.*scanner"):
        _describe(a, b, adjust_for=["site"])
    with pytest.raises(ValueError, match="no image has a value for 'KVP'"):  # a DICOM field, but PNGs
        _describe(a, b, adjust_for=["KVP"])


def test_dicom_header_fields_become_concepts(tmp_path):
    pydicom = pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_file

    template = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    rng = np.random.default_rng(0)
    folders = {"a": tmp_path / "a", "b": tmp_path / "b"}
    for label, folder in folders.items():
        folder.mkdir()
        for index in range(14):
            dataset = template.copy()
            pixels = template.pixel_array.astype(np.int16) + rng.integers(0, 50, template.pixel_array.shape,
                                                                          dtype=np.int16)
            dataset.PixelData = pixels.tobytes()
            dataset.Manufacturer = "SIEMENS" if (label == "a") != (index >= 12) else "GE MEDICAL SYSTEMS"
            dataset.KVP = 120 if label == "a" else 100 + index
            dataset.save_as(folder / f"{index:02d}.dcm")
    table = _library().score_sets({k: ImageSet.from_spec(v) for k, v in folders.items()})
    ids = set(table.metadata_concepts)
    assert {"metadata.Manufacturer=SIEMENS", "metadata.Manufacturer=GE MEDICAL SYSTEMS",
            "metadata.KVP"} <= ids
    assert table.metadata_concepts["metadata.KVP"][0].kind == "magnitude"
    assert table.metadata["PixelSpacing"].notna().all()
    result = _describe(str(folders["a"]), str(folders["b"]))
    # Significant, and phrased as a shortcut; it may be marked explained by the kVp that goes with the
    # scanner (both separate the sets perfectly here).
    found = result.findings[result.findings["significant"]]
    shortcut = found[found["concept"].str.startswith("metadata.Manufacturer")]
    assert len(shortcut), result.findings[["concept", "q_value"]]
    assert "scanner far" in shortcut.iloc[0]["text"] and "a possible shortcut" in shortcut.iloc[0]["text"]


def test_a_column_keeps_its_most_frequent_values_and_skips_identifiers():
    values = [f"v{i % 30}" for i in range(300)] + ["rare"] * 2
    with pytest.warns(Notice, match=f"'site': only its {MAX_VALUES} most frequent values are tested; 10 "
                                    "more values recorded for 5 or more images are not"):
        made = metadata_concepts(metadata_table([{"site": v, "id": f"P{i}"} for i, v in enumerate(values)]))
    assert len(made.concepts) == MAX_VALUES
    assert made.left_out == {"site": 30 - MAX_VALUES}
    assert set(made.columns.values()) == {"site"}  # one value per image: no concept


def test_numeric_covariates_are_cut_into_quantile_strata():
    table = pd.DataFrame({"age": np.arange(100.0), "site": ["x", "y"] * 50})
    assert len(np.unique(strata(table, ["age"]))) == NUMERIC_STRATA
    assert len(np.unique(strata(table, ["age", "site"]))) == 2 * NUMERIC_STRATA
    with pytest.raises(KeyError, match="scanner"):
        strata(table, ["scanner"])


def test_van_elteren_with_one_stratum_is_the_mann_whitney_test():
    rng = np.random.default_rng(1)
    values, labels = rng.normal(size=50), np.array(["a"] * 20 + ["b"] * 30)
    values[:20] += 0.5
    auc, (low, high), p = van_elteren(values, labels, np.zeros(50), "greater")
    reference = stats.mannwhitneyu(values[:20], values[20:], alternative="greater", method="asymptotic",
                                   use_continuity=False)
    assert p == pytest.approx(reference.pvalue)
    assert auc == pytest.approx(reference.statistic / 600) and low < auc < high
    assert van_elteren(values, labels, np.arange(50), "greater")[2] == 1.0  # no stratum holds both sets


def test_van_elteren_holds_its_level_under_the_null():
    rng = np.random.default_rng(5)
    rejected = 0
    for _ in range(DRAWS):
        strata_ids = rng.integers(0, 3, 40)
        values = rng.normal(size=40) + strata_ids  # the covariate moves the scores, not the sets
        labels = rng.permutation(np.array(["a"] * 20 + ["b"] * 20))
        rejected += van_elteren(values, labels, strata_ids, "greater")[2] < 0.05
    assert 0.035 <= rejected / DRAWS <= 0.065  # 0.048 measured


def test_identical_sets_with_an_independent_covariate_report_nothing(pool):
    reported = []
    for seed in range(NULL_RUNS):
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(pool))[:60]
        sites = rng.choice(["north", "south", "east"], size=60)
        refs = [ImageSet.from_spec([pool[i] for i in order[start:start + 30]]) for start in (0, 30)]
        for image_set, start in zip(refs, (0, 30), strict=True):
            image_set.refs = [replace(ref, metadata={"site": sites[start + k]})
                              for k, ref in enumerate(image_set.refs)]
        result = _describe(*refs, seed=seed, adjust_for=["site"])
        reported.append(int(result.significant.shape[0]))
    assert sum(count > 0 for count in reported) <= 2, reported  # 5% of 20 runs is 1 expected


def test_the_matrix_screen_is_van_elteren_per_column():
    rng = np.random.default_rng(3)
    values = rng.normal(size=(60, 4))
    values[::7, 3] = np.nan
    labels = np.array(["a"] * 30 + ["b"] * 30)
    strata_ids = rng.integers(0, 3, 60)
    auc, p = van_elteren_matrix(values, labels, strata_ids)
    for column in range(4):
        one = van_elteren(values[:, column], labels, strata_ids, "two-sided")
        assert (auc[column], p[column]) == pytest.approx((one[0], one[2]))


@pytest.mark.parametrize("design", ["split", "maxt"])
def test_the_direction_tested_is_the_one_within_strata(design):
    """Simpson's paradox: within each scanner set A scores higher, pooled it scores lower (set A is mostly
    the scanner that lowers the score). The adjusted run states and finds the within-strata direction."""
    rng = np.random.default_rng(4)
    labels = np.array(["a"] * 60 + ["b"] * 60)
    scanner = np.where(rng.random(120) < np.where(labels == "a", 0.9, 0.1), 1, 0)
    scores = pd.DataFrame({"x": rng.normal(size=120) + 1.0 * (labels == "a") - 3.0 * scanner})
    plain = test_concepts(scores, labels, seed=0, design=design)
    adjusted = test_concepts(scores, labels, seed=0, strata=scanner, design=design)
    assert plain.loc[0, "direction"] == "b"
    assert adjusted.loc[0, "direction"] == "a" and adjusted.loc[0, "significant"]
    assert adjusted.loc[0, "auroc_unadjusted"] < 0.5 < adjusted.loc[0, "auroc"]
