"""The benchmark: peers and tellapart on one score matrix, VisDiff-style scoring, a small real run."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tellapart.bench import (
    MATCH_THRESHOLD,
    METHODS,
    PairContext,
    Scorer,
    SuiteConfig,
    calibrate_match_threshold,
    run_bench,
    suites,
)
from tellapart.bench.run import _Judge
from tellapart.bench.suites import REAL_HARD, get_suite, real_pairs
from tellapart.concepts.cache import ScoreCache
from tellapart.concepts.detectors import DetectorSource
from tellapart.concepts.image_stats import ImageStatsSource
from tellapart.concepts.library import ConceptLibrary
from tellapart.concepts.shapes import ShapeSource
from tellapart.io import ImageSet
from tellapart.stats.describer import LearnedDescriber
from tellapart.synth import Difference, get_family

TINY = SuiteConfig(
    "tiny",
    n_per_set=12,
    pairs_per_tier=1,
    null_pairs=1,
    sweep_pairs=0,
    real_pairs=0,
    real_per_set=10,
    pool_size=30,
)


@pytest.fixture(scope="module")
def library() -> ConceptLibrary:
    return ConceptLibrary()


def _matrix(shift: float, n: int = 40, k: int = 200, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(2 * n, k))
    values[:n, 0] += shift
    groups = np.array(["a"] * n + ["b"] * n)
    return pd.DataFrame(values, columns=[f"c{j}" for j in range(k)]), groups


def test_every_method_finds_a_clear_shift_first():
    scores, groups = _matrix(shift=2.0)
    flipped_groups = np.where(groups == "a", "b", "a")
    for name, method in METHODS.items():
        out = method.run(scores, groups, PairContext(0, {}, {}))
        assert out.findings[0] == ("c0", "a"), name
        assert out.reported, name
        flipped = method.run(scores, flipped_groups, PairContext(0, {}, {}))
        assert flipped.findings[0] == ("c0", "b"), name
        assert flipped.reported, name


def _describer_context(library, columns, seed: int) -> PairContext:
    """The context the benchmark gives its trained methods: the shipped describer ranking ``columns``."""
    return _Judge.for_library(library, LearnedDescriber.load(), seed).context(
        library.concept_table().loc[columns])


SILENT_METHODS = ("tellapart", "tellapart-split", "tellapart-split-holm", "tellapart-untrained",
                  "visdiff-t-test")


@pytest.mark.parametrize("describer", [False, True], ids=["untrained", "shipped-describer"])
def test_on_pure_noise_tellapart_stays_silent_and_uncorrected_peers_do_not(library, describer):
    # Real concept ids as the columns (every kind the library has), so the describer sees real kinds.
    ids = list(library.concepts)
    columns = [ids[i] for i in np.linspace(0, len(ids) - 1, 200).astype(int)]
    silent = dict.fromkeys(SILENT_METHODS, 0)
    seeds = 20
    for seed in range(seeds):
        scores, groups = _matrix(shift=0.0, seed=seed)
        scores.columns = columns
        context = _describer_context(library, columns, seed) if describer else PairContext(seed, {}, {})
        for name in SILENT_METHODS:
            silent[name] += not METHODS[name].run(scores, groups, context).reported
    # Any finding at all in at most alpha = 5% of pure-noise pairs (1 of 20 expected; 2 allowed).
    assert all(silent[name] >= seeds - 2 for name in SILENT_METHODS[:4]), silent
    assert silent["visdiff-t-test"] == 0  # 200 uncorrected tests at 0.05: something always passes


@pytest.mark.slow
def test_on_random_splits_of_real_photos_tellapart_stays_silent_with_the_describer(pool, cache_dir, library):
    """Null pairs of real images: the 120 session crops scored by the full library, split at random into
    two sets of 60, 60 times. The trained methods run with the shipped describer, as the benchmark runs
    them (its ``PairContext``), ``tellapart-untrained`` without it."""
    table = library.score_sets({"a": ImageSet.from_spec(pool[:60]), "b": ImageSet.from_spec(pool[60:])},
                               cache=ScoreCache(cache_dir))
    scores = table.scores
    reported = dict.fromkeys(SILENT_METHODS, 0)
    splits = 60
    for seed in range(splits):
        groups = np.where(np.random.default_rng(seed).permutation(len(scores)) < 60, "a", "b")
        context = _describer_context(library, scores.columns, seed)
        for name in SILENT_METHODS:
            reported[name] += METHODS[name].run(scores, groups, context).reported
    # Any finding in at most about alpha = 5% of the splits: measured 4, 4 and 3 of these 60 (6, 6 and 5
    # of 100) with the shipped describer when written. Twice alpha is allowed; a broken correction reports
    # on most splits, as the uncorrected peer does.
    assert all(reported[name] <= 6 for name in SILENT_METHODS[:4]), reported
    assert reported["visdiff-t-test"] >= 54, reported  # ~1460 uncorrected tests: it always reports


def test_scoring_credits(library):
    scorer = Scorer(library.concepts)
    rect = get_family("rectangle").difference(0.5)
    assert scorer.credit("shape.rectangle", "a", rect) == 1.0
    assert scorer.credit("shape.rectangle", "b", rect) == 0.0
    assert scorer.credit("shape.rectangle_small", "a", rect) == 0.5  # child through Concept.parents
    assert scorer.credit("stats.noise", "a", rect) == 0.0
    dog = Difference("category", ("semantic.dog",), "a", "Set A images show dogs")
    assert scorer.credit("semantic.beagle", "a", dog) == 0.5  # WordNet child
    assert scorer.credit("semantic.bicycle_built_for_two", "a", dog) == 0.0
    # Text match: "carry a straight line" vs a short-text truth stays below the threshold, while the
    # triangle truth is close enough to "carry a rectangle".
    assert scorer.similarity("shape.line", get_family("text").difference(0.5)) < MATCH_THRESHOLD
    assert scorer.credit("shape.rectangle", "a", get_family("triangle").difference(0.5)) == 0.5
    blur = get_family("blur").difference(0.5)
    assert scorer.accuracy([("stats.noise", "a"), ("stats.sharpness", "b")], [blur], 1) == 0.0
    assert scorer.accuracy([("stats.noise", "a"), ("stats.sharpness", "b")], [blur], 5) == 1.0
    assert scorer.accuracy([], [], 1) == 1.0 and scorer.accuracy([("stats.noise", "a")], [], 1) == 0.0


def test_learned_detectors_that_state_the_truth_earn_full_credit(library):
    scorer = Scorer(library.concepts)
    blur = get_family("blur").difference(0.5)
    assert scorer.credit("learned.blur", "a", blur) == 1.0  # the edit's own detector, in the edited set
    assert scorer.credit("learned.blur", "b", blur) == 0.0
    assert scorer.credit("learned.downscale", "a", blur) == 1.0  # a family with the same answer
    brighter = get_family("brightness_up").difference(0.5)
    assert scorer.credit("learned.brightness_down", "b", brighter) == 1.0  # "B looks darkened"
    assert scorer.credit("learned.brightness_down", "a", brighter) == 0.0
    assert scorer.credit("learned.contrast_down", "b", brighter) == 0.0  # a side effect, not the edit


def test_multi_edit_recall_and_precision(library):
    scorer = Scorer(library.concepts)
    truths = [get_family("blur").difference(0.5), get_family("rectangle").difference(0.5)]
    found = [("stats.sharpness", "b", False), ("stats.edge_density", "b", True), ("stats.noise", "a", False)]
    recall, precision = scorer.recall_precision(found, truths)
    assert recall == 0.5  # the rectangle was missed
    assert precision == pytest.approx(2 / 3)  # noise is neither an edit nor marked explained
    assert scorer.recall_precision([], truths) == (0.0, None)


def test_calibration_on_a_small_library():
    concepts = list(ConceptLibrary([ImageStatsSource(), ShapeSource()]).concepts.values())
    threshold = calibrate_match_threshold(concepts, quantile=0.99)
    assert 0.3 < threshold < 0.95


def test_bad_suite_and_method_names():
    with pytest.raises(ValueError, match="unknown suite"):
        get_suite("huge")
    with pytest.raises(ValueError, match="at least 10"):
        SuiteConfig(
            "x",
            n_per_set=4,
            pairs_per_tier=1,
            null_pairs=1,
            sweep_pairs=1,
            real_pairs=1,
            real_per_set=10,
            pool_size=30,
        )
    with pytest.raises(ValueError, match="unknown methods"):
        run_bench(TINY, methods=["magic"], progress=False)


def test_tiny_run_with_the_full_library(tmp_path, library):
    json_path = tmp_path / "bench.json"
    report = run_bench(
        TINY,
        json_path=json_path,
        out_dir=tmp_path / "out",
        seed=1,
        progress=False,
        cache_dir=tmp_path / "cache",
        library=library,
    )
    data = json.loads(json_path.read_text())
    assert set(data["methods"]) == set(METHODS)
    for row in data["methods"].values():
        assert set(row["acc@1"]) >= {"easy", "medium", "hard"} and set(row["acc@5"]) >= {
            "easy",
            "medium",
            "hard",
        }
        assert 0 <= row["null_false_finding_rate"] <= 1 and row["seconds_per_pair"] >= 0
        assert row["acc@5"]["easy"] >= row["acc@1"]["easy"]
        # Under its own reporting rule a method can only lose what it would not report.
        for section in ("easy", "medium", "hard"):
            assert row["acc@1_reported"][section] <= row["acc@1"][section]
    for rows in report.rows.groupby("method"):
        silent = rows[1][~rows[1]["reported"] & (rows[1]["section"] != "null")]
        assert (silent["acc1_reported"] == 0).all()
    tellapart = report.rows[report.rows["method"] == "tellapart"]
    assert (tellapart["acc1_reported"] == tellapart["acc1"]).all()  # it shows only what it reports
    assert "own reporting rule" in report.markdown()
    assert data["pairs_per_section"] == {"easy": 1, "medium": 1, "hard": 1, "multi": 1, "null": 1}
    for name in ("tellapart", "tellapart-untrained", "tellapart-split", "tellapart-split-holm"):
        multi = data["methods"][name]["multi_edit"]
        assert multi["n_pairs"] == 1 and 0 <= multi["recall"] <= 1
    assert data["methods"]["visdiff-auroc"]["multi_edit"]["recall"] is None  # it tests nothing
    assert (tmp_path / "out" / "results.md").read_text().startswith("| method |")
    assert "| tellapart |" in report.markdown()
    # A second run hits the cache for every image and gives the same answers.
    again = run_bench(TINY, seed=1, progress=False, cache_dir=tmp_path / "cache", library=library)
    pd.testing.assert_frame_equal(report.rows.drop(columns="seconds"), again.rows.drop(columns="seconds"))


def test_sweeps_real_pairs_and_plots(tmp_path):
    small = ConceptLibrary([ImageStatsSource(), ShapeSource(), DetectorSource()])
    config = SuiteConfig(
        "small",
        n_per_set=12,
        pairs_per_tier=0,
        null_pairs=1,
        sweep_pairs=1,
        real_pairs=1,
        real_per_set=12,
        pool_size=30,
    )
    report = run_bench(
        config,
        out_dir=tmp_path,
        seed=2,
        progress=False,
        cache_dir=tmp_path / "cache",
        library=small,
        methods=["tellapart", "visdiff-auroc"],
    )
    sweeps = report.sweeps()
    assert set(sweeps["purity"]["tellapart"]) == {"1", "0.75", "0.5", "0.25", "0"}
    assert set(sweeps["concentration"]["visdiff-auroc"]) == {"1", "0.75", "0.5", "0.25"}
    for sweep in ("purity", "concentration"):
        assert (tmp_path / f"sweep_{sweep}.png").read_bytes()[:4] == b"\x89PNG"
    real = report.rows[report.rows["section"] == "real"]
    # lfw ships with scikit-image, so at least the faces pair always runs, and the face detector finds it.
    faces = real[(real["pair"] == "real-lfw-faces-vs-nonfaces") & (real["method"] == "visdiff-auroc")]
    assert len(faces) == 1 and faces["acc5"].iloc[0] == 1.0
    # ...and at the hard tier too, in the summary beside the other sections.
    assert "real-hard-lfw-faces-vs-nonfaces-0" in set(report.rows["pair"])
    assert report.summary()["tellapart"]["acc@1"][REAL_HARD] is not None


def test_real_hard_pairs_mix_in_set_b_and_dilute_both(monkeypatch):
    # Pools of images told apart by their value: 0 = A's category, 1 = B's, 2 = the diluting pool.
    def pool(value):
        return lambda n, seed: [np.full((8, 8, 3), value, np.uint8) for _ in range(n)]

    dilution = pool(2)(200, 0)
    config = SuiteConfig("t", n_per_set=40, pairs_per_tier=0, null_pairs=0, sweep_pairs=0, real_pairs=1,
                         real_per_set=40, pool_size=80, real_hard_draws=3)
    truth = [Difference("category", ("semantic.animal",), "a", "A shows animals")]
    monkeypatch.setattr(suites, "REAL_PAIRS", [("src", "cats-vs-cars", pool(0), pool(1), truth)])
    pairs = list(real_pairs(config, seed=5, notes=[], dilution=lambda: dilution))
    assert [p.section for p in pairs] == ["real"] + [REAL_HARD] * 3
    assert len({p.name for p in pairs}) == 4
    for pair in pairs[1:]:
        a = np.array([int(im[0, 0, 0]) for im in pair.set_a])
        b = np.array([int(im[0, 0, 0]) for im in pair.set_b])
        assert len(a) == len(b) == 40 and pair.differences == truth
        purity, concentration = pair.info["purity"], pair.info["concentration"]
        assert 0.3 <= purity <= 0.6 and 0.5 <= concentration <= 0.8
        assert (a == 2).sum() == (b == 2).sum() == 40 - round(concentration * 40)
        assert (b == 0).sum() == 0 and (a == 0).sum() == max(1, round(purity * round(concentration * 40)))
        assert (a == 1).sum() < (b == 1).sum()  # B's category is still more common in set B
    assert pairs[1].info != pairs[2].info  # each draw is its own mix
