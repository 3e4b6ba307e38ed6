"""The model-failure workflow (``tellapart.failures``): a real classifier, real images, a cause we planted."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from tellapart.cli import main
from tellapart.failures import MIN_PER_SET, POOLED, failures

# The planted cause: a grey haze over half of the test digits (a raised background, as an over-exposed or
# foggy capture), which a classifier trained on clean digits misreads.
HAZE = 8  # added to every pixel, out of 16
CAUSE = {("stats.brightness", "a"), ("stats.contrast", "b"), ("learned.brightness_up", "a"),
         ("learned.contrast_down", "a"), ("learned.contrast_up", "b")}


@pytest.fixture(scope="module")
def predictions(tmp_path_factory) -> Path:
    """A logistic regression trained on 600 clean scikit-learn digits predicts 500 others, half of them hazy;
    returns the predictions CSV (path relative to its folder, true label, predicted label)."""
    root = tmp_path_factory.mktemp("digits")
    digits = load_digits()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(digits.target))
    train, test = order[:600], order[600:1100]
    model = LogisticRegression(max_iter=2000).fit(digits.images[train].reshape(len(train), -1),
                                                  digits.target[train])
    images = digits.images[test].copy()
    hazy = rng.random(len(test)) < 0.5
    images[hazy] = np.minimum(images[hazy] + HAZE, 16)
    predicted = model.predict(images.reshape(len(test), -1))
    rows = []
    for i, (image, truth, guess) in enumerate(zip(images, digits.target[test], predicted, strict=True)):
        name = f"digit-{i:03d}.png"
        Image.fromarray((image * 255 / 16).astype(np.uint8)).resize((64, 64), Image.NEAREST).convert(
            "RGB").save(root / name)
        rows.append({"file": name, "label": f"digit {truth}", "prediction": f"digit {guess}", "score": 0.5})
    pd.DataFrame(rows).to_csv(root / "predictions.csv", index=False)
    return root / "predictions.csv"


@pytest.mark.slow
def test_the_planted_cause_is_named_pooled_and_per_class(predictions, cache_dir, library):
    table = pd.read_csv(predictions)
    result = failures(predictions, cache_dir=cache_dir, library=library, progress=False)
    wrong = table["label"] != table["prediction"]
    assert (result.n_wrong, result.n_right) == (int(wrong.sum()), int((~wrong).sum()))
    assert result.columns == {"path": "file", "true": "label", "predicted": "prediction"}
    # One error budget: every analysis runs at alpha / (number of analyses).
    assert result.alpha_each == pytest.approx(0.05 / len(result.analyses))
    pooled = result.analyses[POOLED]
    assert (pooled.n_a, pooled.n_b) == (result.n_wrong, result.n_right)
    named = set(zip(pooled.significant["concept"], pooled.significant["direction"], strict=True))
    assert named & CAUSE, pooled.significant[["concept", "direction", "auroc"]]
    # On top: what the failures have in common across analyses. (Pooled alone, "blurrier" leads: the haze
    # lowers this sharpness measure as surely as it raises brightness, and sharpness also carries the
    # hard class, see Failures.common.)
    common = result.common
    top = common.iloc[0]
    assert (top["concept"], top["direction"]) in CAUSE, common[["concept", "direction", "n_analyses"]]
    assert POOLED in top["analyses"].split("; ") and top["n_analyses"] >= 2  # pooled and within a class
    assert list(common["n_analyses"]) == sorted(common["n_analyses"], reverse=True)
    assert json.loads(result.to_json())["common"][0]["concept"] == top["concept"]
    # Per class: each class with enough errors has its own analysis, the others say why not.
    counts = table.assign(wrong=wrong).groupby("label")["wrong"].agg(["sum", "count"])
    analysed = {f"true class {c}" for c, r in counts.iterrows()
                if r["sum"] >= MIN_PER_SET and r["count"] - r["sum"] >= MIN_PER_SET}
    assert set(result.analyses) == {POOLED} | analysed and analysed
    assert set(result.skipped_classes["class"]) == set(counts.index) - {a.removeprefix("true class ")
                                                                        for a in analysed}
    findings = result.findings
    assert set(findings["analysis"]) <= set(result.analyses) and findings.columns[0] == "analysis"
    per_class_causes = [name for name in analysed
                        if set(zip(result.analyses[name].significant["concept"],
                                   result.analyses[name].significant["direction"], strict=True)) & CAUSE]
    assert len(per_class_causes) >= len(analysed) // 2, findings[["analysis", "concept", "direction"]]
    text = str(result)
    assert "The misclassified images" in text and "true class" in text
    first = text.split("In common, in the most analyses first:\n")[1].splitlines()[0]
    assert first.startswith("  1. The misclassified images") and f"in {top['n_analyses']} of" in first


def test_columns_are_found_or_named(tmp_path):
    table = pd.DataFrame({"image": ["a.png"] * 30, "y": ["cat"] * 30, "y_hat": ["dog"] * 30})
    with pytest.raises(ValueError, match="true labels.*--true-col"):
        failures(table, base_dir=tmp_path)
    with pytest.raises(ValueError, match="no column 'truth' \\(true_col"):
        failures(table, true_col="truth", pred_col="y_hat", base_dir=tmp_path)


def test_too_few_errors_is_a_clear_error(tmp_path):
    table = pd.DataFrame({"path": [f"{i}.png" for i in range(40)], "label": ["cat"] * 40,
                          "pred": ["cat"] * 35 + ["dog"] * 5})
    with pytest.raises(ValueError, match="5 misclassified and 35 correctly classified"):
        failures(table, base_dir=tmp_path)
    with pytest.raises(ValueError, match="alpha"):
        failures(table, base_dir=tmp_path, alpha=2)


@pytest.mark.slow
def test_the_command_writes_a_report_per_analysis_and_one_json(predictions, cache_dir, tmp_path, capsys):
    out = tmp_path / "report"
    code = main(["failures", str(predictions), "--out", str(out), "--cache-dir", cache_dir, "--quiet",
                 "--pooled-only", "--json", str(tmp_path / "f.json")])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["all-classes.html", "failures.json"]
    document = json.loads((tmp_path / "f.json").read_text())
    assert document["mode"] == "failures" and list(document["analyses"]) == [POOLED]
    assert document["analyses"][POOLED]["n_a"] == document["n_wrong"]
    assert "The misclassified images" in capsys.readouterr().out


def test_the_command_names_a_missing_file(tmp_path, capsys):
    assert main(["failures", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o"), "--no-cache"]) == 2
    assert "predictions file not found" in capsys.readouterr().err


def test_an_empty_prediction_cell_does_not_make_every_image_wrong(tmp_path):
    # One empty cell turns pandas' integer column into floats ("1.0"): labels must still compare as equal.
    rows = ["path,label,pred"] + [f"{i}.png,{i % 2},{i % 2}" for i in range(30)] + ["x.png,1,"]
    (tmp_path / "p.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(ValueError, match="0 misclassified and 30 correctly classified"):
        failures(tmp_path / "p.csv")


def test_report_names_never_collide():
    from tellapart.failures import _slug
    assert _slug("true class 猫") != _slug("true class 狗")


def test_predictions_and_images_at_urls(tmp_path, capsys):
    """A predictions table at an fsspec URL, its relative paths under the table's folder URL and its URL
    cells, are read as a manifest's (never folded by pathlib into ``memory:/``)."""
    import io
    import uuid

    fsspec = pytest.importorskip("fsspec")
    from tellapart.concepts.image_stats import ImageStatsSource
    from tellapart.concepts.library import ConceptLibrary

    fs = fsspec.filesystem("memory")
    root = f"memory://tellapart-failures-{uuid.uuid4().hex}"
    rng = np.random.default_rng(0)
    rows = []
    try:
        for i in range(24):
            pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) // (2 if i < 12 else 1)
            buffer = io.BytesIO()
            Image.fromarray(pixels.astype(np.uint8)).save(buffer, "PNG")
            fs.pipe(f"{root}/images/{i:02d}.png", buffer.getvalue())
            cell = f"images/{i:02d}.png" if i % 2 else f"{root}/images/{i:02d}.png"
            rows.append({"path": cell, "label": "cat", "prediction": "dog" if i < 12 else "cat"})
        fs.pipe(f"{root}/predictions.csv", pd.DataFrame(rows).to_csv(index=False).encode())
        result = failures(f"{root}/predictions.csv", library=ConceptLibrary([ImageStatsSource()]),
                          cache_dir=tmp_path / "cache", progress=False, per_class=False)
        pooled = result.analyses[POOLED]
        assert (result.n_wrong, result.n_right, pooled.n_a, pooled.n_b) == (12, 12, 12, 12)
        assert not len(pooled.skipped)
        missing = f"{root}/nowhere.csv"
        assert main(["failures", missing, "--out", str(tmp_path / "o"), "--no-cache", "--quiet"]) == 2
        assert f"not found: {missing}" in capsys.readouterr().err
    finally:
        fs.rm(root, recursive=True)
