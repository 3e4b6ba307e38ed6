"""A repeated run fits nothing again: the overall classifier and the cross-fitted named sets are kept in the
score cache by a digest of all their inputs, and what is read back is exactly what was computed."""

from __future__ import annotations

import numpy as np
import pytest

import tellapart
from tellapart.concepts.cache import ScoreCache
from tellapart.concepts.image_stats import ImageStatsSource
from tellapart.concepts.library import ConceptLibrary
from tellapart.concepts.semantics import SemanticSource
from tellapart.describe import _memo_salt
from tellapart.stats import classifier, contract
from tellapart.stats.classifier import difference_test


class DictMemo:
    """A memo in a dict, counting what it was asked."""

    def __init__(self) -> None:
        self.kept: dict[str, bytes] = {}
        self.recalled = 0

    def recall(self, key: str) -> bytes | None:
        found = self.kept.get(key)
        self.recalled += found is not None
        return found

    def remember(self, key: str, data: bytes) -> None:
        self.kept[key] = data


def _data(seed: int = 0, n: int = 60, d: int = 120):
    rng = np.random.default_rng(seed)
    groups = np.repeat(["a", "b"], n // 2)
    X = rng.normal(size=(n, d))
    X[groups == "a", :4] += 0.9
    validation = np.tile([False, True], n // 2)
    named = X[:, :3] + rng.normal(size=(n, 3))
    folds = [(validation & (np.arange(n) % 4 == 1), [0, 2]), (validation & (np.arange(n) % 4 == 3), [1])]
    return X, groups, validation, named, folds


def _fields(test):
    return (test.auroc, test.auroc_ci, test.p_value, test.c, test.named_auroc, test.explained_share,
            test.most_a_like, test.most_b_like)


def test_difference_test_reads_back_exactly_what_it_fitted(monkeypatch):
    X, groups, validation, named, folds = _data()
    memo = DictMemo()
    first = difference_test(X, groups, validation, named_scores=named, named_folds=folds, memo=memo)
    assert len(memo.kept) == 2  # the image classifier and the named model
    monkeypatch.setattr(classifier, "fit_classifier", lambda *a, **k: pytest.fail("fitted again"))
    second = difference_test(X, groups, validation, named_scores=named, named_folds=folds, memo=memo)
    assert memo.recalled == 2
    np.testing.assert_array_equal(first.decision, second.decision)
    assert _fields(first) == _fields(second)


def test_other_inputs_miss_and_the_memo_never_changes_the_answer():
    X, groups, validation, named, folds = _data(1)
    plain = difference_test(X, groups, validation, named_scores=named, named_folds=folds, seed=2)
    memo = DictMemo()
    difference_test(X, groups, validation, named_scores=named, named_folds=folds, seed=3, memo=memo)
    kept = difference_test(X, groups, validation, named_scores=named, named_folds=folds, seed=2, memo=memo)
    assert memo.recalled == 0 and len(memo.kept) == 4  # another seed is another key
    other = [(rows, [0]) for rows, _ in folds]
    difference_test(X, groups, validation, named_scores=named, named_folds=other, seed=2, memo=memo)
    assert memo.recalled == 1  # the image classifier only: other named sets
    np.testing.assert_array_equal(plain.decision, kept.decision)
    assert _fields(plain) == _fields(kept)


def test_score_cache_remembers_bytes(tmp_path):
    cache = ScoreCache(tmp_path)
    assert cache.recall("k") is None
    cache.remember("k", b"\x00\x01")
    assert cache.recall("k") == b"\x00\x01"
    cache.close()
    assert ScoreCache(tmp_path).recall("k") == b"\x00\x01"


def test_a_warm_describe_fits_and_declares_nothing_again(pool, tmp_path, monkeypatch):
    set_a = [np.clip(image.astype(np.int16) + 50, 0, 255).astype(np.uint8) for image in pool[:30]]
    sets = (set_a, pool[30:60])
    library = ConceptLibrary([ImageStatsSource(), SemanticSource()], learned=None)

    def run(**options):
        return tellapart.describe(*sets, seed=0, library=library, describer=None, progress=False, **options)

    fresh = run(use_cache=False)
    assert fresh.overall is not None and fresh.overall.named_concepts, fresh.overall
    cold = run(cache_dir=tmp_path)
    calls = []
    declare = contract.named_on_folds
    monkeypatch.setattr(contract, "named_on_folds", lambda *a, **k: calls.append(1) or declare(*a, **k))
    fit = classifier.fit_classifier
    monkeypatch.setattr(classifier, "fit_classifier", lambda *a, **k: calls.append(2) or fit(*a, **k))
    warm = run(cache_dir=tmp_path)
    assert calls == []
    assert _memo_salt().startswith("stats-")
    for result in (cold, warm):
        assert result.overall == fresh.overall
        assert result.to_json() == fresh.to_json()
