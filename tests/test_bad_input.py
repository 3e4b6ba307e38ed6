"""The bad-input corpus: what a careless or hostile user gives the command line, one case per kind.

Every input is generated here (no committed binaries). Each case says what the run must do: stop with exit
code 2 and a one-line message that names the culprit, before any image is scored; or carry on and say
what it did (a damaged cache moved aside, repeats counted once, hidden files listed, names escaped). No
case may end in a traceback: an exception escaping ``main`` fails the test.
"""

from __future__ import annotations

import builtins
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import tellapart
from tellapart.cli import main
from tellapart.concepts.cache import CacheRecovered, ScoreCache
from tellapart.concepts.image_stats import ImageStatsSource
from tellapart.concepts.library import ConceptLibrary
from tellapart.io import ImageSet
from tellapart.io.imageset import HIDDEN_FILE, HIDDEN_FOLDER, OUTSIDE_MANIFEST_FOLDER, repeat_reason
from tellapart.io.printable import printable

N = 12  # images per set: enough for the statistics (at least 10)
ROOT = Path(__file__).parents[1]


# --- generated inputs ---------------------------------------------------------------------------------------


def _images(seed: int, marked: bool) -> list[np.ndarray]:
    """N small noise images; ``marked`` ones carry a red square."""
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(N):
        pixels = rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)
        if marked:
            pixels[8:20, 8:20] = (255, 0, 0)
        images.append(pixels)
    return images


