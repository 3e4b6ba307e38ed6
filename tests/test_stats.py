"""The statistical contract, measured: AUROC and its interval, rank tests, corrections, null calibration,
power, explaining-away, determinism, and work that grows with the hypotheses, not the concepts. Pure numbers
(plus one score matrix from real images)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sp_stats
from sklearn.metrics import roc_auc_score

from tellapart import stats

N_SEEDS = 200


def _labels(n_a: int, n_b: int) -> np.ndarray:
    return np.array(["a"] * n_a + ["b"] * n_b)


# --- split -------------------------------------------------------------------------------------------


def test_split_is_disjoint_balanced_and_seeded():
    groups = np.array(["b", "a"] * 30 + ["a"] * 11)  # 41 A, 30 B, interleaved
    mask = stats.split_discovery_validation(groups, seed=3)
    assert mask.dtype == bool and mask.shape == groups.shape
    assert (mask & (groups == "a")).sum() == 21 and (~mask & (groups == "a")).sum() == 20
    assert (mask & (groups == "b")).sum() == 15 and (~mask & (groups == "b")).sum() == 15
    assert np.array_equal(mask, stats.split_discovery_validation(groups, seed=3))
    assert not np.array_equal(mask, stats.split_discovery_validation(groups, seed=4))
    # A's split does not move when B gains images.
    more_b = np.concatenate([groups, ["b"] * 7])
    assert np.array_equal(stats.split_discovery_validation(more_b, seed=3)[: len(groups)][groups == "a"],
                          mask[groups == "a"])


def test_split_rejects_unknown_labels():
    with pytest.raises(ValueError, match="'a' or 'b'"):
        stats.split_discovery_validation(np.array(["a", "b", "c"]), seed=0)


# --- AUROC ---------------------------------------------------------------------------------------------


def test_auroc_matches_sklearn_with_ties_and_nan():
    rng = np.random.default_rng(0)
    for trial in range(20):
        a = rng.normal(0.4, 1, 25 + trial)
        b = rng.normal(0, 1, 31)
        if trial % 2:
            a, b = np.round(a), np.round(b)  # heavy ties
        truth = roc_auc_score(np.r_[np.ones(a.size), np.zeros(b.size)], np.r_[a, b])
        assert stats.auroc(a, b) == pytest.approx(truth, abs=1e-12)
        assert stats.auroc(b, a) == pytest.approx(1 - truth, abs=1e-12)
    S_a = np.round(rng.normal(0.5, 1, (40, 30)), 1)
    S_b = np.round(rng.normal(0.0, 1, (35, 30)), 1)
    S_a[3, 7] = np.nan
    S_b[:, 9] = np.nan
    matrix = stats.auroc_matrix(S_a, S_b)
    for j in range(30):
        expected = stats.auroc(S_a[:, j], S_b[:, j])
        assert matrix[j] == pytest.approx(expected, abs=1e-12, nan_ok=True)
    assert np.isnan(matrix[9])
    keep = ~np.isnan(S_a[:, 7])
    y = np.r_[np.ones(keep.sum()), np.zeros(35)]
    assert matrix[7] == pytest.approx(roc_auc_score(y, np.r_[S_a[keep, 7], S_b[:, 7]]))


def test_delong_variance_matches_pairwise_definition():
    rng = np.random.default_rng(1)
    a, b = np.round(rng.normal(1, 1, 23), 1), np.round(rng.normal(0, 1, 17), 1)
    psi = (a[:, None] > b[None, :]) + 0.5 * (a[:, None] == b[None, :])  # DeLong's kernel, by brute force
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    expected = v10.var(ddof=1) / a.size + v01.var(ddof=1) / b.size
    assert stats.delong_variance(a, b) == pytest.approx(expected, rel=1e-12)


def test_delong_interval_covers_true_auroc_about_95_percent():
    rng = np.random.default_rng(2)
    shift, n, draws = 1.0, 40, 400
    true_auc = sp_stats.norm.cdf(shift / np.sqrt(2))
    covered = 0
    for _ in range(draws):
        a, b = rng.normal(shift, 1, n), rng.normal(0, 1, n)
        low, high = stats.auroc_ci(a, b)
        assert 0 <= low <= stats.auroc(a, b) <= high <= 1
        covered += low <= true_auc <= high
    print(f"DeLong/logit 95% interval coverage: {covered / draws:.3f}")
    assert 0.92 <= covered / draws <= 0.98


def test_interval_degenerate_cases_stay_honest():
    a, b = np.arange(20) + 100.0, np.arange(20, dtype=float)
    low, high = stats.auroc_ci(a, b)  # perfect split: DeLong's variance is 0
    assert high == 1.0 and 0.85 < low < 0.95
    low_rev, high_rev = stats.auroc_ci(b, a)
    assert low_rev == 0.0 and high_rev == pytest.approx(1 - low)
    stray = a.copy()
    stray[0] = 18.5  # one A image now ranks below one B image
    assert stats.auroc_ci(stray, b)[0] <= low + 1e-9  # a worse split never gets a tighter interval
    tied = np.ones(20)
    low_t, high_t = stats.auroc_ci(tied, tied)
    assert low_t == pytest.approx(1 - high_t) and 0.2 < low_t < 0.45
    assert all(np.isnan(stats.auroc_ci([], [1.0, 2.0])))


# --- rank tests and corrections --------------------------------------------------------------------------


def test_rank_test_follows_scipy_and_handles_constants():
    rng = np.random.default_rng(3)
    a, b = rng.normal(0.8, 1, 30), rng.normal(0, 1, 25)
    for alternative in ("two-sided", "greater", "less"):
        expected = sp_stats.mannwhitneyu(a, b, alternative=alternative).pvalue
        assert stats.rank_test(a, b, alternative) == pytest.approx(expected)
    assert stats.rank_test(a, b, "greater") < 0.01 < 0.99 < stats.rank_test(a, b, "less")
    assert stats.rank_test(np.ones(10), np.ones(12)) == 1.0
    assert stats.rank_test(np.ones(10), np.zeros(12), "greater") < 1e-4
    assert stats.rank_test([], [1.0]) == 1.0


def test_rank_test_matrix_matches_scipy_asymptotic():
    rng = np.random.default_rng(4)
    S_a = np.round(rng.normal(0.3, 1, (33, 40)), 1)
    S_b = np.round(rng.normal(0.0, 1, (29, 40)), 1)
    S_a[:, 5] = S_b[:, 5] = 2.0  # constant column
    S_a[0, 6] = np.nan
    for alternative in ("two-sided", "greater", "less"):
        p = stats.rank_test_matrix(S_a, S_b, alternative)
        for j in range(40):
            if j == 5:
                assert p[j] == 1.0
                continue
            a = S_a[:, j][~np.isnan(S_a[:, j])]
            expected = sp_stats.mannwhitneyu(a, S_b[:, j], alternative=alternative, method="asymptotic")
            assert p[j] == pytest.approx(expected.pvalue, rel=1e-9)


def test_benjamini_hochberg_and_holm_hand_example():
    p = np.array([0.01, 0.04, 0.03, 0.005, 0.2])
    # By hand, BH: sorted p 0.005 0.01 0.03 0.04 0.2 times m/rank = 0.025 0.025 0.05 0.05 0.2, then the
    # running minimum from the largest p down.
    assert stats.benjamini_hochberg(p) == pytest.approx([0.025, 0.05, 0.05, 0.025, 0.2])
    # Holm: times (m - rank + 1) = 0.025 0.04 0.09 0.08 0.2, then the running maximum.
    assert stats.holm(p) == pytest.approx([0.04, 0.09, 0.09, 0.025, 0.2])
    assert stats.benjamini_hochberg([0.9, 0.95]) == pytest.approx([0.95, 0.95])
    assert stats.holm([0.9, 0.95]) == pytest.approx([1.0, 1.0])
    q = stats.benjamini_hochberg(np.random.default_rng(5).uniform(size=50))
    assert q.max() <= 1
    rng_p = np.random.default_rng(5).uniform(size=50)
    order = np.argsort(rng_p)
    assert np.all(np.diff(q[order]) >= 0)  # monotone in p
    assert np.isnan(stats.benjamini_hochberg([0.01, np.nan])[1])
    assert stats.benjamini_hochberg([0.01, np.nan])[0] == pytest.approx(0.01)
    with pytest.raises(ValueError):
        stats.correct([0.1], "bonferroni")



def test_weighted_corrections_follow_their_definitions():
    p = np.array([0.01, 0.04, 0.03, 0.005, 0.2])
    w = np.array([4.0, 0.25, 0.25, 0.25, 0.25])  # mean 1
    # Weighted BH is BH on p / w: 0.0025 0.16 0.12 0.02 0.8 -> sorted 0.0025 0.02 0.12 0.16 0.8, times
    # m / rank = 0.0125 0.05 0.2 0.2 0.8, running minimum from the top.
    assert stats.benjamini_hochberg(p, w) == pytest.approx([0.0125, 0.2, 0.2, 0.05, 0.8])
    # Weighted Holm: in order of p / w, times (weight still untested) / own weight:
    # 0.01 * 5 / 4 = 0.0125; 0.005 * 1 / 0.25 = 0.02; 0.03 * 0.75 / 0.25 = 0.09; 0.04 * 0.5 / 0.25 = 0.08
    # -> 0.09 (running maximum); 0.2 * 0.25 / 0.25 = 0.2.
    assert stats.holm(p, w) == pytest.approx([0.0125, 0.09, 0.09, 0.02, 0.2])
    # Only relative weights matter, and equal weights are the plain procedures.
    assert stats.benjamini_hochberg(p, 3 * w) == pytest.approx(stats.benjamini_hochberg(p, w))
    assert stats.holm(p, np.full(5, 7.0)) == pytest.approx(stats.holm(p))
    assert stats.correct(p, "bh", np.ones(5)) == pytest.approx(stats.benjamini_hochberg(p))
    for bad in ([1.0, 0.0, 1.0, 1.0, 1.0], [1.0, np.inf, 1.0, 1.0, 1.0], [1.0, 1.0]):
        with pytest.raises(ValueError):
            stats.benjamini_hochberg(p, bad)


@pytest.mark.parametrize("correction", ["bh", "holm"])
def test_weights_fixed_before_the_p_values_keep_the_error_rate(correction: str):
    """Global null, 10 independent p-values, one hypothesis weighted 8x the others (as a confident
    describer does): any rejection in at most alpha of 20 000 runs. An extra true effect weighted high is
    found more often than with even weights."""
    rng = np.random.default_rng(11)
    weights = np.array([8.0] + [1.0] * 9)
    p_null = rng.uniform(size=(20_000, 10))
    rate = np.mean([(stats.correct(p, correction, weights) < 0.05).any() for p in p_null])
    assert rate <= 0.05 + 0.005  # 3.3 standard errors above alpha
    assert rate >= 0.03  # not conservative by accident: all the weight spent on one test is almost alpha
    shifted = sp_stats.norm.sf(rng.normal(size=(2_000, 10)) + np.r_[2.0, np.zeros(9)])  # z = 2 on the first
    even = np.mean([stats.correct(p, correction)[0] < 0.05 for p in shifted])
    weighted = np.mean([stats.correct(p, correction, weights)[0] < 0.05 for p in shifted])
    assert weighted > even + 0.15

# --- the contract -----------------------------------------------------------------------------------


def _null_matrix(rng: np.random.Generator, n: int = 80) -> pd.DataFrame:
    """60 concepts, A and B identical in distribution: independent, correlated, tied, constant, all-NaN."""
    latent = rng.normal(size=(n, 5))
    columns = np.column_stack([
        rng.normal(size=(n, 20)),
        latent @ rng.normal(size=(5, 30)) + 0.5 * rng.normal(size=(n, 30)),  # correlated in blocks
        np.round(rng.exponential(size=(n, 8))),  # heavily tied counts
        np.ones(n),
        np.full(n, np.nan),
    ])
    return pd.DataFrame(columns, columns=[f"null{i}" for i in range(columns.shape[1])])


def test_null_calibration_reports_nothing_at_least_95_percent_of_the_time():
    groups = _labels(40, 40)
    any_finding, n_tested = 0, []
    for seed in range(N_SEEDS):
        scores = _null_matrix(np.random.default_rng(seed))
        result = stats.test_concepts(scores, groups, seed=seed)
        assert not {"null58", "null59"} & set(result["concept"])  # constant, all-NaN: never selected
        any_finding += bool(result["significant"].any())
        n_tested.append(len(result))
    rate = any_finding / N_SEEDS
    print(f"null: any significant finding in {rate:.3f} of {N_SEEDS} seeds; "
          f"mean hypotheses validated {np.mean(n_tested):.2f}")
    assert rate <= 0.08


def _power(shift: float, n: int, seeds: int) -> float:
    groups = _labels(n, n)
    hits = 0
    for seed in range(seeds):
        rng = np.random.default_rng(10_000 + seed)
        scores = pd.DataFrame(rng.normal(size=(2 * n, 60)), columns=[f"null{i}" for i in range(60)])
        scores["real"] = rng.normal(size=2 * n) + shift * (groups == "a")
        result = stats.test_concepts(scores, groups, seed=seed)
        hits += bool(len(result) and result["concept"].iloc[0] == "real" and result["significant"].iloc[0])
    return hits / seeds


def test_power_for_a_real_shift_among_60_nulls():
    # d = 1.2 with 40 + 40 images leaves 20 + 20 validation images. Even testing that single concept
    # alone, a one-sided rank test at 0.05 detects it 97% of the time, and the shift must also pass the
    # discovery screen (97%), so ~0.87 is about the ceiling for any discovery rule followed by plain BH;
    # see SCREEN_LEVEL in contract.py.
    power = _power(1.2, 40, N_SEEDS)
    print(f"power, d=1.2, 40 per set: real shift is the top significant row in {power:.3f} of seeds")
    assert power >= 0.80
    power_60 = _power(1.2, 60, 100)
    print(f"power, d=1.2, 60 per set: {power_60:.3f}")
    assert power_60 >= 0.95


@pytest.mark.parametrize("shift", [1.5, -1.5])
def test_direction_follows_the_shift(shift: float):
    groups = _labels(50, 50)
    rng = np.random.default_rng(7)
    scores = pd.DataFrame(rng.normal(size=(100, 10)), columns=[f"null{i}" for i in range(10)])
    scores["real"] = rng.normal(size=100) + shift * (groups == "a")
    row = stats.test_concepts(scores, groups, seed=1).iloc[0]
    assert row["concept"] == "real" and row["significant"]
    assert row["direction"] == ("a" if shift > 0 else "b")
    assert row["auroc"] > 0.75 and row["discovery_auroc"] > 0.75  # both oriented to the stated direction
    assert row["auroc_ci_low"] < row["auroc"] < row["auroc_ci_high"]
    assert (row["median_a"] > row["median_b"]) == (shift > 0)


def test_output_columns_counts_shares_and_determinism():
    groups = _labels(41, 37)
    rng = np.random.default_rng(8)
    scores = pd.DataFrame(rng.uniform(size=(78, 12)), columns=[f"c{i}" for i in range(12)])
    scores["present"] = np.clip(rng.uniform(size=78) + 0.4 * (groups == "a"), 0, 1)
    scores["bright"] = rng.normal(size=78) - 1.0 * (groups == "a")
    scores.loc[5, "bright"] = np.nan  # image 5 is in A
    result = stats.test_concepts(scores, groups, seed=11, thresholds={"present": 0.7})
    assert list(result.columns) == stats.COLUMNS
    assert result.attrs["n_screened"] == 14
    assert (result["n_tested"] == len(result)).all()
    assert (result["weight"] == 1.0).all()  # no describer: the plain correction
    assert list(result["significant"]) == sorted(result["significant"], reverse=True)
    validation = stats.split_discovery_validation(groups, seed=11)
    rows = result.set_index("concept")
    present = scores.loc[validation, "present"].to_numpy()
    val_groups = groups[validation]
    assert rows.loc["present", "share_a"] == pytest.approx(np.mean(present[val_groups == "a"] >= 0.7))
    assert rows.loc["present", "share_b"] == pytest.approx(np.mean(present[val_groups == "b"] >= 0.7))
    assert rows.loc["present", "n_a"] == 21 and rows.loc["present", "n_b"] == 19
    assert np.isnan(rows.loc["bright", "share_a"]) and rows.loc["bright", "direction"] == "b"
    assert rows.loc["bright", "n_a"] == 21 - int(validation[5])
    # The reported numbers come from validation images only: recompute one from them.
    bright = scores.loc[validation, "bright"].to_numpy()
    assert rows.loc["bright", "auroc"] == pytest.approx(
        stats.auroc(bright[val_groups == "b"], bright[val_groups == "a"]))
    pd.testing.assert_frame_equal(result, stats.test_concepts(scores, groups, seed=11,
                                                              thresholds={"present": 0.7}))


def test_lead_concepts_are_named_first_with_the_same_evidence():
    groups = _labels(60, 60)
    rng = np.random.default_rng(12)
    scores = pd.DataFrame(rng.normal(size=(120, 8)), columns=[f"null{i}" for i in range(8)])
    scores["strong"] = rng.normal(size=120) + 2.0 * (groups == "a")
    scores["structure"] = rng.normal(size=120) + 1.0 * (groups == "a")  # weaker, independent
    plain = stats.test_concepts(scores, groups, seed=3)
    led = stats.test_concepts(scores, groups, seed=3, lead=["structure"])
    assert plain["concept"].iloc[0] == "strong" and plain.set_index("concept").loc["structure", "significant"]
    assert led["concept"].tolist()[:2] == ["structure", "strong"]
    columns = ["p_value", "q_value", "auroc", "significant"]
    pd.testing.assert_frame_equal(plain.set_index("concept").sort_index()[columns],
                                  led.set_index("concept").sort_index()[columns])


def test_explain_away_marks_side_effects_only():
    n = 200
    groups = _labels(n, n)
    rng = np.random.default_rng(9)
    x = rng.normal(size=2 * n) + 1.5 * (groups == "a")
    scores = pd.DataFrame({
        "x": x,
        "y": x + 0.7 * rng.normal(size=2 * n),  # a side effect of x
        "z": rng.normal(size=2 * n) + 1.0 * (groups == "a"),  # an independent difference
        "exp_x": np.exp(x) + 0.2 * rng.normal(size=2 * n),  # a non-linear side effect
    })
    explained = stats.explain_away(scores, groups, ["x", "z", "y", "exp_x"], alpha=0.05)
    assert explained == {"y": "x", "exp_x": "x"}
    # Two independent near-perfect differences do not explain each other.
    scores["w"] = rng.normal(size=2 * n) + 6 * (groups == "a")
    scores["v"] = rng.normal(size=2 * n) + 6 * (groups == "a")
    assert stats.explain_away(scores, groups, ["w", "v"], alpha=0.05) == {}


def test_explain_away_by_two_stronger_findings_together():
    # y follows x1 and x2 together; neither accounts for it alone, both do jointly. z is independent.
    n = 100
    groups = _labels(n, n)
    jointly, wrongly = 0, 0
    seeds = 30
    for seed in range(seeds):
        rng = np.random.default_rng(30_000 + seed)
        x1, x2, z = (rng.normal(size=2 * n) + 1.0 * (groups == "a") for _ in range(3))
        scores = pd.DataFrame({"x1": x1, "x2": x2, "z": z, "y": x1 + x2 + 0.5 * rng.normal(size=2 * n)})
        assert not stats.explains(scores, groups, "x1", "y", 0.05)
        explained = stats.explain_away(scores, groups, ["x1", "x2", "z", "y"], alpha=0.05)
        jointly += explained.get("y") in ("x1", "x2")
        wrongly += len(set(explained) - {"y"})
    assert jointly / seeds >= 0.8
    assert wrongly == 0
    # A single stronger finding is never tried "jointly": nothing else to combine it with.
    assert stats.explain_away(scores, groups, ["x1", "y"], alpha=0.05) == {}


def test_explain_away_inside_the_contract():
    n = 60
    groups = _labels(n, n)
    side_effect, independent_marked = 0, 0
    seeds = 40
    for seed in range(seeds):
        rng = np.random.default_rng(20_000 + seed)
        x = rng.normal(size=2 * n) + 1.5 * (groups == "a")
        scores = pd.DataFrame(rng.normal(size=(2 * n, 20)), columns=[f"null{i}" for i in range(20)])
        scores["x"] = x
        scores["y"] = x + rng.normal(size=2 * n)
        scores["z"] = rng.normal(size=2 * n) + 1.5 * (groups == "a")
        rows = stats.test_concepts(scores, groups, seed=seed).set_index("concept")
        side_effect += "y" in rows.index and rows.loc["y", "explained_by"] == "x"
        independent_marked += "z" in rows.index and rows.loc["z", "explained_by"] is not None
        assert rows.loc["x", "explained_by"] in (None, "y")
    print(f"explain-away: y explained by x in {side_effect / seeds:.2f}, z marked in "
          f"{independent_marked / seeds:.2f} of seeds")
    assert side_effect / seeds >= 0.7
    assert independent_marked / seeds <= 0.1


def test_hypotheses_on_all_images():
    groups = _labels(30, 30)
    rng = np.random.default_rng(12)
    scores = pd.DataFrame({
        "darker": rng.normal(size=60) - 1.0 * (groups == "a"),
        "noise": rng.normal(size=60),
    })
    directed = stats.test_hypotheses_on_all(scores, groups, ["darker", "noise"], directions={"darker": "b"})
    rows = directed.set_index("concept")
    assert rows.loc["darker", "direction"] == "b" and rows.loc["darker", "significant"]
    two_sided = stats.test_hypotheses_on_all(scores, groups, ["darker", "noise"]).set_index("concept")
    assert two_sided.loc["darker", "p_value"] == pytest.approx(2 * rows.loc["darker", "p_value"], rel=1e-6)
    a, b = scores["darker"][groups == "a"], scores["darker"][groups == "b"]
    assert rows.loc["darker", "auroc"] == pytest.approx(stats.auroc(b, a))
    assert rows.loc["darker", "q_value"] == pytest.approx(
        stats.benjamini_hochberg(directed["p_value"])[list(directed["concept"]).index("darker")])
    wrong = stats.test_hypotheses_on_all(scores, groups, ["darker"], directions={"darker": "a"}).iloc[0]
    assert wrong["auroc"] < 0.5 and wrong["p_value"] > 0.9 and not wrong["significant"]
    assert directed["discovery_auroc"].isna().all() and (directed["n_a"] == 30).all()
    assert directed.attrs["n_screened"] == 2
    with pytest.raises(KeyError):
        stats.test_hypotheses_on_all(scores, groups, ["missing"])


def test_real_image_statistics_faces_vs_non_faces():
    # A score matrix from real images: scikit-image's 100 faces vs 100 non-face patches.
    from skimage.data import lfw_subset

    images = lfw_subset()
    groups = _labels(100, 100)
    grad_y, grad_x = np.gradient(images, axis=(1, 2))
    brightness = images.mean(axis=(1, 2))
    scores = pd.DataFrame({
        "brightness": brightness,
        "contrast": images.std(axis=(1, 2)),
        "edges": np.hypot(grad_x, grad_y).mean(axis=(1, 2)),
        "top_minus_bottom": images[:, :12].mean(axis=(1, 2)) - images[:, 13:].mean(axis=(1, 2)),
        "brightness_rescaled": 255 * brightness + 3,  # the same measurement on another scale
    })
    result = stats.test_concepts(scores, groups, seed=0)
    top = result.iloc[0]
    assert top["concept"] == "edges" and top["direction"] == "a" and top["significant"]
    assert top["auroc"] > 0.9
    rows = result.set_index("concept")
    assert rows.loc["brightness", "auroc"] == rows.loc["brightness_rescaled", "auroc"]
    assert rows.loc["brightness_rescaled", "explained_by"] is not None  # by its copy or by edges
    explained = stats.explain_away(scores, groups, ["brightness", "brightness_rescaled", "contrast"], 0.05)
    assert explained.get("brightness_rescaled") == "brightness"
    pd.testing.assert_frame_equal(result, stats.test_concepts(scores, groups, seed=0))


def test_work_grows_with_hypotheses_not_with_concepts(monkeypatch):
    """The screen is one rank-test matrix product over every concept; only the (at most 30) hypotheses are
    measured one by one. Counted, not timed (timing: ``python benchmarks/bench_stats_speed.py``)."""
    from tellapart.stats import contract

    calls = {"matrix": [], "rank_test": 0}
    matrix, rank_test = contract.mann_whitney_matrix, contract.rank_test

    def counted_matrix(a, b, *args, **kwargs):
        calls["matrix"].append(a.shape[1])
        return matrix(a, b, *args, **kwargs)

    def counted_rank_test(*args, **kwargs):
        calls["rank_test"] += 1
        return rank_test(*args, **kwargs)

    monkeypatch.setattr(contract, "mann_whitney_matrix", counted_matrix)
    monkeypatch.setattr(contract, "rank_test", counted_rank_test)
    rng = np.random.default_rng(13)
    groups = _labels(500, 500)
    for n_concepts in (150, 1500):
        values = rng.normal(size=(1000, n_concepts)).astype(np.float32)
        values[:500, :40] += 0.4
        scores = pd.DataFrame(values, columns=[f"c{i}" for i in range(n_concepts)])
        calls.update(matrix=[], rank_test=0)
        result = stats.test_concepts(scores, groups, seed=1)
        assert len(result) == 30 and result.attrs["n_screened"] == n_concepts
        assert set(result["concept"]) <= {f"c{i}" for i in range(40)}  # the 40 shifted ones, not noise
        assert calls["matrix"] == [n_concepts]  # one call for all concepts, not one per concept
        assert calls["rank_test"] == 30  # one per hypothesis


def test_rejects_bad_inputs():
    scores = pd.DataFrame({"c": np.arange(6.0)})
    with pytest.raises(ValueError, match="labels"):
        stats.test_concepts(scores, _labels(3, 2), seed=0)
    with pytest.raises(ValueError, match="at least 2"):
        stats.test_concepts(scores, _labels(5, 1), seed=0)
    with pytest.raises(ValueError, match="correction"):
        stats.test_concepts(scores, _labels(3, 3), seed=0, correction="bonferroni")
    with pytest.raises(TypeError):
        stats.test_concepts(scores.to_numpy(), _labels(3, 3), seed=0)
    empty = stats.test_concepts(scores, _labels(3, 3), seed=0)
    assert list(empty.columns) == stats.COLUMNS and len(empty) == 0


@pytest.mark.parametrize("n", [500, 20000])
def test_joint_adjustment_matches_least_squares_on_nearly_collinear_ranks(n):
    # Two covariates whose ranks differ by one adjacent swap (a category and its dominant class) and a
    # tied copy: the fit must give what an SVD least-squares fit gives, and repeated columns add no rank.
    from tellapart.stats.explain import _independent_columns, _joint_rank_ancova

    rng = np.random.default_rng(3)
    is_a = np.arange(n) < n // 2
    x = rng.normal(size=n) + 0.5 * is_a
    near = x.copy()
    order = np.argsort(x)
    near[order[n // 2]], near[order[n // 2 + 1]] = x[order[n // 2 + 1]], x[order[n // 2]]
    y = 0.8 * x + rng.normal(size=n) + 0.1 * is_a
    covariates = np.column_stack([x, near, x, rng.normal(size=n)])
    fit = _joint_rank_ancova(y, covariates, is_a)

    ranks = sp_stats.rankdata(np.column_stack([y, covariates]), axis=0)
    design = np.column_stack([np.ones(n), is_a.astype(float), ranks[:, 1:]])
    kept = _independent_columns(design, fixed=2)
    assert kept == [2, 3, 5]  # the exact copy of x is left out; the near copy is not
    design = design[:, [0, 1, *kept]]
    coef, *_ = np.linalg.lstsq(design, ranks[:, 0], rcond=None)
    residual = ranks[:, 0] - design @ coef
    sigma2 = residual @ residual / (n - design.shape[1])
    t_set = coef[1] / np.sqrt(sigma2 * np.linalg.pinv(design.T @ design)[1, 1])
    assert fit.t_set == pytest.approx(t_set, rel=1e-6, abs=1e-6)
    shift = ranks[is_a, 0].mean() - ranks[~is_a, 0].mean()
    assert fit.remaining == pytest.approx(coef[1] / shift, rel=1e-6, abs=1e-9)
