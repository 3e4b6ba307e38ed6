"""Many discovery rows: C is chosen on a seeded sample of them, the model fitted once on all of them; few
rows: the same numbers as before that path existed."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from git_history import source_at

from tellapart.stats import classifier
from tellapart.stats.classifier import difference_test, fit_classifier
from tellapart.stats.split import split_discovery_validation

BEFORE = "bf84b42"  # the last commit of stats/classifier.py before the sampled cross-validation
BLOCKS = (8, 16, 40, 96)  # block widths like the backbone's stages, 160 columns


def _embeddings(n: int, shift: float, seed: int, d: int = sum(BLOCKS)) -> tuple[np.ndarray, np.ndarray]:
    """Embedding-like float32 rows (a few shared factors, non-negative like pooled activations, columns of
    different scales), half set A with its first factor moved by ``shift``; and the groups."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(["a", "b"], n // 2)
    factors = rng.normal(size=(n, 6))
    factors[groups == "a", 0] += shift
    mixed = factors @ rng.normal(size=(6, d)) + rng.normal(size=(n, d))
    scales = rng.uniform(0.1, 3.0, size=d)
    return (np.log1p(np.exp(mixed)) * scales).astype(np.float32), groups


def _module_before(tmp_path: Path):
    """stats/classifier.py as of ``BEFORE``, loaded beside the current one; skip when git cannot show it."""
    source = source_at(BEFORE, "src/tellapart/stats/classifier.py")
    path = tmp_path / "classifier_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("classifier_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("n", "d"), [(80, 160), (400, 160), (1200, 160)])
def test_small_inputs_give_the_numbers_they_gave_before(tmp_path, n, d):
    before = _module_before(tmp_path)
    X, groups = _embeddings(n, 0.6, seed=n)
    named = X[:, :3] + np.random.default_rng(n).normal(size=(n, 3)).astype(np.float32)
    named[::7, 1] = np.nan
    validation = split_discovery_validation(groups, 1)
    old = before.difference_test(X, groups, validation, named_scores=named, blocks=BLOCKS, seed=2)
    new = difference_test(X, groups, validation, named_scores=named, blocks=BLOCKS, seed=2)
    assert new.c == old.c
    np.testing.assert_allclose(new.decision, old.decision, rtol=0, atol=1e-9)
    assert (new.auroc, new.p_value, new.named_auroc, new.most_a_like) == (
        old.auroc, old.p_value, old.named_auroc, old.most_a_like)
    folds = _named_folds(validation, groups, [[0, 1, 2], [0, 1, 2], [1], [], [0, 2], [0, 1, 2]])
    old = before.difference_test(X, groups, validation, named_scores=named, named_folds=folds, seed=2)
    new = difference_test(X, groups, validation, named_scores=named, named_folds=folds, seed=2)
    assert new.named_auroc == pytest.approx(old.named_auroc, rel=0, abs=1e-12)


def _named_folds(validation: np.ndarray, groups: np.ndarray, declared: list[list[int]]) -> list:
    """Per entry of ``declared``, a random half of the validation rows of each set and those columns."""
    rng = np.random.default_rng(0)
    folds = []
    for columns in declared:
        half = np.zeros(len(groups), dtype=bool)
        for label in ("a", "b"):
            rows = rng.permutation(np.flatnonzero(validation & (groups == label)))
            half[rows[: len(rows) // 2]] = True
        folds.append((half, columns))
    return folds


def _spy_on_cross_validation(monkeypatch) -> list[int]:
    rows = []
    chosen_c = classifier._chosen_c

    def spy(features, y, seed, warm=False):
        rows.append(len(y))
        return chosen_c(features, y, seed, warm)

    monkeypatch.setattr(classifier, "_chosen_c", spy)
    return rows


def test_many_rows_choose_c_on_a_sample_and_still_find_a_planted_difference(monkeypatch):
    monkeypatch.setattr(classifier, "CV_ROWS_PER_SET", 100)
    cv_rows = _spy_on_cross_validation(monkeypatch)
    X, groups = _embeddings(1600, 0.5, seed=3)
    test = difference_test(X, groups, split_discovery_validation(groups, 0), blocks=BLOCKS, seed=0)
    assert cv_rows == [200]  # 100 discovery rows per set cross-validated, not the 800
    assert test.n_discovery == 800 and test.c in classifier.C_GRID
    assert test.auroc > 0.6 and test.p_value < 1e-4


def test_the_sampled_path_is_what_the_full_path_is_at_its_threshold():
    X, groups = _embeddings(400, 0.5, seed=4)
    y = groups == "a"
    full = fit_classifier(X, y, seed=1, blocks=BLOCKS, cv_rows=200)  # 200 per set: cross-validates every row
    sampled = classifier._fit_large(X, y, 1, classifier._block_weights(X.shape[1], BLOCKS), cv_rows=200)
    assert sampled.C == full.C
    np.testing.assert_allclose(sampled.decision_function(X), full.decision_function(X), atol=1e-3)


def test_the_sampled_path_never_reads_the_validation_half_and_repeats_itself(monkeypatch):
    monkeypatch.setattr(classifier, "CV_ROWS_PER_SET", 80)
    X, groups = _embeddings(1000, 0.4, seed=5)
    validation = split_discovery_validation(groups, 2)
    first = difference_test(X, groups, validation, blocks=BLOCKS, seed=2)
    again = difference_test(X, groups, validation, blocks=BLOCKS, seed=2)
    np.testing.assert_array_equal(first.decision, again.decision)
    shuffled = X.copy()
    shuffled[validation] = shuffled[validation][::-1]  # validation rows swap places: no fit may notice
    moved = difference_test(shuffled, groups, validation, blocks=BLOCKS, seed=2)
    assert moved.c == first.c
    rows = np.flatnonzero(validation)
    np.testing.assert_array_equal(moved.decision[rows], first.decision[rows[::-1]])


def test_the_sampled_path_gives_valid_p_values_when_the_sets_do_not_differ(monkeypatch):
    monkeypatch.setattr(classifier, "CV_ROWS_PER_SET", 40)
    p_values = []
    for seed in range(20):
        X, groups = _embeddings(240, 0.0, seed=100 + seed, d=40)
        test = difference_test(X, groups, split_discovery_validation(groups, seed), seed=seed)
        p_values.append(test.p_value)
    p_values = np.array(p_values)
    assert (p_values < 0.05).sum() <= 4  # 1 expected; 4 or more of 20 has probability 1.6%
    assert 0.25 < np.median(p_values) < 0.75


def test_the_cross_validation_sample_is_seeded_and_per_set():
    y = np.r_[np.ones(300, bool), np.zeros(50, bool)]
    sample = classifier._cv_sample(y, 100, seed=7)
    assert y[sample].sum() == 100 and (~y[sample]).sum() == 50
    assert np.all(np.diff(sample) > 0)
    np.testing.assert_array_equal(sample, classifier._cv_sample(y, 100, seed=7))
    assert not np.array_equal(sample, classifier._cv_sample(y, 100, seed=8))