def _folder(folder: Path, images: list[np.ndarray]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, pixels in enumerate(images):
        Image.fromarray(pixels).save(folder / f"{i:02d}.png")
    return folder


@dataclass
class Inputs:
    """Two generated sets in a fresh folder: ``a`` (marked) and ``b``, and a manifest of both."""

    root: Path

    @property
    def a(self) -> Path:
        return self.root / "a"

    @property
    def b(self) -> Path:
        return self.root / "b"

    def manifest(self, rows: list[dict], name: str = "m.csv") -> Path:
        path = self.root / name
        pd.DataFrame(rows).to_csv(path, index=False)
        return path

    def rows(self) -> list[dict]:
        """Manifest rows of both sets, paths relative to the root, group "x" (set A) and "y"."""
        return ([{"path": f"a/{i:02d}.png", "g": "x"} for i in range(N)]
                + [{"path": f"b/{i:02d}.png", "g": "y"} for i in range(N)])


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pristine")
    _folder(root / "a", _images(1, marked=True))
    _folder(root / "b", _images(2, marked=False))
    return root


@pytest.fixture
def inputs(pristine, tmp_path) -> Inputs:
    """A private copy of the two sets, free to be damaged by a case."""
    import shutil

    shutil.copytree(pristine, tmp_path / "in")
    return Inputs(tmp_path / "in")


@pytest.fixture(autouse=True)
def small_library(monkeypatch, cache_dir):
    """The CLI's library is the image statistics alone: these tests are about input, not concepts; the
    session's cache is the default one."""
    import tellapart.cli

    monkeypatch.setenv("TELLAPART_CACHE_DIR", cache_dir)
    monkeypatch.setattr(tellapart.cli, "_library", lambda args: ConceptLibrary([ImageStatsSource()]))


@pytest.fixture
def scored(monkeypatch) -> list[int]:
    """Count the images scored (one entry per score_sets call, its number of images)."""
    calls: list[int] = []
    original = ConceptLibrary.score_sets

    def counting(self, sets, *args, **kwargs):
        calls.append(sum(len(s) for s in sets.values()))
        return original(self, sets, *args, **kwargs)

    monkeypatch.setattr(ConceptLibrary, "score_sets", counting)
    return calls


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    """Run the CLI in-process; return (exit code, stdout, stderr). argparse's errors exit with code 2."""
    try:
        code = main(argv)
    except SystemExit as exit_info:
        code = exit_info.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --- the corpus: inputs that must be refused before any image is scored ----------------------------------


def _read_only_place(root: Path) -> Path:
    """A folder the test user cannot write into: a chmod 555 folder, or /proc for root (who ignores modes)."""
    if os.geteuid() == 0:
        return Path("/proc")
    place = root / "read-only"
    place.mkdir()
    place.chmod(0o555)
    return place


def _not_npz(root: Path) -> str:
    path = root / "detectors.npz"
    path.write_text("this is text, not an archive")
    return str(path)


def _shipped(name: str) -> str:
    return str(ROOT / "src" / "tellapart" / "data" / name)


def _describe(io: Inputs, *extra: str) -> list[str]:
    return ["describe", str(io.a), str(io.b), "--out", str(io.root / "out"), "--quiet", *extra]


def _from_manifest(io: Inputs, manifest: Path, *extra: str) -> list[str]:
    return ["describe", "--manifest", str(manifest), "--group-col", "g", "--group-a", "x", "--group-b", "y",
            "--out", str(io.root / "out"), "--quiet", *extra]


def _empty_csv(io: Inputs) -> list[str]:
    manifest = io.root / "empty.csv"
    manifest.write_bytes(b"")
    return _from_manifest(io, manifest)


def _numeric_paths(io: Inputs) -> list[str]:
    rows = [{"path": i, "g": "x" if i < N else "y"} for i in range(2 * N)]
    return _from_manifest(io, io.manifest(rows, "numbers.csv"))


REFUSED: dict[str, tuple[Callable[[Inputs], list[str]], str]] = {
    # 1. a cache folder that is a file
    "cache-dir is a file": (
        lambda io: _describe(io, "--cache-dir", str(io.a / "00.png")), r"--cache-dir .*00\.png is a file"),
    # 7. a negative seed, in every sub-command that has one
    "negative seed": (lambda io: _describe(io, "--seed", "-1"), r"--seed must be a whole number of at least 0"
                      r", got -1"),
    "negative seed (bench)": (lambda io: ["bench", "--seed", "-3"], r"--seed must be .* at least 0, got -3"),
    "negative seed (train)": (lambda io: ["train", "--seed", "-1", "--out", str(io.root / "t")], r"--seed"),
    # 8. a file that is not a trained file
    "detectors not an npz": (lambda io: _describe(io, "--detectors", _not_npz(io.root)),
                             r"--detectors .* is not a file tellapart wrote .* give the learned_detectors"),
    "describer not an npz": (lambda io: _describe(io, "--describer", _not_npz(io.root)),
                             r"--describer .* is not a file tellapart wrote"),
    "describer given detectors": (lambda io: _describe(io, "--describer", _shipped("learned_detectors.npz")),
                                  r"--describer .* is another kind of file"),
    "detectors given a describer": (lambda io: _describe(io, "--detectors", _shipped("describer.npz")),
                                    r"--detectors .* holds no detectors"),
    "detectors missing": (lambda io: _describe(io, "--detectors", str(io.root / "gone.npz")),
                          r"--detectors .*gone\.npz does not exist"),
    "detectors a folder": (lambda io: _describe(io, "--detectors", str(io.a)), r"is a folder, not a file"),
    "findings store missing": (lambda io: _describe(io, "--findings-store", str(io.root / "none.npz")),
                               r"--findings-store .* does not exist"),
    # 9. bad manifests
    "empty CSV manifest": (_empty_csv, r"manifest .*empty\.csv is empty; it needs a header row"),
    "numeric path column": (_numeric_paths, r"numbers\.csv .* path column holds int 0, not a file path"),
    "manifest without a path column": (
        lambda io: _from_manifest(io, io.manifest([{"where": "a/00.png", "g": "x"}])), r"no path column"),
    "manifest group value absent": (
        lambda io: _from_manifest(io, io.manifest(io.rows()), "--group-b", "z"), r"no rows .* g = 'z'"),
    "manifest not a table": (lambda io: _from_manifest(io, io.a / "00.png"), r"must be a \.csv, \.tsv"),
    # 10. output paths that cannot be written
    "json into a read-only folder": (
        lambda io: _describe(io, "--json", str(_read_only_place(io.root) / "x.json")),
        r"--json .*x\.json cannot be written"),
    "json below a file": (lambda io: _describe(io, "--json", str(io.a / "00.png" / "x.json")),
                          r"--json .* cannot be created: .*00\.png is a file"),
    "json is a folder": (lambda io: _describe(io, "--json", str(io.a)), r"--json .* is a folder, not a file"),
    "out is a file": (lambda io: ["describe", str(io.a), str(io.b), "--out", str(io.a / "00.png")],
                      r"--out .* is a file, not a folder"),
    "out in a read-only folder": (
        lambda io: ["describe", str(io.a), str(io.b), "--out", str(_read_only_place(io.root) / "o")],
        r"--out .* cannot be written"),
    # 11. options out of range, or two sets that are one
    "same group twice": (lambda io: _from_manifest(io, io.manifest(io.rows()), "--group-b", "x"),
                         r"--group-a and --group-b are both 'x'"),
    "same group twice (old spellings)": (
        lambda io: _from_manifest(io, io.manifest(io.rows()), "--a", "y", "--b", "y"), r"both 'y'"),
    "same folder twice": (lambda io: ["describe", str(io.a), str(io.a) + "/", "--out", str(io.root / "o")],
                          r"SET_A and SET_B are the same"),
    "verify top-k 0": (lambda io: ["verify", "darker", str(io.a), str(io.b), "--top-k", "0"],
                       r"--top-k must be a whole number of at least 1, got 0"),
    "max-hypotheses 0": (lambda io: _describe(io, "--max-hypotheses", "0"),
                         r"--max-hypotheses must be a whole number of at least 1, got 0"),
    "max-hypotheses negative": (lambda io: _describe(io, "--max-hypotheses", "-5"), r"--max-hypotheses"),
    "alpha 0": (lambda io: _describe(io, "--alpha", "0"), r"--alpha must be a number between 0 and 1"),
    "alpha above 1": (lambda io: _describe(io, "--alpha", "1.5"), r"--alpha must be .* got 1\.5"),
    "alpha not a number": (lambda io: _describe(io, "--alpha", "nan"), r"--alpha must be"),
    "seed not a number": (lambda io: _describe(io, "--seed", "one"), r"invalid int value: 'one'"),
    "demo with too few images": (lambda io: ["demo", "--n", "3", "--out", str(io.root / "d")],
                                 r"--n must be a whole number of at least 10"),
    "train n-per-family 0": (lambda io: ["train", "--n-per-family", "0", "--out", str(io.root / "t")],
                             r"--n-per-family must be"),
    "train pool missing": (lambda io: ["train", "--pool", str(io.root / "nope"), "--out", str(io.root / "t")],
                           r"--pool .*nope is not a folder"),
    "unknown correction": (lambda io: _describe(io, "--correction", "bonferroni"), r"invalid choice"),
    # 13. --confine means nothing without a manifest
    "confine without a manifest": (lambda io: _describe(io, "--confine"), r"--confine .* give --manifest"),
    # sets that do not exist or hold no image
    "set folder missing": (lambda io: ["describe", str(io.root / "gone"), str(io.b), "--out",
                                       str(io.root / "o")], r"no such file or folder: .*gone"),
    "glob matches nothing": (lambda io: ["describe", str(io.root / "*.jpeg"), str(io.b), "--out",
                                         str(io.root / "o")], r"no files match the pattern"),
    "only one set": (lambda io: ["describe", str(io.a)], r"give two sets"),
    "sets and a manifest": (lambda io: _from_manifest(io, io.manifest(io.rows()), str(io.a), str(io.b)),
                            r"either SET_A SET_B or --manifest"),
    "manifest without its groups": (lambda io: ["describe", "--manifest", str(io.manifest(io.rows()))],
                                    r"--manifest also needs --group-col, --group-a, --group-b"),
    "save to no findings store": (lambda io: ["verify", "darker", str(io.a), str(io.b), "--save",
                                              "--findings-store", "none"], r"--save needs a findings store"),
}


@pytest.mark.parametrize("kind", sorted(REFUSED))
def test_bad_input_is_named_before_any_image_is_scored(kind, inputs, scored, capsys, monkeypatch):
    monkeypatch.chdir(inputs.root)  # a default --out lands here, if anywhere
    build, message = REFUSED[kind]
    argv = build(inputs)
    code, out, err = _run(argv, capsys)
    assert code == 2, (out, err)
    assert scored == [], "an image was scored before the bad input was named"
    assert "Traceback" not in err and "allow_pickle" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("tellapart") and "error: " in last, err  # one line: 'tellapart ...: error: ...'
    assert __import__("re").search(message, last), last
    assert not list(inputs.root.rglob(".tellapart-*"))  # no write test or scratch folder is left behind


# --- the corpus: inputs a run carries on through, saying what it did --------------------------------------


def _json(path: Path) -> dict:
    return json.loads(path.read_text())


def test_damaged_cache_is_moved_aside_and_the_run_carries_on(inputs, capsys):
    """2. Random bytes for a cache file: kept under a new name (said where), a fresh cache, a normal run."""
    cache = inputs.root / "cache"
    cache.mkdir()
    (cache / "scores.sqlite3").write_bytes(np.random.default_rng(0).bytes(5000))
    for attempt in range(2):  # and the next run is a normal run
        code, out, err = _run(_describe(inputs, "--cache-dir", str(cache)), capsys)
        assert code == 0 and "Traceback" not in err
        kept = sorted(cache.glob("scores.sqlite3.damaged-*"))
        assert len(kept) == 1 and kept[0].read_bytes()[:16] != b"SQLite format 3\x00"
        assert ("was damaged" in err and str(kept[0]) in err) == (attempt == 0), err
    with sqlite3.connect(cache / "scores.sqlite3") as db:
        assert db.execute("SELECT COUNT(*) FROM scores").fetchone()[0] > 0


def test_cache_damaged_inside_is_moved_aside_mid_run(tmp_path):
    """2. A cache whose header reads well but whose pages are damaged fails on a query: moved aside too."""
    cache = ScoreCache(tmp_path)
    ids = [f"c{i}" for i in range(100)]
    cache.put([(f"k{i}", np.ones(100)) for i in range(3000)], "s", "v", ids)
    cache.close()
    with sqlite3.connect(tmp_path / "scores.sqlite3") as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    path = tmp_path / "scores.sqlite3"
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.seek(8192)
        handle.write(np.random.default_rng(1).bytes(size - 8192 - 4096))
    with pytest.warns(CacheRecovered, match="moved it to"):
        reopened = ScoreCache(tmp_path)
        assert reopened.get([f"k{i}" for i in range(3000)], "s", "v", ids) == {}
    reopened.put([("new", np.zeros(100))], "s", "v", ids)
    assert list(reopened.get(["new"], "s", "v", ids)) == ["new"]
    reopened.close()
    kept = {p.name.rsplit("-", 1)[-1] for p in tmp_path.glob("scores.sqlite3.damaged-*")}
    assert len(kept) == 3 and {"wal", "shm"} < kept  # the file, and its WAL and index, kept together


def test_ctrl_c_while_loading_exits_130_without_a_traceback(monkeypatch, capsys):
    """3. The console command catches Ctrl-C during its imports (before main's handler exists)."""
    import _tellapart_entry

    real_import = builtins.__import__

    def interrupted(name, *args, **kwargs):
        if name == "tellapart.cli":
            raise KeyboardInterrupt
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", interrupted)
    assert _tellapart_entry.main() == 130
    assert "interrupted" in capsys.readouterr().err


def test_the_console_command_is_the_guarded_entry_point():
    from importlib.metadata import entry_points

    (command,) = entry_points(group="console_scripts", name="tellapart")
    assert command.value == "_tellapart_entry:main"


@pytest.mark.parametrize("delay", [0.1, 0.4, 0.8])
def test_ctrl_c_at_any_moment_of_the_start_prints_no_traceback(delay, inputs):
    """3. A real SIGINT while the command starts: exit 130 (or killed by the signal before Python handles
    it), never a traceback."""
    # SIGINT handled as in a terminal: a test run started in the background (nohup, `cmd &`) passes SIGINT
    # ignored to its children, and Python then never turns it into KeyboardInterrupt.
    start = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
             "import _tellapart_entry; sys.exit(_tellapart_entry.main())")
    command = [sys.executable, "-c", start, *_describe(inputs, "--no-cache")]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode in (130, -signal.SIGINT), err
    assert "Traceback" not in err


