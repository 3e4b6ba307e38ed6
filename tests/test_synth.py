"""The difference generator: families change what they claim, pairs keep every knob, bad input fails."""

from __future__ import annotations

import json

import numpy as np
import pytest
import skimage.data

from tellapart.concepts.image_stats import ImageStatsSource
from tellapart.concepts.shapes import ShapeSource
from tellapart.io import ImageSet
from tellapart.stats import auroc
from tellapart.synth import (
    FAMILY_NAMES,
    bundled_pool,
    darken,
    edits,
    folder_pool,
    get_family,
    lfw_pool,
    make_edited_pair,
    make_pair,
    paste_rectangle,
    write_pair,
)


@pytest.fixture(scope="module")
def pool() -> list[np.ndarray]:
    return bundled_pool(40, seed=5, min_side=128, max_side=192, include_gray=False)


def _scores(images, source):
    decoded = [ref.load().decode() for ref in ImageSet.from_spec(list(images)).refs]
    ids = [c.id for c in source.concepts()]
    return dict(zip(ids, np.asarray(source.score(decoded)).T, strict=True))


def test_every_family_edits_real_photos_deterministically():
    img = skimage.data.astronaut()[::3, ::3].copy()
    for name in FAMILY_NAMES:
        family = get_family(name)
        out = family.apply(img, np.random.default_rng(1), 0.8)
        again = family.apply(img, np.random.default_rng(1), 0.8)
        assert out.shape == img.shape and out.dtype == np.uint8, name
        assert not np.array_equal(out, img), f"{name} did not change the image"
        assert np.array_equal(out, again), f"{name} is not deterministic for a seed"
        assert family.difference(0.8).concepts and family.difference(0.8).sentence


@pytest.mark.parametrize(
    ("name", "source", "expect_higher"),
    [
        ("blur", ImageStatsSource(), False),
        ("noise", ImageStatsSource(), True),
        ("brightness_down", ImageStatsSource(), False),
        ("tint_blue", ImageStatsSource(), True),
        ("jpeg", ImageStatsSource(), True),
        ("border", ImageStatsSource(), True),
        ("rectangle", ShapeSource(), True),
        ("circle", ShapeSource(), True),
    ],
)
def test_families_move_their_truth_concept(pool, name, source, expect_higher):
    family = get_family(name)
    rng = np.random.default_rng(0)
    edited = [family.apply(img, rng, 0.9) for img in pool[:20]]
    cid = family.concepts[0]
    after, before = _scores(edited, source)[cid], _scores(pool[:20], source)[cid]
    shift = auroc(after, before)
    assert (shift > 0.8) if expect_higher else (shift < 0.2), f"{name}: AUROC {shift:.2f} for {cid}"
    assert family.direction == ("a" if expect_higher else "b")


def test_strength_orders_the_effect():
    img = skimage.data.coffee()[::2, ::2].copy()
    weak = get_family("blur").apply(img, np.random.default_rng(0), 0.1)
    strong = get_family("blur").apply(img, np.random.default_rng(0), 1.0)
    assert (
        np.abs(np.diff(strong.astype(float), axis=1)).mean()
        < np.abs(np.diff(weak.astype(float), axis=1)).mean()
    )


