"""Say only what a person can see and that belongs to the domain: the domain check, the visibility rule,
and the two families of hypotheses (findings and signals) in the statistics and in every output."""

from __future__ import annotations

import importlib
import json
import warnings

import numpy as np
import pandas as pd
import pytest

import tellapart
from tellapart import stats
from tellapart.concepts.library import ConceptLibrary
from tellapart.concepts.semantics import SemanticSource
from tellapart.io import ImageSet
from tellapart.report.html import render_html
from tellapart.stats.reportable import (
    HIDDEN_REASON,
    PHOTO_LIKE_TOP1,
    WITHHELD_OFF_DOMAIN,
    domain_check,
    hidden_on_discovery,
    hidden_pooled,
    reportable_concepts,
    top1_probability,
)
from tellapart.synth import bundled_pool
from tellapart.synth.pools import textile_pool


@pytest.fixture(scope="module")
def semantic_library() -> ConceptLibrary:
    return ConceptLibrary([SemanticSource()], learned=None)


def test_photos_are_photo_like_and_fabric_close_ups_are_not(semantic_library, pool):
    photos = semantic_library.score_sets({"a": ImageSet.from_spec(pool[:40])})
    domain = domain_check(photos.scores, photos.concepts["category"])
    assert domain.photo_like and domain.withheld == [] and domain.value >= PHOTO_LIKE_TOP1

    # Textile close-ups: the model recognises almost nothing in them (median top-1 about 0.02). The grey
    # cell micrograph's crops sit at 0.07-0.10, right under the threshold (see PHOTO_LIKE_TOP1's comment).
    fabric = semantic_library.score_sets({"a": ImageSet.from_spec(textile_pool("nominal", 40, seed=0))})
    domain = domain_check(fabric.scores, fabric.concepts["category"])
    assert domain.photo_like is False and domain.value < PHOTO_LIKE_TOP1
    assert domain.withheld == list(WITHHELD_OFF_DOMAIN) and "does not recognise" in domain.text


def test_without_imagenet_classes_nothing_is_withheld():
    scores = pd.DataFrame({"stats.brightness": np.linspace(0, 1, 20)})
    domain = domain_check(scores, {"stats.brightness": "stats"})
    assert domain.photo_like is None and domain.withheld == []


def test_visibility_is_decided_on_the_discovery_half_only():
    groups = np.repeat(["a", "b"], 40)
    validation = stats.split_discovery_validation(groups, 3)
    rng = np.random.default_rng(0)
    seen = rng.uniform(0, 0.4, 80)
    seen[(groups == "a") & ~validation] = 0.9  # every discovery image of A shows it
    # Shown outright only on the validation half: still hidden (validation is never looked at).
    only_validation = rng.uniform(0, 0.4, 80)
    only_validation[validation] = 0.9
    scores = pd.DataFrame({"seen": seen, "validation_only": only_validation,
                           "magnitude": rng.normal(size=80)})
    hidden = hidden_on_discovery(scores, groups, {"seen": 0.5, "validation_only": 0.5}, seed=3)
    assert hidden.tolist() == [False, True, False]
    reportable, reasons, _ = reportable_concepts(
        scores, groups, {"seen": "detector", "validation_only": "detector", "magnitude": "stats"},
        {"seen": 0.5, "validation_only": 0.5}, seed=3)
    assert reportable.tolist() == [True, False, True]
    assert reasons.to_dict() == {"validation_only": HIDDEN_REASON}