def test_path_listed_twice_in_a_manifest_counts_once(inputs, capsys):
    """4. The same path twice in one group: counted once, and said."""
    rows = inputs.rows()
    manifest = inputs.manifest(rows + rows[:4])
    target = inputs.root / "r.json"
    code, out, err = _run(_from_manifest(inputs, manifest, "--json", str(target)), capsys)
    assert code == 0, err
    data = _json(target)
    assert (data["n_a"], data["n_b"]) == (N, N)
    repeats = [s for s in data["skipped"] if "listed more than once" in s["reason"]]
    assert len(repeats) == 4 and {s["set"] for s in repeats} == {"a"}
    assert "4 files counted once (repeats)" in out


def test_link_and_copy_of_an_image_in_the_same_set_count_once(inputs, capsys):
    """5. A symbolic link and a byte-identical copy of images already in the set: counted once each."""
    (inputs.a / "link.png").symlink_to(inputs.a / "00.png")
    (inputs.a / "copy.png").write_bytes((inputs.a / "01.png").read_bytes())
    (inputs.b / "also-in-a.png").write_bytes((inputs.a / "02.png").read_bytes())  # across sets: kept, said
    target = inputs.root / "r.json"
    code, out, err = _run(_describe(inputs, "--json", str(target)), capsys)
    assert code == 0, err
    data = _json(target)
    assert (data["n_a"], data["n_b"]) == (N, N + 1)
    merged = {Path(s["source"]).name: s["reason"] for s in data["skipped"]}
    assert merged.keys() == {"link.png", "copy.png"}
    assert "same picture as" in merged["copy.png"] and "01.png" in merged["copy.png"]
    assert [Path(d["source_b"]).name for d in data["duplicates"]] == ["also-in-a.png"]
    assert "2 files counted once (repeats)" in out and "1 image is in both sets" in out


