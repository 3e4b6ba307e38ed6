"""DICOM series stored one file per slice (``io.series``): one series is one sample, scored from the same
slices and windowed and averaged exactly like a multi-frame file or a volume. Real series that ship with
pydicom, and series written with pydicom's own writer."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.uid import RLELossless, generate_uid

import tellapart
from tellapart.concepts import library as library_module
from tellapart.concepts.cache import ScoreCache
from tellapart.concepts.image_stats import ImageStatsSource
from tellapart.concepts.library import ConceptLibrary
from tellapart.io import ImageSet, UnreadableImage
from tellapart.io.image import Notice
from tellapart.io.imageset import MAX_IMAGES_PER_SUBJECT
from tellapart.io.series import SliceHeader, order_slices
from tellapart.io.volume import slice_indices

DICOMDIR_TESTS = Path(pydicom.__file__).parent / "data" / "test_files" / "dicomdirtests"
# Real single-slice series in pydicom's test data: folder -> number of files (all one series each).
REAL_SERIES = {"98892001/CT5N": 5, "98892003/MR700": 7, "77654033/CT2": 4}
SLICES = 8


def _library(count_scored=None) -> ConceptLibrary:
    source = ImageStatsSource() if count_scored is None else count_scored(ImageStatsSource())
    return ConceptLibrary(sources=[source], learned=None)


def _quiet_set(spec, **kwargs) -> ImageSet:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Notice)
        return ImageSet.from_spec(spec, **kwargs)


def _slice_values(level: float, k: int, shape=(24, 20)) -> np.ndarray:
    """Slice ``k`` of a series: noise around ``level + 40 k`` with a dark corner, so its order shows."""
    rng = np.random.default_rng(int(level) * 100 + k)
    values = rng.normal(level + 40 * k, 10, shape).clip(0, 4000).astype(np.uint16)
    values[:3, :3] = 0
    return values


def _write_series(folder: Path, level: float, n: int = SLICES, seed: int = 0) -> tuple[str, list[Path]]:
    """Write an axial series of ``n`` single-slice files with pydicom's writer, named by random UIDs (so
    the name order is not the slice order); returns its Series Instance UID and the files in slice order."""
    folder.mkdir(parents=True, exist_ok=True)
    template = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    for name in ("WindowCenter", "WindowWidth", "RescaleSlope", "RescaleIntercept"):
        if name in template:
            delattr(template, name)
    series = generate_uid()
    rng = np.random.default_rng(seed)
    paths = []
    for k in range(n):
        ds = template.copy()
        ds.set_pixel_data(_slice_values(level, k), "MONOCHROME2", 16)
        ds.SeriesInstanceUID = series
        ds.SOPInstanceUID = generate_uid()
        ds.InstanceNumber = int(rng.integers(1, 1000))  # misleading on purpose: the position decides
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [0.0, 0.0, -50.0 + 2.5 * k]
        path = folder / f"{rng.integers(10**9)}"  # no extension, as scanners write them
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return series, paths


def _multi_frame(path: Path, level: float, n: int = SLICES) -> Path:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    for name in ("WindowCenter", "WindowWidth", "RescaleSlope", "RescaleIntercept"):
        if name in ds:
            delattr(ds, name)
    ds.set_pixel_data(np.stack([_slice_values(level, k) for k in range(n)]), "MONOCHROME2", 16)
    ds.save_as(path, enforce_file_format=True)
    return path


# --- grouping ---------------------------------------------------------------------------------------------


def test_real_series_are_one_sample_each(tmp_path):
    for folder in REAL_SERIES:
        shutil.copytree(DICOMDIR_TESTS / folder, tmp_path / folder.replace("/", "-"))
    n_files = sum(REAL_SERIES.values())
    with pytest.warns(Notice, match=f"{n_files} files read as 3 DICOM series"):
        image_set = ImageSet.from_spec(tmp_path)
    assert len(image_set) == 3 and all(ref.series for ref in image_set.refs)
    assert image_set.notes == [f"{n_files} files read as 3 DICOM series (one sample each, scored from at "
                               "most 5 slices through its middle, like a volume)"]
    sizes = sorted(len(ref.members) for ref in image_set.refs)
    assert sizes == sorted(REAL_SERIES.values())
    for ref in image_set.refs:
        loaded = ref.load()
        frames = loaded.decode_frames()
        assert len(frames) == len(slice_indices(len(ref.members))) and frames[0].format == "DICOM"
        assert not any(frame.notes for frame in frames)
        assert loaded.metadata()["Modality"] in ("CT", "MR")  # the header fields of its files
    # CT5N: slices ordered along the normal (z ascending), whatever the file names say.
    ct = next(ref for ref in image_set.refs if "CT5N" in ref.source)
    z = [float(pydicom.dcmread(m.path).ImagePositionPatient[2]) for m in ct.members]
    assert z == sorted(z) and len(set(z)) == 5


def test_slices_order_by_position_then_number_then_name():
    axial = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    by_position = [SliceHeader("s", str(i), (0.0, 0.0, z), axial, n) for i, (z, n) in
                   enumerate([(5.0, 1), (-5.0, 2), (0.0, 3)])]
    assert order_slices(by_position, ["a", "b", "c"]) == [1, 2, 0]
    by_number = [SliceHeader("s", str(i), None, None, n) for i, n in enumerate([3, 1, 2])]
    assert order_slices(by_number, ["a", "b", "c"]) == [1, 2, 0]
    by_name = [SliceHeader("s", str(i), None, None, None) for i in range(3)]
    assert order_slices(by_name, ["c", "a", "b"]) == [1, 2, 0]


def test_a_written_series_reads_exactly_like_the_same_multi_frame_file(tmp_path):
    _, paths = _write_series(tmp_path / "series", level=500)
    (ref,) = _quiet_set(tmp_path / "series").refs
    assert ref.series and [m.path for m in ref.members] == paths
    series_frames = ref.load().decode_frames()
    multi = _quiet_set(_multi_frame(tmp_path / "multi.dcm", level=500)).refs[0].load().decode_frames()
    assert len(series_frames) == len(multi) == len(slice_indices(SLICES))
    for mine, theirs in zip(series_frames, multi, strict=True):
        assert np.array_equal(mine.pixels, theirs.pixels)  # same slices, one window over them all
    means = [f.pixels.mean() for f in series_frames]
    assert means == sorted(means) and means[0] < means[-1]


def test_repeated_instances_are_counted_once_and_lone_instances_stay_single(tmp_path):
    _, paths = _write_series(tmp_path / "s", level=300)
    shutil.copy(paths[0], tmp_path / "s" / "copy-of-first")
    ds = pydicom.dcmread(paths[1])
    ds.compress(RLELossless, generate_instance_uid=False)
    ds.save_as(tmp_path / "s" / "second-as-rle")  # the same instance in another transfer syntax
    shutil.copy(get_testdata_file("MR_small.dcm"), tmp_path / "s" / "mr.dcm")  # pydicom's MR_small and
    shutil.copy(get_testdata_file("MR_small_RLE.dcm"), tmp_path / "s" / "mr_rle.dcm")  # its RLE: 1 instance
    image_set = _quiet_set(tmp_path / "s")
    assert sorted(Path(r.source).name for r in image_set.refs if not r.series) == ["mr.dcm", "mr_rle.dcm"]
    (series,) = [r for r in image_set.refs if r.series]
    assert len(series.members) == SLICES
    reasons = {Path(s.source).name: s.reason for s in image_set.skipped}
    assert set(reasons) == {"copy-of-first", "second-as-rle"}
    assert all("same DICOM instance" in r and r.endswith("counted once") for r in reasons.values())


def test_a_damaged_slice_is_left_out_and_said(tmp_path):
    _, paths = _write_series(tmp_path / "s", level=300)
    chosen = slice_indices(SLICES)
    damaged = paths[chosen[1]]
    damaged.write_bytes(damaged.read_bytes()[:-200])  # pixel data cut short
    image_set = _quiet_set(tmp_path / "s")
    (ref,) = image_set.refs
    loaded = ref.load()
    frames = loaded.decode_frames()
    assert len(frames) == len(chosen) - 1
    assert all(damaged.name in note and "scored without 1 of its 8 files" in note
               for frame in frames for note in frame.notes)
    assert [s.source for s in loaded.left_out] == [ref.members[chosen[1]].source]
    # In a run: the series is one degraded sample, and the damaged file is named among the skipped ones.
    table = _library().score_sets({"a": image_set})
    assert len(table.scores) == 1 and list(table.degraded["source"]) == [ref.source]
    (reason,) = table.skipped.loc[table.skipped["source"] == str(damaged), "reason"]
    assert "pixel data cannot be decoded" in reason and "left out of the DICOM series" in reason
    for path in paths:
        path.write_bytes(b"DICM")  # every file unreadable after listing
    with pytest.raises(UnreadableImage, match="none of the 5 chosen slices of the DICOM series"):
        ref.load().decode_frames()


# --- one row per series, through the library and describe -------------------------------------------------


def test_two_series_per_set_are_two_rows_each(tmp_path, count_scored):
    for k in range(2):
        _write_series(tmp_path / "a" / f"series{k}", level=300, seed=k)
        _write_series(tmp_path / "b" / f"series{k}", level=900, seed=10 + k)
    library = _library(count_scored)
    cache = ScoreCache(tmp_path / "cache")
    sets = {"a": _quiet_set(tmp_path / "a"), "b": _quiet_set(tmp_path / "b")}
    table = library.score_sets(sets, cache=cache)
    assert list(table.images["set"]) == ["a", "a", "b", "b"]  # 32 files, 4 samples
    source = library.sources[0]
    assert source.scored == 4 * len(slice_indices(SLICES))
    ref = sets["a"].refs[0]
    per_slice = ImageStatsSource().score(list(ref.load().decode_frames()))
    assert np.allclose(table.scores.iloc[0], np.nanmean(per_slice, axis=0), equal_nan=True, atol=1e-5)
    library.score_sets(sets, cache=cache)
    assert source.scored == 4 * len(slice_indices(SLICES))  # one cached row per series


def test_describe_counts_series_and_keeps_each_on_one_side(tmp_path):
    for k in range(10):
        _write_series(tmp_path / "a" / f"p{k:02d}", level=300, n=6, seed=k)
        _write_series(tmp_path / "b" / f"p{k:02d}", level=700, n=6, seed=100 + k)
    with pytest.warns(Notice, match="60 files read as 10 DICOM series"):
        result = tellapart.describe(tmp_path / "a", tmp_path / "b", library=_library(), describer=None,
                                    use_cache=False, progress=False, design="split")
    assert (result.n_a, result.n_b) == (10, 10)
    refs = {ref.source: ref for s in result.sets.values() for ref in s.refs}
    side: dict[Path, set[str]] = {}
    for row in result.images.itertuples(index=False):
        for member in refs[row.source].members:
            side.setdefault(member.path, set()).add(row.split)
    assert len(side) == 120 and all(len(halves) == 1 for halves in side.values())
    assert {h for halves in side.values() for h in halves} == {"discovery", "validation"}
    assert not result.significant.empty  # set B's slices are brighter


# --- subjects: two-step mean, cap; the cache key covers the aggregation rule ------------------------------


def test_a_subjects_row_is_the_mean_of_its_images_not_of_its_frames(tmp_path):
    """A subject of one 8-slice series and one photo: the series' 5 frames count as one image."""
    _write_series(tmp_path / "series", level=400)
    photo = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(photo)
    files = sorted(p.name for p in (tmp_path / "series").iterdir())
    rows = [{"path": f"series/{f}", "group": "a", "patient": "P1"} for f in files]
    rows.append({"path": "photo.png", "group": "a", "patient": "P1"})
    pd.DataFrame(rows).to_csv(tmp_path / "m.csv", index=False)
    with pytest.warns(Notice, match="8 files read as 1 DICOM series"):
        image_set = ImageSet.from_manifest(tmp_path / "m.csv", "group", "a", subject_col="patient")
    (subject,) = image_set.refs
    assert len(subject.members) == 2 and subject.members[0].series
    parts = subject.load().decode_parts()
    assert [len(p) for p in parts] == [5, 1]
    row = _library().score_sets({"a": image_set}).scores.iloc[0].to_numpy()
    source = ImageStatsSource()
    series_mean = np.nanmean(source.score(list(parts[0])), axis=0)
    photo_row = source.score(list(parts[1]))[0]
    assert np.allclose(row, np.nanmean([series_mean, photo_row], axis=0), equal_nan=True, atol=1e-5)