def test_bad_knobs_and_names_fail_clearly(pool):
    with pytest.raises(ValueError, match="unknown difference family 'sparkle'"):
        get_family("sparkle")
    with pytest.raises(ValueError, match="strength"):
        get_family("blur").apply(pool[0], np.random.default_rng(0), 1.5)
    with pytest.raises(ValueError, match="strength"):
        get_family("blur").difference(0)
    with pytest.raises(ValueError, match="unknown colour"):
        get_family("rectangle", colour="plaid")
    with pytest.raises(ValueError, match="purity"):
        make_edited_pair(pool, [("blur", 0.5)], 10, 10, purity=1.2)
    with pytest.raises(ValueError, match="concentration"):
        make_edited_pair(pool, [("blur", 0.5)], 10, 10, concentration=0)
    with pytest.raises(ValueError, match="dilution pool"):
        make_edited_pair(pool, [("blur", 0.5)], 10, 10, concentration=0.5)
    with pytest.raises(ValueError, match="fewer than the 60 requested"):
        make_edited_pair(pool, [("blur", 0.5)], 30, 30)
    with pytest.raises(ValueError, match="empty"):
        make_edited_pair([], [("blur", 0.5)], 10, 10)
    with pytest.raises(ValueError, match="unknown difference family"):
        make_edited_pair(pool, [("nope", 0.5)], 10, 10)
    with pytest.raises(ValueError, match="does not fit"):
        paste_rectangle(pool[0], np.random.default_rng(0), size=5000)
    with pytest.raises(ValueError, match="fewer than the 500 requested"):
        lfw_pool(True, n=500)


def test_purity_concentration_and_multiple_edits(pool):
    dilution = lfw_pool(False, n=20, side=128)
    settings = dict(seed=3, purity=0.5, concentration=0.75, dilution=dilution)
    pair = make_edited_pair(pool, [("noise", 0.8), ("border", 0.8)], 12, 12, **settings)
    assert len(pair.set_a) == len(pair.set_b) == 12
    assert [d.family for d in pair.differences] == ["noise", "border"]
    originals = {img.tobytes() for img in pool} | {img.tobytes() for img in dilution}
    edited = [img for img in pair.set_a if img.tobytes() not in originals]
    # 9 of A's images come from the pool; each edit hits round(0.5 * 9) = 4 (overlaps allowed).
    assert 4 <= len(edited) <= 8
    assert all(img.tobytes() in originals for img in pair.set_b)
    from_dilution = {img.tobytes() for img in dilution}
    assert sum(img.tobytes() in from_dilution for img in pair.set_b) == 3
    again = make_edited_pair(pool, [("noise", 0.8), ("border", 0.8)], 12, 12, **settings)
    assert all(np.array_equal(x, y) for x, y in zip(pair.set_a, again.set_a, strict=True))
    null = make_edited_pair(pool, [("noise", 0.8)], 12, 12, seed=3, purity=0.0)
    assert null.is_null and null.truth["null"] and all(img.tobytes() in originals for img in null.set_a)


def test_make_pair_and_write_pair_round_trip(pool, tmp_path):
    a, b = make_pair(pool, lambda img, rng: darken(img, 0.5), 8, 8, seed=1, purity=1.0)
    assert all(x.mean() < 140 for x in a[:1]) and len(b) == 8
    pair = make_edited_pair(pool, [("circle", 0.6)], 8, 8, seed=2)
    folder_a, folder_b = write_pair(pair.set_a, pair.set_b, tmp_path / "pair", pair.truth)
    assert len(list(folder_a.glob("*.png"))) == 8 and len(list(folder_b.glob("*.png"))) == 8
    truth = json.loads((tmp_path / "pair" / "truth.json").read_text())
    assert (
        truth["differences"][0]["concepts"] == ["shape.circle"]
        and truth["differences"][0]["direction"] == "a"
    )
    back = folder_pool(folder_a)
    assert len(back) == 8 and {x.tobytes() for x in back} == {x.tobytes() for x in pair.set_a}
    with pytest.raises(FileNotFoundError):
        folder_pool(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images"):
        folder_pool(tmp_path / "empty")


def test_corner_positions_and_logo_fallback():
    img = np.full((100, 120, 3), 128, np.uint8)
    out = edits.paste_rectangle(img, np.random.default_rng(0), 10, "red", "bottom_right")
    ys, xs = np.nonzero((out != 128).any(axis=2))
    assert ys.min() > 50 and xs.min() > 60
    emblem = edits.emblem(64, seed=1)
    assert emblem.shape == (64, 64, 4) and emblem[..., 3].max() == 255 and emblem[0, 0, 3] == 0
    logo = get_family("logo").apply(img, np.random.default_rng(0), 0.5)
    assert (logo != 128).any()
