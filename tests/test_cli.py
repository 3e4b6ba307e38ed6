"""The command line as a user runs it: files written, errors explained, nothing written elsewhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from tellapart.cli import main
from tellapart.synth import paste_rectangle


def _write(images, folder: Path, prefix: str = "img") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, img in enumerate(images):
        path = folder / f"{prefix} {i:03d}.png"
        Image.fromarray(img).save(path)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def rectangle_folders(pool, tmp_path_factory):
    root = tmp_path_factory.mktemp("sets")
    rng = np.random.default_rng(7)
    a = _write([paste_rectangle(img, rng, size=18, colour="red") for img in pool[:30]], root / "set ä (A)")
    b = _write(pool[30:60], root / "集合 B")
    return root, a, b


def _snapshot(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def _assert_rectangle_found(data: dict) -> None:
    """The pasted rectangle (or, tied with it at AUROC 1.0, its parent "an inserted shape") comes first,
    and the rectangle itself is a significant finding that nothing explains away."""
    assert data["findings"][0]["concept"] in ("shape.rectangle", "shape.any")
    rectangle = next(f for f in data["findings"] if f["concept"] == "shape.rectangle")
    assert rectangle["significant"] and rectangle["direction"] == "a" and not rectangle["explained_by"]


def test_describe_writes_report_and_json_only_inside_out(rectangle_folders, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("TELLAPART_CACHE_DIR", raising=False)
    root, a, b = rectangle_folders
    before = _snapshot(root)
    out = tmp_path / "out dir"
    code = main(["describe", str(a[0].parent), str(b[0].parent), "--out", str(out), "--quiet"])
    assert code == 0
    assert _snapshot(root) == before
    assert (out / "report.html").is_file()
    data = json.loads((out / "findings.json").read_text())
    assert data["n_a"] == 30 and data["n_b"] == 30 and data["seed"] == 0
    _assert_rectangle_found(data)
    assert data["findings"][0]["significant"] is True
    printed = capsys.readouterr().out
    assert "rectangle" in printed and "report.html" in printed
    assert not any(p.name.endswith(".tmp") for p in out.rglob("*"))


def test_manifest_with_group_column(rectangle_folders, tmp_path):
    root, a, b = rectangle_folders
    manifest = root / "manifest.csv"
    rows = [{"path": str(p.relative_to(root)), "label": "marked"} for p in a]
    rows += [{"path": str(p.relative_to(root)), "label": "plain"} for p in b]
    pd.DataFrame(rows).to_csv(manifest, index=False)
    out = tmp_path / "m"
    json_path = out / "custom.json"
    code = main(["describe", "--manifest", str(manifest), "--group-col", "label", "--a", "marked",
                 "--b", "plain", "--out", str(out), "--json", str(json_path), "--quiet"])
    assert code == 0
    data = json.loads(json_path.read_text())
    _assert_rectangle_found(data)


def test_empty_folder_is_a_clear_error(tmp_path, capsys, rectangle_folders):
    empty = tmp_path / "empty"
    empty.mkdir()
    code = main(["describe", str(empty), str(rectangle_folders[2][0].parent), "--out", str(tmp_path / "o"),
                 "--quiet"])
    assert code == 2
    assert "no image" in capsys.readouterr().err.lower()


def test_missing_manifest_arguments_explain_themselves(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["describe", "--manifest", str(tmp_path / "x.csv"), "--group-col", "g"])
    assert exit_info.value.code == 2
    assert "--a" in capsys.readouterr().err


def test_help_teaches_with_examples():
    result = subprocess.run([sys.executable, "-m", "tellapart.cli", "describe", "--help"],
                            capture_output=True, text=True, cwd=Path(__file__).parents[1],
                            env={**os.environ, "PYTHONPATH": "src"})
    assert result.returncode == 0
    assert "examples:" in result.stdout and "--manifest" in result.stdout and "AUROC" in result.stdout
