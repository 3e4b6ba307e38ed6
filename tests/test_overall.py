"""Is there any difference at all? Image embeddings, the held-out classifier test, and how it is reported."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest
import torch

import tellapart
from tellapart.concepts.cache import ScoreCache
from tellapart.concepts.detectors import DetectorSource
from tellapart.concepts.image_stats import ImageStatsSource
from tellapart.concepts.library import EMBEDDING_SUFFIX, ConceptLibrary
from tellapart.concepts.semantics import EMBEDDING_DIM, SemanticSource, preprocess
from tellapart.concepts.shapes import ShapeSource
from tellapart.io import ImageSet
from tellapart.report.html import render_html
from tellapart.schema import Overall, record_to_dict
from tellapart.stats import difference_test, explained_share, split_discovery_validation
from tellapart.synth import make_edited_pair


def _describe(pair, cache_dir, library, seed=0) -> tellapart.Result:
    # The untrained ordering: these tests are about the classifier line, not about which findings are named
    # (the learned describer's looser screen names weak side effects of the edit, which then explain it).
    return tellapart.describe(pair.set_a, pair.set_b, seed=seed, cache_dir=cache_dir, library=library,
                              progress=False, describer=None)


def test_features_are_what_the_classifier_head_reads(pool):
    source = SemanticSource()
    tensor = preprocess(pool[:3])
    features, probabilities = source.backbone.forward(tensor)
    assert features.shape == (3, EMBEDDING_DIM) and features.dtype == np.float32
    model = source.backbone.model
    with torch.inference_mode():
        expected = torch.softmax(model(tensor), dim=1).numpy()
        head = torch.softmax(model._fc(torch.from_numpy(features[:, -1280:])), dim=1).numpy()
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    np.testing.assert_allclose(head, expected, atol=1e-5)


def test_embeddings_come_with_the_scores_and_are_cached(pool, tmp_path, count_scored):
    semantic = count_scored(SemanticSource())
    library = ConceptLibrary([semantic])
    sets = {"a": ImageSet.from_spec(pool[:6]), "b": ImageSet.from_spec(pool[4:10])}  # pool[4:6] twice
    cache = ScoreCache(tmp_path / "cache")
    first = library.score_sets(sets, cache=cache)
    assert semantic.scored == 10  # 10 distinct images: the two in both sets go through the model once
    assert first.embeddings.shape == (12, EMBEDDING_DIM) and np.isfinite(first.embeddings).all()
    np.testing.assert_array_equal(first.embeddings[4], first.embeddings[6])  # same image, same row
    assert not np.array_equal(first.embeddings[0], first.embeddings[1])
    assert not any(c.startswith(("embedding", "dim")) for c in first.scores.columns)
    assert len(first.scores.columns) == len(library.concepts)

    second = library.score_sets(sets, cache=cache)
    assert semantic.scored == 10  # no model work on the second run
    np.testing.assert_array_equal(first.embeddings, second.embeddings)

    # A cache written before embeddings existed has the scores only: one pass fills in the embeddings.
    with sqlite3.connect(tmp_path / "cache" / "scores.sqlite3") as db:
        db.execute("DELETE FROM scores WHERE source = ?", ("semantic" + EMBEDDING_SUFFIX,))
    third = library.score_sets(sets, cache=cache)
    assert semantic.scored == 20
    np.testing.assert_allclose(third.embeddings, first.embeddings, atol=1e-5)
    library.score_sets(sets, cache=cache)
    assert semantic.scored == 20


def test_a_library_without_the_backbone_has_no_embeddings(pool):
    from tellapart.concepts.image_stats import ImageStatsSource

    library = ConceptLibrary([ImageStatsSource()])
    table = library.score_sets({"a": ImageSet.from_spec(pool[:3])})
    assert table.embeddings is None and library.embedding_blocks is None


def test_identical_halves_show_no_difference(pool, cache_dir, library):
    pair = make_edited_pair(pool, [("rectangle", 1.0)], 40, 40, seed=0, purity=0.0)
    overall = _describe(pair, cache_dir, library).overall
    assert not overall.significant and overall.p_value > 0.05, overall
    assert overall.status == "none" and overall.explained_share is None
    assert "No difference detected" in overall.text


def test_a_difference_no_concept_names_is_found_and_left_unexplained(pool, cache_dir, library):
    pair = make_edited_pair(pool, [("rotation", 1.0)], 40, 40, seed=0)
    # Without the learned detectors no concept names a rotation; with them, learned.rotation does.
    named = _describe(pair, cache_dir, library)
    assert "learned.rotation" in set(named.significant["concept"])
    assert named.overall.status in ("explained", "partly")
    # Without learned detectors and single ImageNet classes (on the bench photos a rotation also moves
    # "breakwater", a side effect of tilted horizons) no concept names it.
    unnamed = ConceptLibrary([ImageStatsSource(), ShapeSource(), DetectorSource(),
                              SemanticSource(include_classes=False)], learned=None)
    result = _describe(pair, cache_dir, unnamed)
    overall = result.overall
    assert overall.significant and overall.auroc_ci[0] > 0.5, overall
    assert overall.status == "unexplained" and overall.explained_share == 0.0
    assert "no named finding describes" in str(result)
    # The classifier keeps its own discovery/validation split in either design.
    held_out = split_discovery_validation(result.images["set"].to_numpy(), result.seed)
    a_sources = set(result.images.loc[(result.images["set"] == "a").to_numpy() & held_out, "source"])
    assert len(overall.most_a_like) == 6 and set(overall.most_a_like) <= a_sources

    document = json.loads(result.to_json())  # strict JSON: no NaN tokens
    assert document["overall"]["status"] == "unexplained"
    assert document["overall"]["n_features"] == EMBEDDING_DIM
    html = render_html(result)
    assert "Is there any difference at all?" in html
    section = html[html.index('id="overall"'):]
    assert section[: section.index("</section>")].count('class="thumb ') == 12


def test_an_inserted_rectangle_is_found_and_explained_by_the_findings(pool, cache_dir, library):
    pair = make_edited_pair(pool, [("rectangle", 1.0)], 40, 40, seed=0)
    result = _describe(pair, cache_dir, library)
    overall = result.overall
    assert overall.significant and overall.status == "explained", overall
    assert overall.explained_share >= 0.8
    assert {"shape.rectangle", "shape.any", "learned.rectangle"} & set(overall.named_concepts)
    assert "named findings explain it" in str(result)


def test_explained_share_is_the_named_part_of_the_separation_above_chance():
    assert explained_share(0.7, 0.9) == pytest.approx(0.5)
    assert explained_share(0.95, 0.9) == 1.0 and explained_share(0.4, 0.9) == 0.0
    assert explained_share(0.6, 0.5) is None and explained_share(0.6, float("nan")) is None


def test_too_few_images_says_why_and_stays_strict_json(pool):
    embeddings = np.random.default_rng(0).normal(size=(6, 8))
    groups = np.array(["a", "a", "a", "b", "b", "b"])
    test = difference_test(embeddings, groups, split_discovery_validation(groups, 0))
    assert test.reason and not test.significant and np.isnan(test.auroc)
    overall = Overall(status="unavailable", text="did not run", significant=test.significant,
                      auroc=test.auroc, auroc_ci=test.auroc_ci, p_value=test.p_value,
                      named_auroc=test.named_auroc, explained_share=test.explained_share, named_concepts=[],
                      most_a_like=[], most_b_like=[], n_features=test.n_features,
                      n_discovery=test.n_discovery, n_validation=test.n_validation, c=test.c,
                      reason=test.reason)
    document = record_to_dict(Overall, vars(overall))
    json.dumps(document, allow_nan=False)
    assert document["auroc"] is None and document["reason"] == test.reason
    with pytest.raises(ValueError, match="blocks"):
        difference_test(np.zeros((20, 8)), np.repeat(["a", "b"], 10),
                        split_discovery_validation(np.repeat(["a", "b"], 10), 0), blocks=(4, 5))
