"""Training never sees the benchmark's photos: the bundled pools are split by source, and each side draws
only from its own part (issue 11, point 7)."""

from __future__ import annotations

import ast
import hashlib
import inspect
from pathlib import Path

import numpy as np
import pytest

import tellapart
from tellapart.synth import pools
from tellapart.synth.pools import (
    BENCH_PHOTOS,
    DUPLICATE_PHOTOS,
    OPENCLIPART_BENCH_CATEGORIES,
    PARTS,
    TRAIN_PHOTOS,
    PoolUnavailable,
    bundled_pool,
    openclipart_files,
    photo_names,
    source_images,
    textile_files,
)

PACKAGE = Path(tellapart.__file__).parent
ALL_SEED0_DIGEST = "d7989a6c9cef93dc0e981f9bafc7db3908b53a24"


def _digest(image: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(image).tobytes() + str(image.shape).encode()).hexdigest()


def test_the_parts_share_no_source_photo():
    assert not TRAIN_PHOTOS & BENCH_PHOTOS
    everything = set(photo_names(True, "all"))
    assert TRAIN_PHOTOS | BENCH_PHOTOS | set(DUPLICATE_PHOTOS) == everything
    assert all(original in BENCH_PHOTOS | TRAIN_PHOTOS for original in DUPLICATE_PHOTOS.values())
    # By pixels too: no photo of one part is a photo of the other under another name.
    train = {_digest(img) for img in source_images(True, "train")}
    bench = {_digest(img) for img in source_images(True, "bench")}
    assert not train & bench
    assert len(train) == len(photo_names(True, "train")) and len(bench) == len(photo_names(True, "bench"))
    # Both parts keep colour photos for the synthetic pairs and the describer's bank.
    assert len(photo_names(False, "train")) >= 5 and len(photo_names(False, "bench")) >= 5


def test_all_is_the_pool_from_before_the_split_and_bench_is_the_default():
    # "all" draws exactly as bundled_pool did before parts existed (same sources, same order).
    before = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field",
              "colorwheel", "retina", "cat", "china", "flower")
    assert photo_names(False, "all") == before
    # The crops of seed 0 at commit 6189d05 (before the split), by their bytes.
    crops = bundled_pool(5, seed=0, part="all")
    assert hashlib.sha1(b"".join(c.tobytes() for c in crops)).hexdigest() == ALL_SEED0_DIGEST
    default, bench = bundled_pool(5, seed=0), bundled_pool(5, seed=0, part="bench")
    assert all(np.array_equal(x, y) for x, y in zip(default, bench, strict=True))
    with pytest.raises(ValueError, match="unknown part"):
        bundled_pool(3, part="validation")


def test_each_part_has_enough_distinct_crops():
    # The full bench draws 600 colour crops; training 400 detector crops (grey included) and 160 for the bank.
    bench = bundled_pool(600, seed=0, min_side=128, max_side=224, include_gray=False, part="bench")
    train = bundled_pool(400, seed=1, part="train")
    bank = bundled_pool(160, seed=1234, min_side=128, max_side=224, include_gray=False, part="train")
    for crops in (bench, train, bank):
        assert len({_digest(c) for c in crops}) == len(crops)


def test_textile_parts_are_disjoint_and_large_enough():
    try:
        parts = {part: {kind: textile_files(kind, part) for kind in pools.TEXTILE_KINDS} for part in PARTS}
    except PoolUnavailable:
        pytest.skip("conformal-clip-data is not installed")
    from tellapart.train.describer import DILUTION_SIZE

    for kind in pools.TEXTILE_KINDS:
        train, bench = set(parts["train"][kind]), set(parts["bench"][kind])
        assert not train & bench and train | bench == set(parts["all"][kind])
    assert len(parts["train"]["nominal"]) >= DILUTION_SIZE
    assert len(parts["bench"]["nominal"]) >= 200  # the full bench's largest nominal draw (2 x 100 per set)


def test_training_clipart_shares_no_drawing_with_the_benchmark():
    from tellapart.train.describer import CONTENT_CATEGORIES, CONTENT_PER_CATEGORY

    try:
        bench = {hashlib.sha1(p.read_bytes()).hexdigest() for category in OPENCLIPART_BENCH_CATEGORIES
                 for p in openclipart_files(category, "bench")}
    except PoolUnavailable:
        pytest.skip("openclipart-png is not installed")
    assert not set(CONTENT_CATEGORIES) & set(OPENCLIPART_BENCH_CATEGORIES)
    for category in CONTENT_CATEGORIES:
        files = openclipart_files(category, "train")
        assert len(files) >= CONTENT_PER_CATEGORY, category
        assert not {hashlib.sha1(p.read_bytes()).hexdigest() for p in files} & bench, category
    with pytest.raises(ValueError, match="benchmark's"):
        openclipart_files("animals", "train")


def _record_parts(monkeypatch) -> list[tuple[str, str]]:
    """Make every pool function of ``synth.pools`` record (function, part) and return tiny stand-ins."""
    calls: list[tuple[str, str]] = []
    for name in ("bundled_pool", "textile_pool", "openclipart_pool"):
        original = getattr(pools, name)
        signature = inspect.signature(original)

        def fake(*args, _name=name, _signature=signature, **kwargs):
            bound = _signature.bind(*args, **kwargs)
            bound.apply_defaults()
            calls.append((_name, bound.arguments["part"]))
            n = bound.arguments.get("n") or 4
            return [np.full((32, 32, 3), i % 256, np.uint8) for i in range(n)]

        monkeypatch.setattr(pools, name, fake)
    return calls


def test_training_draws_only_from_the_training_part(monkeypatch):
    from tellapart.train import detector_pool, training_pools

    calls = _record_parts(monkeypatch)
    training_pools(0)
    detector_pool(0)
    assert {name for name, _ in calls} >= {"bundled_pool", "textile_pool"}
    assert {part for _, part in calls} == {"train"}


def test_the_benchmark_draws_only_from_the_bench_part(monkeypatch):
    from tellapart.bench import suites

    calls = _record_parts(monkeypatch)
    for name in ("bundled_pool", "textile_pool", "openclipart_pool"):
        monkeypatch.setattr(suites, name, getattr(pools, name))
    factory = suites.PairFactory(suites.get_suite("quick"), seed=0)
    factory.base, factory.dilution, factory.real_dilution  # noqa: B018 (draws the pools)
    for _, _, pool_a, pool_b, _ in suites.REAL_PAIRS:
        for pool in (pool_a, pool_b):
            try:
                pool(4, 0)
            except PoolUnavailable:
                continue
    assert {"bundled_pool", "textile_pool", "openclipart_pool"} <= {name for name, _ in calls}
    assert {part for _, part in calls} == {"bench"}


def _imports(path: Path) -> set[str]:
    """Every tellapart module a file imports (at the top or inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("tellapart")}


def test_train_does_not_import_bench():
    for path in sorted((PACKAGE / "train").glob("*.py")):
        bench = [m for m in _imports(path) if m == "tellapart.bench" or m.startswith("tellapart.bench.")]
        assert not bench, (path, bench)
    for path in sorted((PACKAGE / "synth").glob("*.py")):
        assert not any(m.startswith(("tellapart.bench", "tellapart.train")) for m in _imports(path)), path
