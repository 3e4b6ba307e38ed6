"""The faster statistics of issue 18 (one ranking per column, max-T's shared relabellings) give the
numbers the code gave before, bit for bit: the rank helpers against scipy, and max-T, the contract's table
and the named findings' declarations against the modules of ``BEFORE``."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from git_history import source_at
from scipy import stats

from tellapart.stats import contract, maxt
from tellapart.stats.auroc import (
    auroc,
    auroc_ci,
    column_ranks,
    delong_variance,
    mid_ranks,
    mid_ranks_and_ties,
)
from tellapart.stats.split import split_discovery_validation
from tellapart.stats.tests import rank_test

BEFORE = "b9d909f"  # the last commit before the statistics ranked with numpy's sort
CHANGED = ("auroc", "tests", "maxt", "contract")  # the modules of tellapart.stats it changed


def _before(tmp_path: Path):
    """The ``CHANGED`` modules as of ``BEFORE``, importing each other (the rest of ``tellapart.stats`` is
    today's), as the package ``stats_before``; skip when git cannot show them."""
    package = tmp_path / "stats_before"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name in CHANGED:
        source = source_at(BEFORE, f"src/tellapart/stats/{name}.py")
        for other in CHANGED:
            source = source.replace(f"tellapart.stats.{other} import", f"stats_before.{other} import")
        (package / f"{name}.py").write_text(source)
    sys.path.insert(0, str(tmp_path))
    try:
        return importlib.import_module("stats_before.maxt"), importlib.import_module("stats_before.contract")
    finally:
        sys.path.remove(str(tmp_path))


@pytest.fixture
def before(tmp_path):
    yield _before(tmp_path)
    for name in [m for m in sys.modules if m.startswith("stats_before")]:
        del sys.modules[name]


def _scores(n: int, k: int, seed: int) -> tuple[pd.DataFrame, np.ndarray, dict[str, float]]:
    """Score-like float32 columns, half set A: smooth scores, presence probabilities with many exact zeros,
    small counts (ties), region measures missing in a quarter of the images, one constant column; a few of
    each shifted in set A. Returns the scores, the groups and the presence columns' thresholds."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(["a", "b"], n // 2)
    values = rng.normal(size=(n, k))
    kind = np.arange(k) % 4
    values[:, kind == 1] = np.maximum(values[:, kind == 1] - 1.0, 0.0) / 3  # probabilities, zeros tied
    values[:, kind == 2] = np.round(np.abs(values[:, kind == 2]) * 2)  # counts
    region = np.flatnonzero(kind == 3)  # region measures
    values[:, region] = np.where(rng.random((n, region.size)) < 0.25, np.nan, values[:, region])
    values[groups == "a", : k // 6] += 0.5
    values[:, k - 1] = 0.5
    columns = [f"c{i}" for i in range(k)]
    thresholds = {columns[j]: 0.2 for j in np.flatnonzero(kind == 1)}
    return pd.DataFrame(values.astype(np.float32), columns=columns), groups, thresholds


def test_mid_ranks_and_rank_test_give_scipys_numbers():
    rng = np.random.default_rng(3)
    for trial in range(400):
        n_a, n_b = (int(x) for x in rng.integers(1, 40, size=2))
        a, b = rng.normal(size=n_a), rng.normal(0.4, size=n_b)
        if trial % 2:
            a, b = np.round(a), np.round(b)  # ties
        pooled = np.concatenate([a, b])
        assert np.array_equal(mid_ranks(pooled), stats.rankdata(pooled))
        for alternative in ("two-sided", "greater", "less"):
            expected = 1.0 if np.all(pooled == pooled[0]) else float(
                stats.mannwhitneyu(a, b, alternative=alternative).pvalue)
            assert rank_test(a, b, alternative) == expected
    with_nan = np.where(rng.random((3, 50)) < 0.2, np.nan, np.round(rng.normal(size=(3, 50))))
    present = ~np.isnan(with_nan)
    ranked = mid_ranks_and_ties(with_nan)[0]
    assert np.array_equal(ranked[present], stats.rankdata(with_nan, axis=1, nan_policy="omit")[present])
    # column_ranks is rankdata(axis=0), laid out as scipy's (BLAS rounds products by layout):
    # with ties, integers, float32, and with NaN (scipy's all-NaN column).
    for values in (np.round(rng.normal(size=(60, 7)), 1), rng.integers(0, 4, size=(30, 3)),
                   rng.normal(size=(40, 5)).astype(np.float32), with_nan.T):
        expected = stats.rankdata(values, axis=0)
        got = column_ranks(values)
        assert np.array_equal(got, expected, equal_nan=True)
        assert got.flags.c_contiguous == expected.flags.c_contiguous


def test_auroc_and_its_interval_are_unchanged(tmp_path):
    source = source_at(BEFORE, "src/tellapart/stats/auroc.py")
    namespace: dict = {"__name__": "auroc_before"}
    exec(compile(source, "auroc_before.py", "exec"), namespace)
    rng = np.random.default_rng(4)
    for _ in range(100):
        n_a, n_b = (int(x) for x in rng.integers(2, 60, size=2))
        a, b = np.round(rng.normal(size=n_a), 1), rng.normal(size=n_b)
        assert auroc(a, b) == namespace["auroc"](a, b)
        assert delong_variance(a, b) == namespace["delong_variance"](a, b)
        assert auroc_ci(a, b, 0.99) == namespace["auroc_ci"](a, b, 0.99)


@pytest.mark.parametrize("strata", [False, True])
def test_max_t_gives_the_numbers_it_gave_before(before, strata):
    maxt_before, _ = before
    scores, groups, _ = _scores(400, 60, seed=5)
    values, is_a = scores.to_numpy(), groups == "a"
    by = np.random.default_rng(6).integers(0, 3, len(groups)) if strata else None
    columns = np.arange(1, 60, 2)
    for old, new in (
        (maxt_before.max_t(values, is_a, seed=2, strata=by, permutations=500),
         maxt.max_t(values, is_a, seed=2, strata=by, permutations=500)),
        (maxt_before.max_t(values[:, columns], is_a, seed=2, strata=by, permutations=500),
         maxt.max_t(values, is_a, seed=2, strata=by, permutations=500, columns=columns)),
    ):
        assert np.array_equal(new.z, old.z)
        assert np.array_equal(new.p_adjusted, old.p_adjusted)
        assert (new.critical_z, new.n_tested) == (old.critical_z, old.n_tested)


def test_contract_and_named_folds_give_the_tables_they_gave_before(before):
    _, contract_before = before
    scores, groups, thresholds = _scores(600, 120, seed=7)
    reportable = np.arange(120) % 5 != 0  # two families
    for design in ("maxt", "split"):
        old = contract_before.test_concepts(scores, groups, seed=1, design=design, thresholds=thresholds,
                                            reportable=reportable)
        new = contract.test_concepts(scores, groups, seed=1, design=design, thresholds=thresholds,
                                     reportable=reportable)
        assert int(new["significant"].sum()) > 10
        pd.testing.assert_frame_equal(new, old, check_exact=True)
        assert new.attrs == old.attrs
        validation = split_discovery_validation(groups, 1)
        old_folds = contract_before.named_on_folds(scores, groups, validation, old, seed=1)
        new_folds = contract.named_on_folds(scores, groups, validation, new, seed=1)
        assert [(rows.tolist(), ids) for rows, ids in new_folds] == \
            [(rows.tolist(), ids) for rows, ids in old_folds]