def test_a_subject_with_many_images_is_capped_and_says_so(tmp_path):
    n = MAX_IMAGES_PER_SUBJECT + 5
    rng = np.random.default_rng(1)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(tmp_path / f"{i}.png")
    pd.DataFrame({"path": [f"{i}.png" for i in range(n)], "g": "a", "s": "S"}).to_csv(tmp_path / "m.csv",
                                                                                     index=False)
    capped = f"1 subject has more than {MAX_IMAGES_PER_SUBJECT} images \\(up to {n}\\)"
    with pytest.warns(Notice, match=capped):
        image_set = ImageSet.from_manifest(tmp_path / "m.csv", "g", "a", subject_col="s")
    members = [Path(m.source).name for m in image_set.refs[0].members]
    assert len(members) == MAX_IMAGES_PER_SUBJECT and members[0] == "0.png" and members[-1] == f"{n - 1}.png"


def test_the_cache_key_of_aggregated_samples_covers_the_aggregation_rule(tmp_path, count_scored,
                                                                           monkeypatch):
    _write_series(tmp_path / "s", level=400)
    photo = tmp_path / "p" / "photo.png"
    photo.parent.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(photo)
    library = _library(count_scored)
    cache = ScoreCache(tmp_path / "cache")
    sets = {"a": _quiet_set(tmp_path / "s"), "b": _quiet_set(tmp_path / "p")}
    library.score_sets(sets, cache=cache)
    source = library.sources[0]
    assert source.scored == 5 + 1
    library.score_sets(sets, cache=cache)
    assert source.scored == 6  # warm
    monkeypatch.setattr(library_module, "_AGGREGATION_RULE", "another rule")
    library.score_sets(sets, cache=cache)
    assert source.scored == 6 + 5  # the series is scored again; the photo's row is not aggregated


def test_dicom_bytes_decoded_as_a_photo_say_how_to_read_them():
    from tellapart.io import decode_bytes

    with pytest.raises(UnreadableImage, match="read it through an image set") as raised:
        decode_bytes(Path(get_testdata_file("CT_small.dcm")).read_bytes(), "ct", "k")
    assert "export" not in raised.value.reason and "tellapart[medical]" in raised.value.reason
