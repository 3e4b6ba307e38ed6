"""The overall classifier's fits run on one BLAS thread, and give the same answer every time."""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from tellapart.stats import classifier
from tellapart.stats.classifier import blas_threads, difference_test


def _blas_threads() -> set[int]:
    return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}


def _data(seed: int = 0, n: int = 60, d: int = 150) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    groups = np.repeat(["a", "b"], n // 2)
    X = rng.normal(size=(n, d))
    X[groups == "a", :5] += 0.8
    validation = np.tile([False, True], n // 2)
    return X, groups, validation


def test_blas_threads_limits_inside_and_restores_after():
    with threadpool_limits(limits=2, user_api="blas"):
        before = _blas_threads()
        with blas_threads():
            assert _blas_threads() == {1}  # a BLAS was found, and it runs on one thread
        assert _blas_threads() == before


def test_difference_test_runs_its_fits_on_one_thread(monkeypatch):
    seen = []
    fit = classifier._logistic

    def spy(c):
        seen.append(_blas_threads())
        return fit(c)

    monkeypatch.setattr(classifier, "_logistic", spy)
    X, groups, validation = _data()
    with threadpool_limits(limits=2, user_api="blas"):
        difference_test(X, groups, validation, blocks=(50, 100))
    assert seen and all(threads <= {1} for threads in seen)


def test_difference_test_is_the_same_every_run_and_under_any_outer_thread_limit():
    X, groups, validation = _data(1)
    named = X[:, :3] + np.random.default_rng(2).normal(size=(len(X), 3))
    first = difference_test(X, groups, validation, named_scores=named, seed=3)
    with threadpool_limits(limits=2, user_api="blas"):
        second = difference_test(X, groups, validation, named_scores=named, seed=3)
    np.testing.assert_array_equal(first.decision, second.decision)
    assert (first.auroc, first.p_value, first.c, first.named_auroc, first.most_a_like) == (
        second.auroc, second.p_value, second.c, second.named_auroc, second.most_a_like)
