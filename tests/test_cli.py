"""The command line as a user runs it: files written, errors explained, nothing written elsewhere."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import tellapart
from tellapart.bench import SuiteConfig
from tellapart.cli import _findings_path, _library, _trained_file, build_parser, main
from tellapart.concepts.cache import ScoreCache, default_cache_dir
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


def _first_ten(rectangle_folders) -> list[str]:
    """Globs of the first ten images of each set, for runs whose findings do not matter."""
    root, a, b = rectangle_folders
    return [str(a[0].parent / "img 00?.png"), str(b[0].parent / "img 00?.png")]


def _snapshot(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def _assert_rectangle_found(data: dict) -> None:
    """The pasted rectangle (or, tied with it at AUROC 1.0, its parent "an inserted shape") comes first,
    and the rectangle itself is a significant finding that nothing explains away."""
    assert data["findings"][0]["concept"] in ("shape.rectangle", "shape.any")
    rectangle = next(f for f in data["findings"] if f["concept"] == "shape.rectangle")
    assert rectangle["significant"] and rectangle["direction"] == "a" and not rectangle["explained_by"]


@pytest.fixture(autouse=True)
def shared_cache(cache_dir, monkeypatch) -> str:
    """Every test scores through the session's cache ($TELLAPART_CACHE_DIR), never the user's."""
    monkeypatch.setenv("TELLAPART_CACHE_DIR", cache_dir)
    return cache_dir


@pytest.mark.slow
def test_describe_writes_report_and_json_only_inside_out(rectangle_folders, tmp_path, capsys):
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
    assert not (out / "cache").exists()


@pytest.mark.slow
def test_manifest_with_group_column(rectangle_folders, tmp_path):
    root, a, b = rectangle_folders
    manifest = root / "manifest.csv"
    rows = [{"path": str(p.relative_to(root)), "label": "marked"} for p in a]
    rows += [{"path": str(p.relative_to(root)), "label": "plain"} for p in b]
    pd.DataFrame(rows).to_csv(manifest, index=False)
    out = tmp_path / "m"
    json_path = out / "custom.json"
    code = main(["describe", "--manifest", str(manifest), "--group-col", "label", "--group-a", "marked",
                 "--group-b", "plain", "--out", str(out), "--json", str(json_path), "--quiet"])
    assert code == 0
    data = json.loads(json_path.read_text())
    _assert_rectangle_found(data)
    assert json.loads((out / "findings.json").read_text()) == data  # --json is a copy; OUT keeps its own


def test_old_option_spellings_still_work():
    parser = build_parser()
    old = parser.parse_args(["describe", "--manifest", "m.csv", "--group-col", "g", "--a", "x", "--b", "y"])
    new = parser.parse_args(["describe", "--manifest", "m.csv", "--group-col", "g", "--group-a", "x",
                             "--group-b", "y"])
    assert (old.value_a, old.value_b) == (new.value_a, new.value_b) == ("x", "y")
    assert parser.parse_args(["train", "--findings"]).findings_store is True
    assert parser.parse_args(["train", "--findings", "s.npz"]).findings_store == "s.npz"
    assert parser.parse_args(["train", "--findings-store", "s.npz"]).findings_store == "s.npz"
    assert parser.parse_args(["train"]).findings_store is None


def test_json_dash_prints_only_the_json_document(rectangle_folders, tmp_path, capsys):
    root, a, b = rectangle_folders
    out = tmp_path / "out"
    code = main(["describe", str(a[0].parent), str(b[0].parent), "--out", str(out), "--json", "-", "--quiet"])
    assert code == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert data == json.loads((out / "findings.json").read_text())
    _assert_rectangle_found(data)
    assert "rectangle" in captured.err and "report.html" in captured.err  # the table went to stderr
    assert not (out / "-").exists()


def test_detectors_none_screens_no_learned_concept(rectangle_folders, tmp_path, capsys):
    root, a, b = rectangle_folders
    runs = {}
    for detectors in ("shipped", "none"):
        args = ["describe", str(a[0].parent), str(b[0].parent), "--out", str(tmp_path / detectors),
                "--json", "-", "--quiet", "--max-hypotheses", "30"]
        assert main(args + ([] if detectors == "shipped" else ["--detectors", "none"])) == 0
        runs[detectors] = json.loads(capsys.readouterr().out)
    learned = [f["concept"] for f in runs["shipped"]["findings"] if f["concept"].startswith("learned.")]
    assert learned, "the shipped detectors should reach the tested hypotheses on this pair"
    assert not any(f["concept"].startswith("learned.") for f in runs["none"]["findings"])
    assert runs["none"]["n_screened"] < runs["shipped"]["n_screened"]
    _assert_rectangle_found(runs["none"])


def test_none_turns_off_trained_files_and_the_findings_store(tmp_path, monkeypatch):
    store = tmp_path / "findings.npz"
    monkeypatch.setenv("TELLAPART_FINDINGS", str(store))
    parser = build_parser()
    args = parser.parse_args(["describe", "a", "b", "--detectors", "none", "--describer", "None",
                              "--findings-store", "none"])
    assert _trained_file(args.detectors) is None and _trained_file(args.describer) is None
    assert _findings_path(args.findings_store) is None
    defaults = parser.parse_args(["describe", "a", "b"])
    assert _trained_file(defaults.detectors) == "shipped"
    assert _findings_path(defaults.findings_store) == store
    assert _library(args).learned is None


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
    assert "--group-a" in capsys.readouterr().err


def test_save_refuses_a_store_of_none(rectangle_folders, capsys):
    root, a, b = rectangle_folders
    with pytest.raises(SystemExit) as exit_info:
        main(["verify", "red squares", str(a[0].parent), str(b[0].parent), "--save", "--findings-store",
              "none"])
    assert exit_info.value.code == 2
    assert "findings store" in capsys.readouterr().err


@pytest.fixture
def opened_caches(monkeypatch) -> list[Path]:
    """Record the folder of every score cache opened."""
    folders: list[Path] = []
    original = ScoreCache.__init__

    def record(self, directory, *args, **kwargs):
        folders.append(Path(directory))
        original(self, directory, *args, **kwargs)

    monkeypatch.setattr(ScoreCache, "__init__", record)
    return folders


@pytest.mark.parametrize("rule", ["environment", "user cache", "--cache-dir"])
def test_cli_and_api_use_one_default_cache_folder(rule, rectangle_folders, shared_cache, tmp_path,
                                                  monkeypatch, opened_caches):
    """--cache-dir, else $TELLAPART_CACHE_DIR, else the user cache: the same folder for the CLI and the API
    (the API's default is tellapart.concepts.cache.default_cache_dir())."""
    extra = []
    expected = Path(shared_cache)
    if rule == "user cache":
        monkeypatch.delenv("TELLAPART_CACHE_DIR")
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
        monkeypatch.setenv("HOME", str(tmp_path / "home"))
        expected = default_cache_dir()
        assert tmp_path in expected.parents
    elif rule == "--cache-dir":
        monkeypatch.setenv("TELLAPART_CACHE_DIR", str(tmp_path / "not this one"))
        extra = ["--cache-dir", shared_cache]
    out = tmp_path / "out"
    assert main(["describe", *_first_ten(rectangle_folders), "--out", str(out), "--quiet", *extra]) == 0
    assert opened_caches and set(opened_caches) == {expected}
    assert not (out / "cache").exists() and not (tmp_path / "not this one").exists()
    if rule != "--cache-dir":
        opened_caches.clear()
        tellapart.describe(*_first_ten(rectangle_folders), progress=False)
        assert set(opened_caches) == {default_cache_dir()} == {expected}


def test_no_cache_opens_no_cache(rectangle_folders, tmp_path, opened_caches):
    code = main(["describe", *_first_ten(rectangle_folders), "--out", str(tmp_path / "o"), "--quiet",
                 "--no-cache"])
    assert code == 0
    assert opened_caches == []


TINY_SUITE = SuiteConfig("tiny", n_per_set=10, pairs_per_tier=0, null_pairs=1, sweep_pairs=0, real_pairs=0,
                         real_per_set=10, pool_size=20)


def test_bench_json_file_and_dash_hold_the_same_document(tmp_path, capsys, monkeypatch):
    import tellapart.bench

    run_bench = tellapart.bench.run_bench
    monkeypatch.setattr(tellapart.bench, "run_bench",
                        lambda suite, *args, **kwargs: run_bench(TINY_SUITE, *args, **kwargs))
    target = tmp_path / "new folder" / "bench.json"
    assert main(["bench", "--json", str(target), "--quiet"]) == 0
    printed = capsys.readouterr()
    assert printed.out.startswith("| method |")
    assert main(["bench", "--json", "-", "--quiet"]) == 0
    dashed = capsys.readouterr()
    assert dashed.err.startswith("| method |")
    from_file, from_stdout = json.loads(target.read_text()), json.loads(dashed.out)
    for data in (from_file, from_stdout):
        data.pop("seconds"), data.pop("scoring_seconds_per_pair")
        for row in (*data["pairs"], *data["truth"]):
            row.pop("seconds", None), row.pop("scoring_seconds", None)
        for method in data["methods"].values():
            method.pop("seconds_per_pair")
    assert from_file == from_stdout and from_file["suite"] == "tiny"


def test_help_teaches_with_examples():
    result = subprocess.run([sys.executable, "-m", "tellapart.cli", "describe", "--help"],
                            capture_output=True, text=True, cwd=Path(__file__).parents[1],
                            env={**os.environ, "PYTHONPATH": "src"})
    assert result.returncode == 0
    assert "examples:" in result.stdout and "--manifest" in result.stdout and "AUROC" in result.stdout
    assert "--group-a" in result.stdout and "--json -" in result.stdout
    assert not re.search(r"--[ab](?![\w-])", result.stdout)  # the old spellings are hidden


@pytest.mark.parametrize("command", ["describe", "verify", "bench", "train", "demo"])
def test_every_sub_command_has_examples_and_one_vocabulary(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = capsys.readouterr().out
    assert f"tellapart {command}" in text.split("examples:")[1]
    assert "--cache-dir" in text and "--no-cache" in text and "$TELLAPART_CACHE_DIR" in text
    assert ("--json FILE" in text) == (command != "train")
    assert "--findings " not in text and "--findings]" not in text