def test_api_counts_a_picture_once_per_set(pool):
    """5. The Python API too: the same in-memory picture twice in one set is counted once."""
    a = [*pool[:N], pool[0]]
    result = tellapart.describe(a, pool[N:2 * N], library=ConceptLibrary([ImageStatsSource()]),
                                describer=None, use_cache=False, progress=False)
    assert (result.n_a, result.n_b) == (N, N)
    assert list(result.skipped["source"]) == [f"<memory:A{N}>"]


def test_library_keeps_repeats_unless_asked_to_count_once(pool):
    """5. ``score_sets`` keeps every file's row (training and the bench count what they list); with
    ``once_per_set`` a repeat gives no row and is listed with the image it repeats, the other rows
    unchanged."""
    library = ConceptLibrary([ImageStatsSource()])
    sets = {"a": ImageSet.from_spec([pool[0], pool[1], pool[0]], name="a"),
            "b": ImageSet.from_spec([pool[0], pool[2]], name="b")}
    every = library.score_sets(sets)
    once = library.score_sets(sets, once_per_set=True)
    assert list(every.images["set"]) == ["a", "a", "a", "b", "b"]
    assert every.skipped.empty
    kept = [0, 1, 3, 4]  # the picture in both sets stays in both
    pd.testing.assert_frame_equal(once.scores, every.scores.iloc[kept].reset_index(drop=True))
    pd.testing.assert_frame_equal(once.images, every.images.iloc[kept].reset_index(drop=True))
    assert list(once.skipped["source"]) == ["<memory:2>"]
    assert once.skipped["reason"][0] == repeat_reason("<memory:2>", "<memory:0>")


