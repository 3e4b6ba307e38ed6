"""Findings fed back: a verified hypothesis is saved and offered to later runs as a concept."""

from __future__ import annotations

import numpy as np
import pytest

import tellapart
from tellapart.concepts.library import ConceptLibrary
from tellapart.findings_store import load_findings, save_finding
from tellapart.stats.auroc import auroc
from tellapart.synth import paste_rectangle


def _marked(images, seed):
    rng = np.random.default_rng(seed)
    return [paste_rectangle(img, rng, size=16, colour="red") for img in images]


def test_a_saved_finding_is_looked_for_in_new_data(pool, cache_dir, library, tmp_path):
    checked = tellapart.verify("images with a red square", _marked(pool[:40], 1), pool[40:80],
                               cache_dir=cache_dir, library=library, progress=False)
    assert checked.findings["significant"].any()
    store = tmp_path / "findings.npz"
    concept = save_finding(checked, store)
    assert concept.id == "saved.images_with_a_red_square"
    saved = load_findings(store)
    assert [c.id for c in saved.concepts] == [concept.id]
    assert saved.info["findings"][0]["validated_on"]["n_a"] == 40

    later = ConceptLibrary(findings=store)
    assert concept.id in later.concepts and "learned.text" in later.concepts
    new_a, new_b = _marked(pool[80:100], 2), pool[100:120]  # images the finding was not fitted on
    result = tellapart.describe(new_a, new_b, cache_dir=cache_dir, library=later, progress=False)
    scores = result.scores[concept.id].to_numpy()
    groups = result.images["set"].to_numpy()
    assert auroc(scores[groups == "a"], scores[groups == "b"]) > 0.8

    save_finding(checked, store)  # saving the same hypothesis again replaces it
    assert len(load_findings(store).concepts) == 1


def test_an_unconfirmed_hypothesis_is_not_saved(pool, cache_dir, library, tmp_path):
    order = np.random.default_rng(0).permutation(80)
    same = tellapart.verify("darker images", [pool[i] for i in order[:40]], [pool[i] for i in order[40:]],
                            cache_dir=cache_dir, library=library, progress=False)
    # Two halves of one shuffled pool differ in nothing: verify must not confirm the hypothesis (a
    # significant row here is a false positive of verify, the regression this test guards, not a reason
    # to skip).
    assert len(same.findings) and not same.findings["significant"].any(), same.findings
    with pytest.raises(ValueError, match="nothing significant"):
        save_finding(same, tmp_path / "findings.npz")
    assert not (tmp_path / "findings.npz").exists()


def test_verify_save_on_the_command_line(pool, cache_dir, tmp_path, capsys):
    from PIL import Image

    from tellapart.cli import main

    for name, images in (("marked", _marked(pool[:30], 3)), ("plain", pool[30:60])):
        (tmp_path / name).mkdir()
        for i, img in enumerate(images):
            Image.fromarray(img).save(tmp_path / name / f"{i}.png")
    store = tmp_path / "store" / "findings.npz"
    code = main(["verify", "images with a red square", str(tmp_path / "marked"), str(tmp_path / "plain"),
                 "--save", "--findings-store", str(store), "--out", str(tmp_path / "out"),
                 "--cache-dir", cache_dir, "--quiet"])
    assert code == 0
    assert "saved.images_with_a_red_square" in capsys.readouterr().out
    assert [c.id for c in load_findings(store).concepts] == ["saved.images_with_a_red_square"]
