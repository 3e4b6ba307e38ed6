"""DICOM files and NIfTI volumes: real files that ship with pydicom and nibabel, and files written with the
libraries' own writers (16-bit with rescale, MONOCHROME1, multi-frame, compressed, volumes from numpy)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import JPEG2000Lossless, RLELossless

import tellapart
from tellapart.cli import main
from tellapart.concepts.image_stats import ImageStatsSource
from tellapart.concepts.library import ConceptLibrary
from tellapart.io import ImageSet, UnreadableImage
from tellapart.io.volume import slice_indices
from tellapart.io.window import DEFAULT_PERCENTILES

NIBABEL_DATA = Path(nibabel.__file__).parent / "tests" / "data"


def _frames(path: Path | str):
    return ImageSet.from_spec(path).refs[0].load().decode_frames()


def _grey(frame) -> np.ndarray:
    pixels = frame.pixels
    assert pixels.dtype == np.uint8 and pixels.ndim == 3 and pixels.shape[2] == 3
    assert np.array_equal(pixels[:, :, 0], pixels[:, :, 2])
    return pixels[:, :, 0].astype(int)


def _dicom(path: Path, values: np.ndarray, photometric: str = "MONOCHROME2", **elements) -> Path:
    """Write ``values`` (rows x columns, or frames x rows x columns) as a DICOM file with pydicom's writer."""
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    for name in ("WindowCenter", "WindowWidth", "RescaleSlope", "RescaleIntercept"):
        if name in ds:
            delattr(ds, name)
    ds.set_pixel_data(values, photometric, 16)
    for name, value in elements.items():
        setattr(ds, name, value)
    ds.save_as(path, enforce_file_format=True)
    return path