def test_a_repeats_degraded_note_goes_with_it(pool, tmp_path):
    """5. A copy of an image decoded in a degraded form (an EXIF orientation out of range) is counted once:
    the note stays with the image kept, and is not listed for the copy."""
    exif = Image.Exif()
    exif[0x0112] = 9  # "Orientation": not one of 1-8
    folder = tmp_path / "a"
    folder.mkdir()
    Image.fromarray(pool[0]).save(folder / "0.jpg", exif=exif)
    (folder / "1.jpg").write_bytes((folder / "0.jpg").read_bytes())
    Image.fromarray(pool[1]).save(folder / "2.jpg")
    library = ConceptLibrary([ImageStatsSource()])
    every = library.score_sets({"a": ImageSet.from_spec(folder, name="a")})
    once = library.score_sets({"a": ImageSet.from_spec(folder, name="a")}, once_per_set=True)
    assert [Path(f).name for f in every.degraded["source"]] == ["0.jpg", "1.jpg"]
    assert [Path(f).name for f in once.degraded["source"]] == ["0.jpg"]
    assert "EXIF" in once.degraded["what"][0]
    assert [Path(f).name for f in once.skipped["source"]] == ["1.jpg"]


def test_unreadable_file_among_others_leaves_every_row_its_own_scores(library, pool, tmp_path, monkeypatch):
    """1. An unreadable file in the middle of a set gives no row; the rows after it keep their own scores,
    embeddings and learned detectors' scores (computed a slice at a time: 2 rows here)."""
    import tellapart.concepts.library as library_module

    folder = tmp_path / "a"
    folder.mkdir()
    for i in range(5):
        Image.fromarray(pool[i]).save(folder / f"{i}.png")
    (folder / "2.png").write_bytes(b"not an image")
    monkeypatch.setattr(library_module, "DERIVED_ROWS", 2)
    table = library.score_sets({"a": ImageSet.from_spec(folder, name="a")})
    assert [Path(f).name for f in table.images["source"]] == ["0.png", "1.png", "3.png", "4.png"]
    assert [Path(f).name for f in table.skipped["source"]] == ["2.png"]
    alone = library.score_sets({"a": ImageSet.from_spec([pool[i] for i in (0, 1, 3, 4)], name="a")})
    pd.testing.assert_frame_equal(table.scores, alone.scores)
    np.testing.assert_array_equal(table.embeddings, alone.embeddings)
    learned = [c.id for c in library.learned.concepts]
    np.testing.assert_array_equal(
        table.scores[learned].to_numpy(),
        library.learned.score_embeddings(library.backbone_embeddings(table.embeddings)))