def _matrix(n: int, n_null: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """One shifted concept ("true"), ``n_null`` null concepts, and strongly shifted "signal" concepts."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(["a", "b"], n)
    shift = (groups == "a").astype(float)
    columns = {"true": rng.normal(size=2 * n) + 0.9 * shift}
    columns.update({f"null{i}": rng.normal(size=2 * n) for i in range(n_null)})
    columns.update({f"signal{i}": rng.normal(size=2 * n) + 2.0 * shift for i in range(15)})
    return pd.DataFrame(columns), groups


def test_signals_cost_the_findings_nothing():
    scores, groups = _matrix(40, 20, seed=1)
    signal_columns = [c for c in scores.columns if c.startswith("signal")]
    reportable = ~scores.columns.isin(signal_columns)
    both = stats.test_concepts(scores, groups, seed=0, reportable=reportable)
    alone = stats.test_concepts(scores.drop(columns=signal_columns), groups, seed=0)
    findings = both[both["reportable"]].reset_index(drop=True)
    # The findings family is exactly what it would be without the signals: same hypotheses, same q-values.
    pd.testing.assert_frame_equal(findings.drop(columns=["reportable"]), alone.drop(columns=["reportable"]))
    assert findings.loc[0, "concept"] == "true" and findings.loc[0, "significant"]

    signals = both[~both["reportable"]]
    assert set(signals["concept"]) <= set(signal_columns) and len(signals) == stats.contract.MAX_SIGNALS
    assert (signals["n_tested"] == len(signals)).all() and signals["explained_by"].isna().all()
    assert list(both["reportable"]) == [True] * len(findings) + [False] * len(signals)  # findings first

    # Had they been one family, the strong signals would have taken the hypotheses' places.
    pooled = stats.test_concepts(scores, groups, seed=0)
    assert "true" not in set(pooled["concept"][: stats.contract.MAX_HYPOTHESES // 2])
    with pytest.raises(ValueError, match="reportable"):
        stats.test_concepts(scores, groups, seed=0, reportable=np.ones(3, dtype=bool))


def test_a_hypothesis_a_person_wrote_is_always_reportable():
    scores, groups = _matrix(20, 2, seed=2)
    table = stats.test_hypotheses_on_all(scores, groups, ["true", "signal0"])
    assert table["reportable"].all()


def test_off_domain_run_withholds_imagenet_and_edit_detectors_everywhere(cache_dir, library, tmp_path):
    fabric = textile_pool("nominal", 60, seed=4)
    darker = [(image * 0.7).astype(np.uint8) for image in fabric[:30]]
    result = tellapart.describe(darker, fabric[30:], seed=0, cache_dir=cache_dir, library=library,
                                progress=False)
    assert result.domain is not None and result.domain.photo_like is False
    assert not result.findings["category"].isin(WITHHELD_OFF_DOMAIN).any()
    assert (result.significant["category"] == "stats").any(), result.findings[["concept", "q_value"]]
    assert len(result.signals) and result.signals["reason"].str.len().gt(0).all()
    withheld = result.signals[result.signals["category"].isin(WITHHELD_OFF_DOMAIN)]
    measured = result.domain.measure
    assert len(withheld) and withheld["reason"].str.contains(measured, regex=False).all()

    document = json.loads(result.to_json())
    assert document["domain"]["photo_like"] is False
    assert document["domain"]["withheld"] == list(WITHHELD_OFF_DOMAIN)
    assert [s["concept"] for s in document["signals"]] == list(result.signals["concept"])
    assert all(s["reason"] for s in document["signals"])
    assert "Withheld from the findings" in str(result)
    page = render_html(result)
    section = page[page.index('<details id="signals">'):]
    assert "Signals nobody can name" in page and "does not recognise the images as photos" in section
    assert section.count("<tr>") == len(result.signals) + 1


def test_photo_run_reports_imagenet_names(cache_dir, library):
    result = tellapart.describe(bundled_pool(30, seed=5), bundled_pool(30, seed=6), seed=0,
                                cache_dir=cache_dir, library=library, progress=False)
    assert result.domain.photo_like and result.domain.withheld == []
    assert (result.signals["reason"] == HIDDEN_REASON).all()



def test_a_user_can_declare_the_images_are_not_photos(cache_dir, library):
    # For stained smears the domain model cannot recognise (see scripts/make_domain_model.py), the user
    # says what they are: ImageNet names and edit detectors become signals, decided without the labels.
    a, b = bundled_pool(30, seed=5), bundled_pool(30, seed=6)
    result = tellapart.describe(a, b, seed=0, cache_dir=cache_dir, library=library, progress=False,
                                domain="other")
    assert result.domain.photo_like is False and result.domain.withheld == list(WITHHELD_OFF_DOMAIN)
    assert result.domain.text.startswith("Declared not photos")
    assert result.domain.measure.startswith("declared (other); ")
    assert not result.findings["category"].isin(WITHHELD_OFF_DOMAIN).any()
    assert result.signals["category"].isin(WITHHELD_OFF_DOMAIN).any()
    with pytest.raises(ValueError, match="domain must be one of"):
        tellapart.describe(a, b, cache_dir=cache_dir, library=library, progress=False, domain="medical")

# --- the explained share, measured on images that did not declare the named findings ------------------------


def test_named_findings_are_declared_on_one_fold_and_measured_on_the_other():
    scores, groups = _matrix(80, 20, seed=3)
    tested = stats.test_concepts(scores, groups, seed=0)
    validation = stats.split_discovery_validation(groups, 0)
    folds = stats.contract.named_on_folds(scores, groups, validation, tested, seed=0, repeats=3)
    assert len(folds) == 6
    for (first, _), (second, _) in zip(folds[::2], folds[1::2], strict=True):
        assert not (first & second).any() and ((first | second) == validation).all()
        for label in ("a", "b"):  # each fold holds half of each set's validation images
            members = validation & (groups == label)
            assert abs(int((first & (groups == label)).sum()) - members.sum() / 2) <= 0.5
    declared = [set(ids) for _, ids in folds]
    assert all(ids <= set(tested["concept"]) for ids in declared)
    assert sum("true" in ids for ids in declared) >= 3  # the real shift is declared on most folds


def test_cross_fitted_share_does_not_credit_findings_declared_on_the_measuring_images():
    # Image embeddings carry a difference; the concepts carry none. Declared and measured on the same
    # validation images, a chance finding would look like it explained part of it; cross-fitted, it is
    # measured on images that did not declare it.
    rng = np.random.default_rng(0)
    groups = np.repeat(["a", "b"], 100)
    embeddings = rng.normal(size=(200, 16))
    embeddings[:, 0] += 2.5 * (groups == "a")
    validation = stats.split_discovery_validation(groups, 0)
    noise = rng.normal(size=(200, 1))
    # The one "named" column separates the discovery images (where it was chosen) and the validation
    # images of the first fold (where it was declared), not those of the second.
    noise[~validation, 0] += 2.0 * (groups[~validation] == "a")
    second = stats.split_discovery_validation(groups[validation], 1)
    first_rows = np.flatnonzero(validation)[~second]
    noise[first_rows, 0] += 2.0 * (groups[first_rows] == "a")
    measure = np.zeros(200, dtype=bool)
    measure[np.flatnonzero(validation)[second]] = True
    crossed = stats.difference_test(embeddings, groups, validation, named_scores=noise,
                                    named_folds=[(measure, [0])])
    in_sample = stats.difference_test(embeddings, groups, validation, named_scores=noise)
    assert crossed.auroc > 0.7 and crossed.auroc == in_sample.auroc
    assert in_sample.explained_share > 0.5 and crossed.explained_share < 0.3


def test_structures_lead_only_when_the_images_are_not_photos():
    from tellapart.schema import Domain
    from tellapart.stats.reportable import lead_concepts

    categories = pd.Series({"region.mass_area": "region", "stats.sharpness": "stats"})

    def domain(photo_like):
        return Domain(photo_like=photo_like, value=0.1, measure="m", threshold=0.15, withheld=[], text="")

    assert lead_concepts(categories, domain(False)) == ["region.mass_area"]
    assert lead_concepts(categories, domain(True)) == []
    assert lead_concepts(categories, domain(None)) == []  # the check could not run: no reordering
    assert lead_concepts(categories, None) == []


def test_the_label_free_visibility_rule_of_max_t_never_looks_at_which_set_an_image_is_in():
    """``hidden_pooled``: shown outright by 2 of 60 images cannot reach 10% of either set of 30, so hidden
    whatever the labels; by 3 of 60 it could (3 of 30 in one set), so not hidden."""
    from tellapart.stats.reportable import hidden_pooled

    rng = np.random.default_rng(0)
    scores = pd.DataFrame({"rare": np.r_[np.ones(2), np.zeros(58)], "enough": np.r_[np.ones(3), np.zeros(57)],
                           "magnitude": rng.normal(size=60)})
    thresholds = {"rare": 0.5, "enough": 0.5}
    for seed in range(5):
        groups = np.where(np.random.default_rng(seed).permutation(60) < 30, "a", "b")
        assert hidden_pooled(scores, groups, thresholds).tolist() == [True, False, False]


def test_visibility_and_top1_read_in_row_blocks_as_on_the_whole_matrix(monkeypatch):
    # Blocks of 7 rows, so NaN rows, the discovery split and both sets cross block edges; on a frame of
    # float32 and float64 blocks with a nullable column (<NA>) and a threshold for a column it lacks.
    monkeypatch.setattr(importlib.import_module("tellapart.stats.auroc"), "ROW_BLOCK", 7)  # the module
    rng = np.random.default_rng(0)
    n = 40
    values = rng.random((n, 6))
    values[rng.random((n, 6)) < 0.2] = np.nan
    values[5] = np.nan
    scores = pd.DataFrame(values[:, :3].astype(np.float32), columns=["c0", "c1", "c2"])
    scores[["c3", "c4"]] = values[:, 3:5]
    scores["c5"] = pd.array(np.where(np.isnan(values[:, 5]), None, values[:, 5]), dtype="Float64")
    groups = np.array(["a", "b"] * (n // 2))
    thresholds = {"c0": 0.5, "c2": 0.9, "c3": 0.3, "c5": 0.6, "absent": 0.5}
    whole = scores.to_numpy(dtype=np.float64, na_value=np.nan)
    positions = [0, 2, 3, 5]
    limits = np.array([0.5, 0.9, 0.3, 0.6])

    def shares(rows):
        part = whole[rows][:, positions]
        scored = (~np.isnan(part)).sum(axis=0)
        return np.divide((part >= limits).sum(axis=0), scored, out=np.zeros(4), where=scored > 0)

    discovery = ~stats.split_discovery_validation(groups, 3)
    expected = np.zeros(6, dtype=bool)
    expected[positions] = np.maximum(shares(discovery & (groups == "a")),
                                     shares(discovery & (groups == "b"))) < 0.5
    np.testing.assert_array_equal(hidden_on_discovery(scores, groups, thresholds, 3, 0.5), expected)
    expected = np.zeros(6, dtype=bool)
    expected[positions] = (whole[:, positions] >= limits).sum(axis=0) < 0.5 * (n // 2)
    np.testing.assert_array_equal(hidden_pooled(scores, groups, thresholds, 0.5), expected)
    categories = {"c1": "semantic_class", "c3": "semantic_class", "c5": "semantic_class"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the all-NaN row
        reference = np.nanmax(whole[:, [1, 3, 5]], axis=1)
    np.testing.assert_array_equal(top1_probability(scores, categories), reference)
    assert top1_probability(scores.iloc[:0], categories).shape == (0,)