def _expected_linear(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """PS3.3 C.11.2.1.2.1, LINEAR, scaled to 0..255."""
    unit = np.clip((values - (center - 0.5)) / (width - 1) + 0.5, 0, 1)
    return np.rint(unit * 255).astype(int)


# --- DICOM ------------------------------------------------------------------------------------------------


def test_ct_without_window_gets_the_percentile_window():
    (frame,) = _frames(get_testdata_file("CT_small.dcm"))
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    low, high = np.percentile(hu, DEFAULT_PERCENTILES)
    expected = np.rint(np.clip((hu - low) / (high - low), 0, 1) * 255).astype(int)
    assert frame.format == "DICOM" and frame.original_size == (128, 128)
    assert np.abs(_grey(frame) - expected).max() <= 1


def test_mr_uses_the_files_window():
    (frame,) = _frames(get_testdata_file("MR_small.dcm"))
    ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    expected = _expected_linear(ds.pixel_array.astype(float), float(ds.WindowCenter), float(ds.WindowWidth))
    assert np.abs(_grey(frame) - expected).max() <= 1


def test_16_bit_rescale_and_window(tmp_path):
    stored = np.tile(np.arange(0, 4000, 50, dtype=np.uint16), (16, 1))  # 16 x 80, up to 3950
    path = _dicom(tmp_path / "ct.dcm", stored, RescaleSlope=2, RescaleIntercept=-1024,
                  WindowCenter=40, WindowWidth=400)
    (frame,) = _frames(path)
    hu = stored * 2.0 - 1024
    assert np.abs(_grey(frame) - _expected_linear(hu, 40, 400)).max() <= 1
    assert _grey(frame)[0, 0] == 0 and _grey(frame)[0, -1] == 255  # air black, bone white


def test_monochrome1_is_inverted(tmp_path):
    values = pydicom.dcmread(get_testdata_file("CT_small.dcm")).pixel_array.astype(np.uint16)
    m2 = _dicom(tmp_path / "m2.dcm", values, WindowCenter=1000, WindowWidth=800)
    m1 = _dicom(tmp_path / "m1.dcm", values, "MONOCHROME1", WindowCenter=1000, WindowWidth=800)
    assert np.array_equal(_grey(_frames(m1)[0]), 255 - _grey(_frames(m2)[0]))


def test_multi_frame_is_one_sample_from_five_frames(tmp_path):
    frames = np.stack([np.full((12, 10), 100 * i, np.uint16) for i in range(20)])
    frames[:, 0, 0] = 0  # a dark corner, so every frame has a range
    path = _dicom(tmp_path / "cine.dcm", frames)
    decoded = _frames(path)
    assert slice_indices(20) == [4, 7, 10, 12, 15]
    assert len(decoded) == 5 and len({f.key for f in decoded}) == 5
    levels = [int(np.median(_grey(f))) for f in decoded]
    assert levels == sorted(levels) and levels[0] < levels[-1]
    assert ImageSet.from_spec(path).refs[0].load().decode().key == decoded[2].key  # the middle one shows it


def test_real_multi_frame_files():
    assert len(_frames(get_testdata_file("rtdose.dcm"))) == 5  # 15 frames of dose
    assert len(_frames(get_testdata_file("SC_rgb_rle_2frame.dcm"))) == 2
    ybr = _frames(get_testdata_file("examples_ybr_color.dcm"))  # 30 frames, JPEG, YBR colour
    assert len(ybr) == 5 and ybr[0].pixels.shape == (240, 320, 3)


@pytest.mark.parametrize("syntax", [RLELossless, JPEG2000Lossless])
def test_compressed_files_decode_like_the_uncompressed_one(tmp_path, syntax):
    ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    plain = tmp_path / "plain.dcm"
    ds.save_as(plain)
    ds.compress(syntax)
    packed = tmp_path / "packed.dcm"
    ds.save_as(packed)
    assert np.array_equal(_frames(packed)[0].pixels, _frames(plain)[0].pixels)


def test_real_compressed_and_colour_files():
    lossless = _frames(get_testdata_file("MR_small_jpeg_ls_lossless.dcm"))[0].pixels
    assert np.array_equal(lossless, _frames(get_testdata_file("MR_small.dcm"))[0].pixels)
    rgb16 = _frames(get_testdata_file("SC_rgb_rle_16bit.dcm"))[0].pixels
    assert np.array_equal(rgb16, _frames(get_testdata_file("SC_rgb_rle.dcm"))[0].pixels)
    palette = _frames(get_testdata_file("examples_palette.dcm"))[0].pixels
    assert palette.shape == (350, 800, 3) and not np.array_equal(palette[:, :, 0], palette[:, :, 2])


def test_dicom_is_found_by_its_preamble_not_its_name(tmp_path):
    shutil.copy(get_testdata_file("CT_small.dcm"), tmp_path / "1.2.840.113619.2.55.3")
    shutil.copy(get_testdata_file("MR_small.dcm"), tmp_path / "IM0001")
    (tmp_path / "notes").write_bytes(b"not a scan")
    image_set = ImageSet.from_spec(tmp_path)
    assert sorted(Path(r.source).name for r in image_set.refs) == ["1.2.840.113619.2.55.3", "IM0001"]
    assert [Path(s.source).name for s in image_set.skipped] == ["notes"]
    assert all(r.load().decode().format == "DICOM" for r in image_set.refs)


UNREADABLE = {
    "rtplan.dcm": "without pixel data",
    "no_meta.dcm": "without the DICM preamble",
    "MR_truncated.dcm": "pixel data cannot be decoded",
    "JPEG-lossy.dcm": "pixel data cannot be decoded",
    "meta_missing_tsyntax.dcm": "without a transfer syntax",
}


@pytest.mark.parametrize(("name", "reason"), UNREADABLE.items())
def test_unreadable_dicom_says_why(name, reason):
    with pytest.raises(UnreadableImage, match=reason):
        _frames(get_testdata_file(name))


def test_unsupported_transfer_syntax_says_so(tmp_path):
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2 video
    ds.PixelData = pydicom.encaps.encapsulate([ds.PixelData])
    path = tmp_path / "video.dcm"
    ds.save_as(path)
    with pytest.raises(UnreadableImage, match="unsupported DICOM transfer syntax: MPEG2"):
        _frames(path)


def test_missing_decoder_says_what_to_install():
    """In a Python where pylibjpeg and gdcm cannot be imported (as when they are not installed), a JPEG-LS
    file is skipped with the install command; an uncompressed one still reads."""
    code = (
        "import sys\n"
        "for name in ('pylibjpeg', 'libjpeg', 'openjpeg', 'rle', 'gdcm'): sys.modules[name] = None\n"
        "from pydicom.data import get_testdata_file\n"
        "from tellapart.io import ImageSet, UnreadableImage\n"
        "assert ImageSet.from_spec(get_testdata_file('MR_small.dcm')).refs[0].load().decode_frames()\n"
        "try:\n"
        "    ImageSet.from_spec(get_testdata_file('MR_small_jpeg_ls_lossless.dcm')).refs[0].load().decode()\n"
        "except UnreadableImage as error:\n"
        "    print(error.reason)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "JPEG-LS Lossless" in done.stdout and "whose decoder is not installed" in done.stdout
    assert "pip install 'tellapart[medical]'" in done.stdout


# --- NIfTI ------------------------------------------------------------------------------------------------


def _nifti(path: Path, volume: np.ndarray, affine: np.ndarray | None = None) -> Path:
    nibabel.save(nibabel.Nifti1Image(volume, np.eye(4) if affine is None else affine), path)
    return path


def test_real_nifti_files():
    assert len(_frames(NIBABEL_DATA / "anatomical.nii")) == 5
    series = _frames(NIBABEL_DATA / "example4d.nii.gz")  # 4-D: its first volume
    assert len(series) == 5 and series[0].format == "NIfTI"
    assert len(_frames(NIBABEL_DATA / "example_nifti2.nii.gz")) == 5


@pytest.mark.parametrize("flipped", [False, True])
def test_nifti_slices_are_axial_in_canonical_order(tmp_path, flipped):
    """Slice k has value k (feet to head); stored head-first (a flipped affine) it reads the same."""
    volume = np.zeros((8, 6, 30), np.float32) + np.arange(30, dtype=np.float32)
    volume[:, 3:, :] += 100  # the front (y > 0 in RAS) is brighter
    affine = np.eye(4)
    if flipped:
        volume, affine = volume[:, :, ::-1].copy(), np.diag([1.0, 1.0, -1.0, 1.0])
    frames = _frames(_nifti(tmp_path / "v.nii.gz", volume, affine))
    assert len(frames) == 5 and frames[0].original_size == (8, 6)  # columns x, rows y
    means = [_grey(f).mean() for f in frames]
    assert means == sorted(means) and means[0] < means[-1]
    top, bottom = _grey(frames[2])[:3], _grey(frames[2])[3:]
    assert top.mean() > bottom.mean()  # the front of the head at the top


def test_damaged_nifti_says_why(tmp_path):
    path = _nifti(tmp_path / "v.nii", np.random.default_rng(0).random((8, 8, 8)).astype(np.float32))
    path.write_bytes(path.read_bytes()[:400])
    with pytest.raises(UnreadableImage, match="NIfTI"):
        _frames(path)


def test_flat_and_empty_nifti(tmp_path):
    plane = np.random.default_rng(0).random((20, 30)).astype(np.float32)
    flat = _frames(_nifti(tmp_path / "flat.nii", plane))
    assert len(flat) == 1 and flat[0].pixels.shape == (30, 20, 3)
    with pytest.raises(UnreadableImage, match="no finite values"):
        _frames(_nifti(tmp_path / "nan.nii", np.full((6, 6, 6), np.nan, np.float32)))


def test_cut_or_damaged_files_are_unreadable_never_an_error():
    """Every prefix of real DICOM and NIfTI files, and copies with bytes overwritten, give UnreadableImage
    (or decode): nothing else escapes, so one bad file never stops a run."""
    from tellapart.io.frames import read_frames

    rng = np.random.default_rng(0)
    files = [get_testdata_file(n) for n in ("CT_small.dcm", "rtdose.dcm", "MR_small_jp2klossless.dcm")]
    for path in [*files, NIBABEL_DATA / "example4d.nii.gz", NIBABEL_DATA / "anatomical.nii"]:
        data = Path(path).read_bytes()
        for cut in range(132, len(data), max(1, len(data) // 25)):
            damaged = bytearray(data)
            for where in rng.integers(132, len(data), 5):
                damaged[where] = int(rng.integers(0, 256))
            for variant in (data[:cut], bytes(damaged)):
                try:
                    read_frames(variant, str(path), "k")
                except UnreadableImage:
                    pass


# --- one row per sample -----------------------------------------------------------------------------------


def _volumes(folder: Path, n: int, seed: int, lesion: bool = False) -> Path:
    """``n`` noise volumes, each with a bright ball at its centre when ``lesion``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    x, y, z = np.mgrid[:32, :32, :16]
    ball = (x - 16) ** 2 + (y - 16) ** 2 + ((z - 8) * 2) ** 2 < 8**2
    for i in range(n):
        volume = rng.normal(100, 20, (32, 32, 16)).astype(np.float32)
        if lesion:
            volume[ball] += 200
        _nifti(folder / f"subject{i:02d}.nii.gz", volume)
    return folder


def test_a_volume_is_one_row_the_mean_of_its_slices(tmp_path, count_scored):
    folder = _volumes(tmp_path / "vols", 4, seed=1)
    source = count_scored(ImageStatsSource())
    library = ConceptLibrary(sources=[source], learned=None)
    cache = tellapart.concepts.cache.ScoreCache(tmp_path / "cache")
    first = library.score_sets({"a": ImageSet.from_spec(folder)}, cache=cache)
    assert len(first.scores) == 4 and source.scored == 20  # 4 volumes x 5 slices
    ref = ImageSet.from_spec(folder).refs[0]
    per_slice = ImageStatsSource().score(list(ref.load().decode_frames()))
    assert np.allclose(first.scores.iloc[0].to_numpy(), np.nanmean(per_slice, axis=0), equal_nan=True)
    again = library.score_sets({"a": ImageSet.from_spec(folder)}, cache=cache)
    assert source.scored == 20  # the cache holds one row per volume: nothing decoded again
    assert np.allclose(again.scores.to_numpy(), first.scores.to_numpy(), equal_nan=True)


READABLE = [
    "CT_small.dcm", "MR_small.dcm", "MR_small_RLE.dcm", "rtdose.dcm", "SC_rgb_rle_2frame.dcm",
    "examples_ybr_color.dcm", "JPEG2000.dcm", "examples_palette.dcm", "image_dfl.dcm", "liver_1frame.dcm",
    "693_J2KI.dcm", "GDCMJ2K_TextGBR.dcm",
]  # grey and colour, 8/16/32-bit, multi-frame, uncompressed, RLE, JPEG, JPEG 2000


def _dicom_folder(folder: Path, unreadable: list[str]) -> Path:
    folder.mkdir(parents=True)
    for name in READABLE + unreadable:
        shutil.copy(get_testdata_file(name), folder / name)
    shutil.copy(get_testdata_file("CT_small.dcm"), folder / "IM0001")  # another CT: no name, same picture
    return folder


@pytest.mark.slow
def test_folders_of_volumes_and_dicom_files_through_describe(tmp_path, library, cache_dir):
    """N volumes are N samples; the skipped-file report names every DICOM file it could not read."""
    a = _volumes(tmp_path / "a", 12, seed=2)
    b = _volumes(tmp_path / "b", 12, seed=3, lesion=True)
    result = tellapart.describe(a, b, library=library, cache_dir=cache_dir, progress=False)
    assert (result.n_a, result.n_b) == (12, 12)
    assert result.load_pixels(str((a / "subject00.nii.gz").absolute())) is not None  # the middle slice
    assert not result.significant.empty  # the ball is seen

    dicom = _dicom_folder(tmp_path / "dicom", list(UNREADABLE))
    result = tellapart.describe(dicom, a, library=library, cache_dir=cache_dir, progress=False)
    assert (result.n_a, result.n_b) == (len(READABLE), 12)
    skipped = dict(zip(result.skipped["source"].map(lambda s: Path(s).name), result.skipped["reason"],
                       strict=True))
    assert set(skipped) == {*UNREADABLE, "IM0001"}
    for name, reason in UNREADABLE.items():
        assert reason in skipped[name]
    assert "same picture as" in skipped["IM0001"]


@pytest.mark.slow
def test_cli_describes_dicom_and_nifti_folders_with_no_extra_flags(tmp_path, cache_dir, monkeypatch):
    monkeypatch.setenv("TELLAPART_CACHE_DIR", cache_dir)
    volumes = _volumes(tmp_path / "a", 12, seed=2)
    dicom = _dicom_folder(tmp_path / "dicom", ["rtplan.dcm", "no_meta.dcm"])
    out = tmp_path / "out"
    assert main(["describe", str(dicom), str(volumes), "--out", str(out), "--quiet"]) == 0
    data = json.loads((out / "findings.json").read_text())
    assert (data["n_a"], data["n_b"]) == (len(READABLE), 12)
    assert (out / "report.html").is_file()
    reasons = {Path(row["source"]).name: row["reason"] for row in data["skipped"]}
    assert "without pixel data" in reasons["rtplan.dcm"] and "DICM preamble" in reasons["no_meta.dcm"]