def test_hidden_files_and_folders_are_listed_as_skipped(inputs, capsys):
    """6. .name files and folders are not read, and the run says so."""
    (inputs.a / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (inputs.a / ".thumbnails").mkdir()
    (inputs.a / ".thumbnails" / "00.png").write_bytes((inputs.a / "00.png").read_bytes())
    target = inputs.root / "r.json"
    code, out, err = _run(_describe(inputs, "--json", str(target)), capsys)
    assert code == 0, err
    skipped = {Path(s["source"]).name: s["reason"] for s in _json(target)["skipped"]}
    assert skipped == {".DS_Store": HIDDEN_FILE, ".thumbnails": HIDDEN_FOLDER}
    assert "2 files skipped (2 hidden)" in out


def test_api_checks_every_option_before_scoring(pool, scored):
    """7, 11. The Python API names a bad option, and its rule, before any image is scored."""
    library = ConceptLibrary([ImageStatsSource()])
    bad = [(tellapart.describe, {"seed": -1}, r"seed must be a whole number of at least 0, got -1"),
           (tellapart.describe, {"max_hypotheses": 0}, r"max_hypotheses must be .* at least 1"),
           (tellapart.describe, {"alpha": 1.0}, r"alpha must be a number between 0 and 1"),
           (tellapart.describe, {"correction": "none"}, r"correction must be one of bh, holm"),
           (tellapart.verify, {"top_k": 0}, r"top_k must be a whole number of at least 1")]
    for function, option, message in bad:
        sets = (pool[:N], pool[N:2 * N])
        args = ("darker", *sets) if function is tellapart.verify else sets
        with pytest.raises(ValueError, match=message):
            function(*args, library=library, use_cache=False, progress=False, **option)
    assert scored == []


def test_json_into_a_missing_folder_is_created_before_the_run(inputs, capsys):
    """10. Missing folders on the way to --json are created (as for --out), at the start."""
    target = inputs.root / "new" / "deeper" / "r.json"
    code, out, err = _run(_describe(inputs, "--json", str(target)), capsys)
    assert code == 0, err
    assert _json(target)["n_a"] == N


def test_a_run_that_stops_early_leaves_no_empty_folder(inputs, capsys):
    """10. Output folders are made at the start, and taken back when the run stops before writing to them."""
    argv = ["describe", str(inputs.root / "gone"), str(inputs.b), "--out", str(inputs.root / "new" / "out"),
            "--json", str(inputs.root / "new2" / "r.json"), "--cache-dir", str(inputs.root / "new3")]
    code, out, err = _run(argv, capsys)
    assert code == 2 and "no such file or folder" in err
    assert not any((inputs.root / name).exists() for name in ("new", "new2", "new3"))


def test_write_error_names_the_target_not_a_temporary_file(tmp_path, monkeypatch):
    """10. A failed atomic write names the file asked for."""
    import tempfile

    from tellapart.io.atomic import write_atomic

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / ".x.json.abc.tmp"))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(PermissionError) as caught:
        write_atomic(tmp_path / "x.json", "{}")
    assert caught.value.filename == str(tmp_path / "x.json")


