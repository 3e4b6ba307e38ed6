"""Subjects (``--subject-col``): the images of one patient or series are one sample, so they never straddle
the discovery/validation split and the tests count subjects, not correlated images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import tellapart
from tellapart.cli import main
from tellapart.concepts.image_stats import ImageStatsSource
from tellapart.concepts.library import ConceptLibrary
from tellapart.io import ImageSet

PER_SUBJECT = 3
SUBJECTS = 12  # per set


@pytest.fixture(scope="module")
def manifest(pool, tmp_path_factory) -> Path:
    """12 subjects per group, 3 images each (crops of the bundled photographs), and one row whose image is
    missing."""
    root = tmp_path_factory.mktemp("subjects")
    rows = []
    for index, crop in enumerate(pool[: 2 * SUBJECTS * PER_SUBJECT]):
        subject = index // PER_SUBJECT
        path = root / f"img{index:03d}.png"
        Image.fromarray(crop).save(path)
        rows.append({"path": path.name, "label": "a" if subject < SUBJECTS else "b",
                     "patient": f"P{subject:02d}"})
    rows.append({"path": "gone.png", "label": "a", "patient": "P00"})
    table = root / "images.csv"
    pd.DataFrame(rows).to_csv(table, index=False)
    return table


def _library() -> ConceptLibrary:
    return ConceptLibrary(sources=[ImageStatsSource()], learned=None)


def _sets(manifest: Path, subject_col: str | None) -> tuple[ImageSet, ImageSet]:
    return tuple(ImageSet.from_manifest(manifest, "label", value, subject_col=subject_col)  # type: ignore
                 for value in ("a", "b"))


def test_a_subject_is_one_sample_of_all_its_images(manifest):
    a, _ = _sets(manifest, "patient")
    assert len(a) == SUBJECTS
    first = a.refs[0]
    assert first.source == "label = a: patient = P00" and len(first.members) == PER_SUBJECT
    assert [Path(s.source).name for s in a.skipped] == ["gone.png"]
    frames = first.load().decode_frames()
    assert len(frames) == PER_SUBJECT


def test_a_subjects_row_is_the_mean_of_its_images(manifest):
    a, _ = _sets(manifest, "patient")
    library = _library()
    by_subject = library.score_sets({"a": a}).scores.to_numpy()
    by_image = library.score_sets({"a": ImageSet.from_manifest(manifest, "label", "a")}).scores.to_numpy()
    assert by_subject.shape[0] == SUBJECTS and by_image.shape[0] == SUBJECTS * PER_SUBJECT
    expected = np.nanmean(by_image.reshape(SUBJECTS, PER_SUBJECT, -1), axis=1)
    assert np.allclose(by_subject, expected, equal_nan=True, atol=1e-5)


def _split_by_subject(result: tellapart.Result, manifest: Path) -> dict[str, set[str]]:
    """patient -> the halves (discovery / validation) its images fell in."""
    table = pd.read_csv(manifest)
    patient_of = {str((manifest.parent / p).absolute()): s for p, s in zip(table["path"], table["patient"],
                                                                          strict=True)}
    sets = {ref.source: ref for s in result.sets.values() for ref in s.refs}
    halves: dict[str, set[str]] = {}
    for row in result.images.itertuples(index=False):
        ref = sets[row.source]
        for member in ref.members or (ref,):
            halves.setdefault(patient_of[member.source], set()).add(row.split)
    return halves


def test_a_subjects_images_never_straddle_the_split(manifest):
    """Without the subject column a subject's images land on both sides of the split (the held-out
    guarantee is false); with it, never."""
    for seed in range(3):
        kwargs = {"library": _library(), "describer": None, "use_cache": False, "progress": False,
                  "seed": seed, "design": "split"}  # the design with a discovery/validation split
        loose = tellapart.describe(*_sets(manifest, None), **kwargs)
        assert loose.n_a == SUBJECTS * PER_SUBJECT
        assert any(len(h) == 2 for h in _split_by_subject(loose, manifest).values())
        grouped = tellapart.describe(*_sets(manifest, "patient"), **kwargs)
        assert (grouped.n_a, grouped.n_b) == (SUBJECTS, SUBJECTS)
        halves = _split_by_subject(grouped, manifest)
        assert len(halves) == 2 * SUBJECTS and all(len(h) == 1 for h in halves.values())


def test_cli_subject_col(manifest, tmp_path, cache_dir, monkeypatch, capsys):
    monkeypatch.setenv("TELLAPART_CACHE_DIR", cache_dir)
    folder = str(manifest.parent)
    with pytest.raises(SystemExit) as stopped:
        main(["describe", folder, folder + "/", "--subject-col", "patient", "--out", str(tmp_path / "o1")])
    assert stopped.value.code == 2 and "--subject-col names a manifest column" in capsys.readouterr().err
    options = ["describe", "--manifest", str(manifest), "--group-col", "label", "--group-a", "a",
               "--group-b", "b", "--quiet"]
    assert main([*options, "--subject-col", "nope", "--out", str(tmp_path / "o2")]) == 2
    assert "no column 'nope'" in capsys.readouterr().err
    assert main([*options, "--subject-col", "patient", "--out", str(tmp_path / "o3"), "--detectors", "none",
                 "--describer", "none"]) == 0
    data = json.loads((tmp_path / "o3" / "findings.json").read_text())
    assert (data["n_a"], data["n_b"]) == (SUBJECTS, SUBJECTS)
