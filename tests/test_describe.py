"""End-to-end: the true difference comes out on top, identical sets give nothing."""

from __future__ import annotations

import numpy as np
import pytest

import tellapart
from tellapart.synth import darken, paste_rectangle


def _top(result: tellapart.Result) -> str:
    significant = result.significant
    tested = result.findings[["concept", "auroc", "q_value"]]
    assert len(significant), f"nothing significant; tested:\n{tested}"
    return significant.iloc[0]["concept"]


@pytest.mark.slow
def test_darker_set_is_found(pool, cache_dir, library):
    set_a = [darken(img, 0.6) for img in pool[:40]]
    result = tellapart.describe(set_a, pool[40:80], cache_dir=cache_dir, library=library, progress=False)
    row = result.significant.iloc[0]
    # The brightness statistic (B brighter) or the detector learned for darkening (A darkened).
    assert (_top(result), row["direction"]) in {("stats.brightness", "b"), ("learned.brightness_down", "a")}
    assert "dark" in row["text"] and row["q_value"] < 0.05
    assert row["auroc_ci"][0] > 0.5


def test_small_red_rectangle_is_found(pool, cache_dir, library):
    rng = np.random.default_rng(1)
    set_a = [paste_rectangle(img, rng, size=16, colour="red") for img in pool[:40]]
    result = tellapart.describe(set_a, pool[40:80], cache_dir=cache_dir, library=library, progress=False)
    # The rectangle and its parent "an inserted shape" separate the sets equally (AUROC 1.0); the learned
    # describer may name either first, and the rectangle itself must be a finding not explained away.
    assert _top(result) in ("shape.rectangle", "shape.any")
    assert result.significant.iloc[0]["direction"] == "a"
    rectangle = result.significant.set_index("concept").loc["shape.rectangle"]
    assert rectangle["direction"] == "a" and not isinstance(rectangle["explained_by"], str)


@pytest.mark.slow
def test_identical_distributions_report_nothing(pool, cache_dir, library):
    reported = []
    for seed in range(40):
        order = np.random.default_rng(100 + seed).permutation(80)
        a = [pool[i] for i in order[:40]]
        b = [pool[i] for i in order[40:]]
        result = tellapart.describe(a, b, seed=seed, cache_dir=cache_dir, library=library, progress=False)
        if len(result.findings) and result.findings["significant"].any():
            reported.append((seed, list(result.significant["concept"])))
    # The contract allows 5%: 2 or fewer of 40 is expected then (3 or fewer with probability 0.86), while a
    # 20% false-finding rate would pass this with probability 0.04.
    assert len(reported) <= 3, f"false findings on identical sets: {reported}"


def test_faces_vs_non_faces_puts_the_face_finding_on_top(cache_dir, library):
    from skimage.data import lfw_subset

    faces = lfw_subset()
    images = [(np.clip(f, 0, 1) * 255).astype(np.uint8) for f in faces]
    result = tellapart.describe(images[:100], images[100:], cache_dir=cache_dir, library=library,
                                progress=False)
    top = _top(result)
    concept = result.concepts[top]
    assert "face" in top or any("face" in p for p in concept.parents), top
    assert result.significant.iloc[0]["direction"] == "a"


def test_results_are_deterministic_for_a_seed(pool, cache_dir, library):
    rng = np.random.default_rng(1)
    set_a = [paste_rectangle(img, rng, size=16, colour="red") for img in pool[:40]]
    first = tellapart.describe(set_a, pool[40:80], seed=3, cache_dir=cache_dir, library=library,
                               progress=False)
    second = tellapart.describe(set_a, pool[40:80], seed=3, cache_dir=cache_dir, library=library,
                                progress=False)
    assert first.to_json() == second.to_json()


def test_the_same_image_in_both_sets_is_reported(pool, cache_dir, library):
    a = pool[:12]
    b = pool[10:24]  # pool[10] and pool[11] are in both sets
    result = tellapart.describe(a, b, cache_dir=cache_dir, library=library, progress=False)
    assert len(result.duplicates) == 2
    assert len(result.to_dict()["duplicates"]) == 2


def test_too_few_readable_images_is_a_clear_error(tmp_path, pool, library):
    from PIL import Image

    folder = tmp_path / "few"
    folder.mkdir()
    for i in range(4):
        Image.fromarray(pool[i]).save(folder / f"ok_{i}.png")
    (folder / "broken.jpg").write_bytes(b"not really a jpeg")
    (folder / "empty.png").write_bytes(b"")
    with pytest.raises(tellapart.TooFewImagesError) as error:
        tellapart.describe(folder, pool[20:40], library=library, use_cache=False, progress=False)
    message = str(error.value)
    assert "4 readable images" in message and "at least 10" in message
    assert "broken.jpg" in message and "empty.png" in message


def test_verify_matches_text_and_tests_on_all_images(pool, cache_dir, library):
    set_a = [darken(img, 0.6) for img in pool[:40]]
    result = tellapart.verify("set A images are darker", set_a, pool[40:80], cache_dir=cache_dir,
                              library=library, progress=False)
    assert result.matches[0]["concept"] == "stats.brightness"
    row = result.findings.set_index("concept").loc["stats.brightness"]
    assert bool(row["significant"]) and row["direction"] == "b"
    assert set(result.images["split"]) == {"all"}