# 12. Names that would drive a terminal: an escape sequence, a title change, a forged line, a bidi override,
# a byte that is not UTF-8.
EVIL_NAMES = ["x\x1b[31mred\x1b[0m.png", "t\x1b]0;owned\x07.png", "forged\ntellapart: all clear.png",
              "\u202egnp.exe.png"]


def _evil_files(folder: Path) -> None:
    """Unreadable files (so they are listed) under names that would drive a terminal."""
    for i, name in enumerate(EVIL_NAMES):
        (folder / name).write_bytes((folder / f"{i:02d}.png").read_bytes()[:40])
    (folder / os.fsdecode(b"bad\xff.txt")).write_bytes(b"notes")


def _assert_escaped(terminal: str, *shown: str) -> None:
    assert not any(ch in terminal for ch in "\x1b\x07\u202e\udcff")
    assert not any(line.startswith("tellapart: all clear") for line in terminal.splitlines())
    for text in shown:
        assert text in terminal, text


def test_control_characters_in_names_are_escaped_in_the_terminal(inputs, capsys):
    """12. The terminal table lists skipped files with their names escaped."""
    _evil_files(inputs.a)
    code, out, err = _run(_describe(inputs), capsys)
    assert code == 0, err
    _assert_escaped(out + err, "bad\\udcff.txt", "forged\\ntellapart: all clear.png", "t\\x1b]0;owned\\x07")


def test_control_characters_in_the_too_few_images_error_are_escaped(inputs, capsys):
    """12. The error that lists every skipped file escapes their names too."""
    for path in sorted(inputs.a.glob("*.png"))[9:]:
        path.unlink()
    _evil_files(inputs.a)
    code, out, err = _run(_describe(inputs), capsys)
    assert code == 2 and "has 9 readable images" in err
    _assert_escaped(out + err, "x\\x1b[31mred\\x1b[0m.png", "\\u202egnp.exe.png", "bad\\udcff.txt")


