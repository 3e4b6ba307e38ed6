"""The learned describer: features from discovery data, training with a curriculum, and that it only
orders hypotheses (validity of the reported p-values does not depend on it)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tellapart import stats
from tellapart.concepts.image_stats import ImageStatsSource
from tellapart.concepts.library import ConceptLibrary
from tellapart.concepts.shapes import ShapeSource
from tellapart.stats.describer import FEATURES, LearnedDescriber, concept_kinds, discovery_features
from tellapart.synth.pools import bundled_pool
from tellapart.train.describer import (
    build_bank,
    clean_rows,
    contrast_tasks,
    curriculum_stages,
    make_tasks,
    split_bases,
    train_describer,
)

FAMILIES = ("rectangle", "circle", "blur", "brightness_up", "noise", "tint_red")


@pytest.fixture(scope="module")
def bank(tmp_path_factory):
    from tellapart.concepts.cache import ScoreCache

    library = ConceptLibrary([ImageStatsSource(), ShapeSource()], learned=None)
    pool = bundled_pool(64, seed=3, min_side=96, max_side=160, include_gray=False)
    dilution = bundled_pool(30, seed=4, min_side=96, max_side=160)
    cache = ScoreCache(tmp_path_factory.mktemp("cache"))
    try:
        return build_bank(pool, dilution, FAMILIES, library, seed=0, cache=cache, progress=False)
    finally:
        cache.close()


def test_features_describe_a_side_effect_as_correlated_with_a_stronger_cause():
    rng = np.random.default_rng(0)
    n = 30
    cause = np.r_[rng.normal(2, 1, n), rng.normal(0, 1, n)]
    side_effect = 0.7 * cause + rng.normal(0, 0.7, 2 * n)
    noise = rng.normal(size=2 * n)
    values = np.c_[cause, side_effect, noise]
    labels = np.array(["a"] * n + ["b"] * n)
    kinds = concept_kinds(pd.DataFrame({"category": ["shape", "stats", "semantic_category"],
                                        "general": [True, False, True]}))
    features = discovery_features(values, labels, kinds, np.array([np.nan, np.nan, 0.5]), np.arange(3))
    assert features.shape == (3, len(FEATURES))
    f = dict(zip(FEATURES, features.T, strict=True))
    assert f["strength"][0] > f["strength"][2]
    assert f["relative_strength"][0] == pytest.approx(1.0)
    assert f["strength"][1] < f["strength"][0]
    assert f["corr_with_stronger"][1] > 0.5  # the side effect tracks the cause within sets
    assert f["corr_with_stronger"][0] == 0.0  # nothing is stronger than the cause
    assert f["kind_shape"][0] == 1 and f["kind_stats"][1] == 1 and f["kind_semantic_category"][2] == 1
    assert f["has_threshold"].tolist() == [0, 0, 1]
    assert f["is_general"].tolist() == [1, 0, 1]


def test_tasks_know_their_true_concepts(bank):
    train_bases, eval_bases = split_bases(bank.n_bases, seed=0)
    assert not set(train_bases) & set(eval_bases)
    easy = curriculum_stages()[0]
    tasks = make_tasks(bank, easy, eval_bases, ["rectangle"], 10, seed=1)
    # A strong pasted rectangle in every image of one set passes the screen, and is marked true.
    assert sum(t.positive.any() for t in tasks) >= 8
    again = make_tasks(bank, easy, eval_bases, ["rectangle"], 10, seed=1)
    assert all(np.array_equal(a.features, b.features) for a, b in zip(tasks, again, strict=True))


def test_contrast_tasks_take_both_columns_as_true_in_opposite_directions(bank):
    rows = clean_rows(bank, np.arange(bank.n_bases))
    columns = [bank.concept_ids.index("stats.brightness"), bank.concept_ids.index("stats.saturation")]
    tasks = contrast_tasks(bank, rows, columns, 6, seed=0, stage="content")
    assert len(tasks) == 6 and all(t.stage == "content" for t in tasks)
    assert all(set(t.families) == {"stats.brightness", "stats.saturation"} for t in tasks)
    # Set A is high on one column and set B on the other: both separate the sets and both are true.
    assert np.mean([t.positive.sum() for t in tasks]) >= 1.5
    assert contrast_tasks(bank, rows, columns[:1], 6, seed=0, stage="content") == []


def test_training_beats_ordering_by_strength_and_is_deterministic(bank):
    describer, log = train_describer(bank, seed=0, tasks_per_stage=60, n_batches=60, progress=False,
                                     compare=True)
    assert {"batch", "stage", "stage_accuracy", "hard_accuracy", "curriculum"} <= set(log.columns)
    assert set(log["curriculum"]) == {True, False}
    assert log.loc[log["curriculum"], "stage"].iloc[0] == "easy"
    held_out = describer.info["held_out_top1"]
    print(held_out)
    # On held-out tasks, naming the cause beats naming the strongest concept, over the stages.
    assert np.mean(list(held_out["trained"].values())) > np.mean(list(held_out["by_strength"].values()))
    again, _ = train_describer(bank, seed=0, tasks_per_stage=60, n_batches=60, progress=False,
                               compare=True)
    np.testing.assert_array_equal(describer.W1, again.W1)


def test_describer_round_trips_and_refuses_other_features(tmp_path, bank):
    describer, _ = train_describer(bank, seed=1, tasks_per_stage=20, n_batches=10, progress=False)
    path = describer.save(tmp_path / "describer.npz")
    loaded = LearnedDescriber.load(path)
    assert loaded.version == describer.version
    x = np.random.default_rng(0).random((5, len(FEATURES))).astype(np.float32)
    np.testing.assert_allclose(loaded.score(x), describer.score(x), rtol=1e-6)
    with pytest.raises(ValueError):
        describer.score(x[:, :3])


def test_a_describer_changes_the_order_never_the_validity():
    """Null calibration with a describer: on noise, at most alpha of runs report anything."""
    describer = LearnedDescriber.load()
    columns = [f"stats.c{j}" for j in range(60)] + [f"shape.s{j}" for j in range(20)]
    ranker = describer.ranker(pd.DataFrame({"category": ["stats"] * 60 + ["shape"] * 20, "general": False,
                                            "threshold": np.nan}, index=columns))
    reported = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        scores = pd.DataFrame(rng.normal(size=(60, len(columns))), columns=columns)
        groups = np.array(["a"] * 30 + ["b"] * 30)
        table = stats.test_concepts(scores, groups, seed=seed, ranker=ranker)
        reported += bool(table["significant"].any())
        assert table["describer_score"].notna().all()
        # The describer's confidence weights the correction: mean 1, most weight on its favourite.
        assert table["weight"].mean() == pytest.approx(1.0)
        assert table["weight"].idxmax() == table["describer_score"].idxmax()
        q = stats.benjamini_hochberg(table["p_value"], table["weight"])
        np.testing.assert_allclose(table["q_value"], q)
    assert reported <= 4