def test_an_image_whose_name_is_not_utf8_is_used(inputs, capsys):
    """12. A file name with bytes that are not UTF-8 (no table, JSON or HTML can hold them raw): the image is
    read through its real name and shown with the bytes escaped."""
    Image.fromarray(np.full((48, 48, 3), 7, np.uint8)).save(inputs.a / os.fsdecode(b"img\xfe.png"))
    target = inputs.root / "r.json"
    code, out, err = _run(_describe(inputs, "--json", str(target)), capsys)
    assert code == 0, err
    data = _json(target)
    assert data["n_a"] == N + 1 and data["skipped"] == []
    result = tellapart.describe(inputs.a, inputs.b, library=ConceptLibrary([ImageStatsSource()]),
                                describer=None, use_cache=False, progress=False)
    (source,) = [s for s in result.images["source"] if s.endswith("img\\udcfe.png")]
    assert result.load_image(source) is not None


def test_control_characters_in_an_error_are_escaped(inputs, capsys):
    missing = str(inputs.root / "no\x1b]0;owned\x07such\nforged")
    code, out, err = _run(["describe", missing, str(inputs.b), "--out", str(inputs.root / "o")], capsys)
    assert code == 2
    assert "\x1b" not in err and err.count("\n") == 1 and "\\x1b]0;owned\\x07such\\nforged" in err


def test_printable_keeps_unicode_and_escapes_controls():
    assert printable("集合 B/ñandú café.png") == "集合 B/ñandú café.png"
    assert printable("a\x1b[2Jb\nc\u202e") == "a\\x1b[2Jb\\nc\\u202e"
    assert printable("two\nlines\x07", keep_newlines=True) == "two\nlines\\x07"


def test_confine_keeps_manifest_paths_inside_its_folder(inputs, capsys, tmp_path):
    """13. ../ and absolute paths, and links out of the folder, are used without --confine, skipped with."""
    outside = _folder(tmp_path / "elsewhere", _images(3, marked=True)[:3])
    project = inputs.root
    (project / "a" / "link-out.png").symlink_to(outside / "02.png")
    rows = inputs.rows() + [{"path": "../elsewhere/00.png", "g": "x"},
                            {"path": str(outside / "01.png"), "g": "x"},
                            {"path": "a/link-out.png", "g": "x"}]
    manifest = inputs.manifest(rows)
    counts = {}
    for confine in (False, True):
        target = project / f"r{confine}.json"
        extra = ["--json", str(target)] + (["--confine"] if confine else [])
        code, out, err = _run(_from_manifest(inputs, manifest, *extra), capsys)
        assert code == 0, err
        data = _json(target)
        counts[confine] = data["n_a"]
        outside_reasons = [s["reason"] for s in data["skipped"] if s["reason"] == OUTSIDE_MANIFEST_FOLDER]
        assert len(outside_reasons) == (3 if confine else 0)
    assert counts == {False: N + 3, True: N}
    confined = ImageSet.from_manifest(manifest, "g", "x", confine=True)  # the Python API's spelling
    assert confined.skipped[0].reason == OUTSIDE_MANIFEST_FOLDER


# --- side effects: nothing written outside --out and the cache -------------------------------------------


@pytest.mark.slow  # a fresh interpreter loads the bundled models: 7-8 s on 2 idle cores
@pytest.mark.parametrize("use_cache", [True, False])
def test_nothing_is_written_outside_out_and_the_cache(use_cache, inputs, tmp_path):
    """matplotlib's config and font cache and temporary files stay inside the cache (or --out): a fresh
    HOME and TMPDIR stay empty, and no scratch folder is left behind."""
    home, tmp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir(), tmp.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("MPLCONFIGDIR", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "TELLAPART_CACHE_DIR")}
    env.update(HOME=str(home), TMPDIR=str(tmp), OMP_NUM_THREADS="1")
    out, cache = inputs.root / "out", inputs.root / "cache"
    caching = ["--cache-dir", str(cache)] if use_cache else ["--no-cache"]
    command = [sys.executable, "-m", "tellapart.cli", *_describe(inputs, *caching), "--detectors", "none",
               "--describer", "none", "--findings-store", "none"]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert list(home.rglob("*")) == [] and list(tmp.rglob("*")) == []
    assert (out / "report.html").is_file()
    assert not list(inputs.root.rglob(".tellapart-*"))
    assert (cache / "matplotlib").is_dir() == use_cache
