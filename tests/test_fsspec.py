"""Image sets at fsspec URLs (tellapart.io.remote): real PNGs in fsspec's own ``memory://`` and ``file://``
filesystems, listed and read through the same ImageRef -> load -> decode path as files on disk."""

from __future__ import annotations

import importlib.util
import io
import os
import posixpath
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skimage.data
from PIL import Image

fsspec = pytest.importorskip("fsspec")
from fsspec.implementations.memory import MemoryFileSystem  # noqa: E402

import tellapart  # noqa: E402
from tellapart.concepts.image_stats import ImageStatsSource  # noqa: E402
from tellapart.concepts.library import ConceptLibrary  # noqa: E402
from tellapart.io import ImageSet, UnreadableImage  # noqa: E402
from tellapart.io.frames import sample_key  # noqa: E402
from tellapart.io.image import Notice  # noqa: E402
from tellapart.io.imageset import HIDDEN_FILE, HIDDEN_FOLDER  # noqa: E402
from tellapart.synth import darken  # noqa: E402

ASTRONAUT = skimage.data.astronaut()[:96, :128]
COFFEE = skimage.data.coffee()[:96, :128]
CAMERA = skimage.data.camera()[:96, :128]


def png(pixels: np.ndarray) -> bytes:
    """The PNG file of ``pixels``."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def jpeg(pixels: np.ndarray) -> bytes:
    """The JPEG file of ``pixels``."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


@pytest.fixture
def memory():
    """A fresh folder URL of fsspec's process-global memory filesystem, and a function that writes a file
    under it (relative name, bytes) and returns its URL; the folder is removed afterwards."""
    fs = fsspec.filesystem("memory")
    root = f"memory://tellapart-test-{uuid.uuid4().hex}"

    def put(name: str, data: bytes) -> str:
        url = f"{root}/{name}"
        fs.pipe(url, data)
        return url

    put.root = root  # type: ignore[attr-defined]
    put.fs = fs  # type: ignore[attr-defined]
    yield put
    if fs.exists(root):
        fs.rm(root, recursive=True)


def canonical(url: str) -> str:
    """The name fsspec gives ``url``'s file (``memory:///x/a.png`` for ``memory://x/a.png``)."""
    fs, path = fsspec.core.url_to_fs(url)
    return fs.unstrip_protocol(path)


def test_import_and_local_sets_do_not_import_fsspec(tmp_path):
    (tmp_path / "a.png").write_bytes(png(ASTRONAUT))
    code = textwrap.dedent(f"""
        import sys
        import tellapart
        from tellapart.io import ImageSet
        image_set = ImageSet.from_spec({str(tmp_path)!r})
        image_set.refs[0].load().decode()
        assert len(image_set) == 1
        print("fsspec" in sys.modules)
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "False"


def test_a_folder_url_lists_its_images_and_says_what_it_skips(memory):
    memory("set/a.png", png(ASTRONAUT))
    memory("set/nested/b.jpg", jpeg(COFFEE))
    memory("set/notes.txt", b"not an image")
    memory("set/.DS_Store", b"\0\0")
    memory("set/.thumbnails/c.png", png(CAMERA))
    image_set = ImageSet.from_spec(f"{memory.root}/set/")
    assert [ref.source for ref in image_set] == [canonical(f"{memory.root}/set/a.png"),
                                                  canonical(f"{memory.root}/set/nested/b.jpg")]
    assert image_set.name == "set"
    reasons = {Path(s.source).name: s.reason for s in image_set.skipped}
    assert reasons == {".DS_Store": HIDDEN_FILE, ".thumbnails": HIDDEN_FOLDER,
                       "notes.txt": "not an image file (.txt)"}
    decoded = image_set.refs[0].load().decode()
    np.testing.assert_array_equal(decoded.pixels, ASTRONAUT)
    assert decoded.source == image_set.refs[0].source


def test_a_url_image_has_the_key_of_the_same_bytes_on_disk(memory, tmp_path):
    data = jpeg(COFFEE)
    (tmp_path / "b.jpg").write_bytes(data)
    remote = ImageSet.from_spec(memory("b.jpg", data)).refs[0].load()
    local = ImageSet.from_spec(tmp_path / "b.jpg").refs[0].load()
    assert remote.key == local.key == sample_key(data)
    np.testing.assert_array_equal(remote.decode().pixels, local.decode().pixels)


def test_a_glob_url_matches_like_a_local_glob(memory):
    memory("g/a.png", png(ASTRONAUT))
    memory("g/b.png", png(COFFEE))
    memory("g/c.jpg", jpeg(CAMERA))
    memory("g/deep/d.png", png(CAMERA))
    memory("g/.hidden.png", png(CAMERA))
    flat = ImageSet.from_spec(f"{memory.root}/g/*.png")
    assert [Path(ref.source).name for ref in flat] == ["a.png", "b.png"]
    deep = ImageSet.from_spec(f"{memory.root}/g/**/*.png")
    assert [Path(ref.source).name for ref in deep] == ["a.png", "b.png", "d.png"]
    with pytest.raises(FileNotFoundError, match="no files match the pattern"):
        ImageSet.from_spec(f"{memory.root}/g/*.webp")


def test_a_list_of_urls_keeps_its_order_and_skips_missing_files(memory):
    first = memory("l/x/2.png", png(COFFEE))
    second = memory("l/y/1.png", png(ASTRONAUT))
    memory("l/z/3.png", png(CAMERA))
    missing = f"{memory.root}/l/x/gone.png"
    image_set = ImageSet.from_spec([first, missing, second, f"{memory.root}/l/z"])
    assert [ref.source for ref in image_set] == [canonical(first), canonical(second),
                                                  canonical(f"{memory.root}/l/z/3.png")]
    assert [(s.source, s.reason) for s in image_set.skipped] == [(canonical(missing), "file does not exist")]
    assert image_set.name == "4 paths"


def test_a_list_may_mix_urls_local_paths_and_file_urls(memory, tmp_path):
    (tmp_path / "local.png").write_bytes(png(CAMERA))
    (tmp_path / "viafile.png").write_bytes(png(COFFEE))
    image_set = ImageSet.from_spec([memory("m.png", png(ASTRONAUT)), tmp_path / "local.png",
                                    (tmp_path / "viafile.png").as_uri()])
    assert [ref.path is None for ref in image_set] == [True, False, True]
    assert image_set.refs[2].source == (tmp_path / "viafile.png").as_uri()
    pixels = [ref.load().decode().pixels for ref in image_set]
    for got, want in zip(pixels, (ASTRONAUT, CAMERA, COFFEE), strict=True):
        np.testing.assert_array_equal(got[..., 0], want if want.ndim == 2 else want[..., 0])


def test_a_manifest_at_a_url_resolves_relative_paths_against_its_folder(memory, tmp_path):
    memory("study/images/a.png", png(ASTRONAUT))
    memory("study/images/b.png", png(COFFEE))
    elsewhere = memory("other/c.png", png(CAMERA))
    (tmp_path / "local.png").write_bytes(png(CAMERA[::-1]))
    rows = [("images/a.png", "x", "site1"), ("./images/sub/../b.png", "x", "site2"),
            (elsewhere, "x", "site1"), (str(tmp_path / "local.png"), "x", "site2"),
            ("images/missing.png", "x", "site1"), ("../other/c.png", "y", "site1")]
    table = pd.DataFrame(rows, columns=["path", "group", "site"])
    manifest = memory("study/manifest.csv", table.to_csv(index=False).encode())
    image_set = ImageSet.from_manifest(manifest, "group", "x")
    folder = f"{memory.root}/study/images"
    assert [ref.source for ref in image_set] == [canonical(f"{folder}/a.png"), canonical(f"{folder}/b.png"),
                                                  canonical(elsewhere), str(tmp_path / "local.png")]
    assert [ref.metadata["site"] for ref in image_set] == ["site1", "site2", "site1", "site2"]
    assert [(s.source, s.reason) for s in image_set.skipped] == [
        (canonical(f"{folder}/missing.png"), "file does not exist")]
    assert len(ImageSet.from_manifest(manifest, "group", "y")) == 1
    confined = ImageSet.from_manifest(manifest, "group", "x", confine=True)
    assert [Path(ref.source).name for ref in confined] == ["a.png", "b.png"]
    outside = {s.source: s.reason for s in confined.skipped}
    assert "outside the manifest's folder" in outside[elsewhere]
    assert "outside the manifest's folder" in outside[str(tmp_path / "local.png")]


def test_a_local_manifest_may_name_urls(memory, tmp_path):
    url = memory("r/a.png", png(ASTRONAUT))
    (tmp_path / "b.png").write_bytes(png(COFFEE))
    (tmp_path / "list.csv").write_text(f"file,label\n{url},1\nb.png,1\n{memory.root}/r/none.png,1\n")
    image_set = ImageSet.from_manifest(tmp_path / "list.csv", "label", 1)
    assert [ref.source for ref in image_set] == [canonical(url), str(tmp_path / "b.png")]
    assert [s.reason for s in image_set.skipped] == ["file does not exist"]


def test_a_missing_manifest_url_is_named(memory):
    with pytest.raises(FileNotFoundError, match="manifest not found: memory://"):
        ImageSet.from_manifest(f"{memory.root}/nowhere.csv", "group", "x")


def test_a_file_that_cannot_be_read_is_skipped_with_its_reason(memory):
    memory("u/good.png", png(ASTRONAUT))
    memory("u/corrupt.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    doomed = memory("u/vanishes.png", png(COFFEE))
    image_set = ImageSet.from_spec(f"{memory.root}/u")
    memory.fs.rm(doomed)
    reasons = {}
    for ref in image_set:
        try:
            ref.load().decode()
        except UnreadableImage as error:
            reasons[Path(ref.source).name] = error.reason
    assert set(reasons) == {"corrupt.png", "vanishes.png"}
    assert reasons["vanishes.png"] == "file does not exist (moved or deleted after the set was listed)"
    assert reasons["corrupt.png"]


def test_an_empty_url_folder_gives_the_local_folders_error(memory, tmp_path):
    memory.fs.mkdir(f"{memory.root}/empty")
    with pytest.raises(ValueError, match="is empty: there are no image files in it"):
        ImageSet.from_spec(f"{memory.root}/empty")
    memory("texts/readme.txt", b"words")
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "readme.txt").write_bytes(b"words")
    with pytest.raises(ValueError) as remote:
        ImageSet.from_spec(f"{memory.root}/texts/")
    with pytest.raises(ValueError) as local:
        ImageSet.from_spec(tmp_path / "texts")
    assert str(remote.value).replace(f"{memory.root}/texts/", "FOLDER") == \
        str(local.value).replace(str(tmp_path / "texts"), "FOLDER")
    with pytest.raises(FileNotFoundError, match="no such file or folder: memory://"):
        ImageSet.from_spec(f"{memory.root}/absent/")


def _protocol_without_backend() -> tuple[str, str]:
    """A protocol whose fsspec backend package is not installed here, and that package."""
    for protocol, package in (("s3", "s3fs"), ("gs", "gcsfs"), ("az", "adlfs"), ("oci", "ocifs")):
        if importlib.util.find_spec(package) is None:
            return protocol, package
    pytest.skip("every cloud backend is installed")


def test_a_protocol_without_its_backend_names_the_package_before_any_work(tmp_path):
    protocol, package = _protocol_without_backend()
    url = f"{protocol}://bucket/set-a/"
    for spec in (url, f"{url}*.png", [f"{url}a.png"]):
        with pytest.raises(ModuleNotFoundError, match=f"pip install {package}"):
            ImageSet.from_spec(spec)
    (tmp_path / "list.csv").write_text(f"path,group\n{url}a.png,x\n")
    with pytest.raises(ModuleNotFoundError, match=f"pip install {package}"):
        ImageSet.from_manifest(tmp_path / "list.csv", "group", "x")
    with pytest.raises(ModuleNotFoundError, match=f"pip install {package}"):
        tellapart.describe(url, f"{protocol}://bucket/set-b/", cache_dir=tmp_path / "cache", progress=False)


def test_a_url_without_fsspec_says_what_to_install(memory, monkeypatch):
    url = memory("n/a.png", png(ASTRONAUT))
    ref = ImageSet.from_spec(url).refs[0]
    monkeypatch.setitem(sys.modules, "fsspec", None)  # as if it were not installed
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'tellapart\[remote\]'"):
        ImageSet.from_spec(url)
    with pytest.raises(UnreadableImage, match=r"tellapart\[remote\]"):
        ref.load()


def test_an_unknown_protocol_is_a_clear_error():
    with pytest.raises(ValueError, match="fsspec does not know its protocol 'nosuchfs'"):
        ImageSet.from_spec("nosuchfs://bucket/x/")


def test_file_urls_read_local_folders(tmp_path):
    (tmp_path / "set" / "sub").mkdir(parents=True)
    (tmp_path / "set" / "a.png").write_bytes(png(ASTRONAUT))
    (tmp_path / "set" / "sub" / "b.png").write_bytes(png(COFFEE))
    image_set = ImageSet.from_spec((tmp_path / "set").as_uri() + "/")
    assert [ref.source for ref in image_set] == [(tmp_path / "set" / "a.png").as_uri(),
                                                  (tmp_path / "set" / "sub" / "b.png").as_uri()]
    assert all(ref.path is None and ref.url == ref.source for ref in image_set)


def _write_pair(pool: list[np.ndarray], folder: str, write) -> tuple[str, str]:
    """Write 12 darkened and 12 plain crops (and one corrupt file in A) under ``folder`` with ``write``
    (relative name, bytes); return the two set folders."""
    for i, img in enumerate(pool[:12]):
        write(f"a/{i:02d}.png", png(darken(img, 0.5)))
    write("a/broken.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    for i, img in enumerate(pool[12:24]):
        write(f"b/{i:02d}.png", png(img))
    return f"{folder}/a", f"{folder}/b"


def test_describe_on_urls_gives_the_findings_of_the_same_files_on_disk(pool, memory, tmp_path, count_scored):
    def on_disk(name: str, data: bytes) -> None:
        (tmp_path / "disk" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "disk" / name).write_bytes(data)

    local_a, local_b = _write_pair(pool, str(tmp_path / "disk"), on_disk)
    url_a, url_b = _write_pair(pool, memory.root, memory)
    counting = count_scored(ImageStatsSource())
    library = ConceptLibrary([counting])
    options = {"cache_dir": tmp_path / "cache", "library": library, "progress": False, "seed": 1}
    local = tellapart.describe(local_a, local_b, **options)
    assert counting.scored == 24
    remote = tellapart.describe(url_a, url_b, **options)
    assert counting.scored == 24  # the same bytes at a URL have the same cache keys: nothing is rescored
    assert len(local.significant) and local.significant.iloc[0]["direction"] == "b"
    examples = [c for c in local.findings.columns if c.startswith("examples")]
    pd.testing.assert_frame_equal(local.findings.drop(columns=examples),
                                  remote.findings.drop(columns=examples))
    for column in examples:
        assert [[Path(s).name for s in row] for row in local.findings[column]] == \
            [[Path(s).name for s in row] for row in remote.findings[column]]
    assert [(Path(s).name, why) for s, why in zip(remote.skipped["source"], remote.skipped["reason"],
                                                  strict=True)] == \
        [(Path(s).name, why) for s, why in zip(local.skipped["source"], local.skipped["reason"], strict=True)]
    assert list(remote.skipped["source"]) == [canonical(f"{url_a}/broken.png")]


@pytest.mark.skipif(os.name != "posix", reason="file:// URLs of POSIX paths")
def test_a_file_url_manifest_resolves_relative_paths(tmp_path):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "a.png").write_bytes(png(ASTRONAUT))
    (tmp_path / "m.csv").write_text("path,g\nimgs/a.png,1\n")
    image_set = ImageSet.from_manifest((tmp_path / "m.csv").as_uri(), "g", 1)
    assert [ref.source for ref in image_set] == [(tmp_path / "imgs" / "a.png").as_uri()]


def test_a_dicom_series_at_a_url_is_one_sample_keyed_as_on_disk(memory):
    pydicom = pytest.importorskip("pydicom")
    folder = Path(pydicom.__file__).parent / "data" / "test_files" / "dicomdirtests" / "98892001" / "CT5N"
    for path in sorted(folder.iterdir()):  # five slices, named without an extension, as scanners write them
        memory(f"ct/{path.name}", path.read_bytes())
    with pytest.warns(Notice, match="5 files read as 1 DICOM series"):
        remote = ImageSet.from_spec(f"{memory.root}/ct")
    with pytest.warns(Notice):
        local = ImageSet.from_spec(folder)
    assert len(remote) == len(local) == 1 and remote.refs[0].series
    assert remote.refs[0].source == f"{canonical(memory.root + '/ct')} (DICOM series " + \
        local.refs[0].source.split("(DICOM series ", 1)[1]
    loaded_remote, loaded_local = remote.refs[0].load(), local.refs[0].load()
    assert loaded_remote.key == loaded_local.key
    for got, want in zip(loaded_remote.decode_frames(), loaded_local.decode_frames(), strict=True):
        np.testing.assert_array_equal(got.pixels, want.pixels)


@pytest.mark.slow
def test_ray_workers_read_url_images_themselves(pool, memory, tmp_path):
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    from tellapart.concepts.cache import ScoreCache
    from tellapart.concepts.distributed import score_with_ray

    for i, pixels in enumerate(pool[:8]):
        (tmp_path / "disk").mkdir(exist_ok=True)
        (tmp_path / "disk" / f"{i}.png").write_bytes(png(pixels))
        memory(f"ray/{i}.png", png(pixels))
    library = ConceptLibrary([ImageStatsSource()], learned=None)
    on_file = {"a": ImageSet.from_spec((tmp_path / "disk").as_uri())}
    in_memory = {"a": ImageSet.from_spec(f"{memory.root}/ray")}
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        # The workers are other processes: this process's memory:// files are not there, so none is
        # scored on the cluster (the refs, not the bytes, were sent); file:// URLs they can read.
        assert score_with_ray(library, in_memory, ScoreCache(tmp_path / "memory-cache")) == 0
        cache = ScoreCache(tmp_path / "file-cache")
        assert score_with_ray(library, on_file, cache) == 8
    finally:
        if started:
            ray.shutdown()
    plain = library.score_sets(in_memory, cache=ScoreCache(tmp_path / "plain"))
    warm = library.score_sets(on_file, cache=cache)
    np.testing.assert_array_equal(warm.scores.to_numpy(), plain.scores.to_numpy())


def test_a_manifest_url_must_be_a_table(memory):
    url = memory("m/list.json", b"[]")
    with pytest.raises(ValueError, match=r"must be a \.csv, \.tsv or \.parquet file, not \.json"):
        ImageSet.from_manifest(url, "group", "x")
    parquet = memory("m/list.parquet", b"")
    memory.fs.pipe(parquet, _parquet_bytes(pd.DataFrame({"path": ["a.png"], "group": ["x"]})))
    memory("m/a.png", png(ASTRONAUT))
    assert [Path(ref.source).name for ref in ImageSet.from_manifest(parquet, "group", "x")] == ["a.png"]


def _parquet_bytes(table: pd.DataFrame) -> bytes:
    """``table`` as a Parquet file."""
    buffer = io.BytesIO()
    table.to_parquet(buffer)
    return buffer.getvalue()


def test_a_manifest_url_folded_by_pathlib_gets_a_hint():
    with pytest.raises(FileNotFoundError, match=r"if it is the URL s3://bucket/m\.csv, pass it as text"):
        ImageSet.from_manifest(Path("s3://bucket/m.csv"), "group", "x")


class _ReadOnlyMemory(MemoryFileSystem):
    """fsspec's memory filesystem as a bucket seen with read but no list permission (``s3:GetObject``
    without ``s3:ListBucket``): every listing is denied."""

    protocol = ("readonlymem",)

    def ls(self, path, detail=True, **kwargs):
        raise PermissionError(f"Access Denied: cannot list {path}")


def test_files_are_found_where_their_folder_cannot_be_listed():
    fsspec.register_implementation("readonlymem", _ReadOnlyMemory, clobber=True)
    fs = fsspec.filesystem("readonlymem")
    root = f"readonlymem://tellapart-test-{uuid.uuid4().hex}"
    try:
        fs.pipe(f"{root}/a.png", png(ASTRONAUT))
        fs.pipe(f"{root}/b.png", png(COFFEE))
        image_set = ImageSet.from_spec([f"{root}/a.png", f"{root}/b.png", f"{root}/c.png"])
        assert [Path(ref.source).name for ref in image_set] == ["a.png", "b.png"]
        assert [(Path(s.source).name, s.reason) for s in image_set.skipped] == \
            [("c.png", "file does not exist")]
        np.testing.assert_array_equal(image_set.refs[0].load().decode().pixels, ASTRONAUT)
    finally:
        fs.rm(root, recursive=True)


def test_the_cli_takes_a_manifest_url_as_written(memory, tmp_path, capsys):
    """``--manifest`` keeps a URL's "//" (a ``pathlib.Path`` would fold it): the URL is looked up as given."""
    from tellapart.cli import main

    url = f"{memory.root}/nowhere.csv"
    code = main(["describe", "--manifest", url, "--group-col", "g", "--group-a", "x", "--group-b", "y",
                 "--out", str(tmp_path / "out"), "--quiet"])
    assert code != 0
    err = capsys.readouterr().err
    assert f"manifest not found: {url}" in err and "pathlib.Path folds" not in err


def test_the_cli_names_a_missing_backend_in_one_line(tmp_path, capsys):
    """A URL whose backend is not installed is a bad input (exit 2, what to install), not a traceback."""
    from tellapart.cli import main

    protocol, package = _protocol_without_backend()
    code = main(["describe", f"{protocol}://b/a/", f"{protocol}://b/b/", "--out", str(tmp_path / "out"),
                 "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("tellapart: error: ") and f"pip install {package}" in err
    assert "Traceback" not in err


@pytest.mark.skipif(os.name != "posix", reason="symbolic links and file:// URLs of POSIX paths")
def test_confine_follows_links_for_a_file_url_manifest_as_for_its_path(tmp_path):
    """A link inside the manifest's folder to a file outside it is outside, whether the manifest is named by
    its path or by its file:// URL (the URL's text alone would put it inside)."""
    (tmp_path / "secret").mkdir()
    (tmp_path / "study").mkdir()
    (tmp_path / "secret" / "s.png").write_bytes(png(CAMERA))
    (tmp_path / "study" / "a.png").write_bytes(png(ASTRONAUT))
    os.symlink(tmp_path / "secret", tmp_path / "study" / "link")
    os.symlink(tmp_path / "secret" / "s.png", tmp_path / "study" / "s-link.png")
    manifest = tmp_path / "study" / "m.csv"
    as_url = (tmp_path / "study" / "a.png").as_uri()
    manifest.write_text(f"path,g\na.png,x\nlink/s.png,x\ns-link.png,x\n{as_url},y\n")
    for named in (manifest, manifest.as_uri(), f"simplecache::{manifest.as_uri()}"):
        confined = ImageSet.from_manifest(named, "g", "x", confine=True)
        assert [Path(ref.source).name for ref in confined] == ["a.png"], named
        assert sorted((Path(s.source).name, s.reason) for s in confined.skipped) == [
            ("s-link.png", "outside the manifest's folder, not read (confine is on)"),
            ("s.png", "outside the manifest's folder, not read (confine is on)")], named
        assert len(ImageSet.from_manifest(named, "g", "x")) == 3  # not confined: links are followed
        assert [Path(ref.source).name for ref in ImageSet.from_manifest(named, "g", "y", confine=True)] == \
            ["a.png"]


class _MemoryView(MemoryFileSystem):
    """fsspec's memory filesystem under another protocol name: the files of the ``memory`` fixture."""

    @classmethod
    def _strip_protocol(cls, path):
        if isinstance(path, str):
            for protocol in cls.protocol:
                path = path.removeprefix(f"{protocol}://")
        return super()._strip_protocol(path)


class _ExpiredMemory(_MemoryView):
    """fsspec's memory filesystem (the same files) as a store whose credentials have expired: every listing
    and lookup fails with the backend's own error type, as botocore's does."""

    protocol = ("expiredmem",)

    def ls(self, path, detail=True, **kwargs):
        raise RuntimeError("ExpiredToken: the security token included in the request is expired")

    def info(self, path, **kwargs):
        raise RuntimeError("ExpiredToken: the security token included in the request is expired")


class _PrivateMemory(_MemoryView):
    """fsspec's memory filesystem (the same files) where listing is denied, and so is every file whose name
    starts with "private" (an object these credentials may not read)."""

    protocol = ("privatemem",)

    def ls(self, path, detail=True, **kwargs):
        raise PermissionError(f"Access Denied: cannot list {path}")

    def info(self, path, **kwargs):
        if posixpath.basename(path).startswith("private"):
            raise PermissionError(f"Access Denied: {path}")
        return super().info(path, **kwargs)


def test_a_storage_error_is_not_reported_as_a_missing_file(memory, tmp_path):
    """Expired credentials or a network failure stop the run with the backend's error (not "file does not
    exist" for every file); a file these credentials may not read is skipped as permission denied."""
    fsspec.register_implementation("expiredmem", _ExpiredMemory, clobber=True)
    fsspec.register_implementation("privatemem", _PrivateMemory, clobber=True)
    memory("s/a.png", png(ASTRONAUT))
    memory("s/private.png", png(COFFEE))
    expired = memory.root.replace("memory://", "expiredmem://")
    private = memory.root.replace("memory://", "privatemem://")
    for spec in ([f"{expired}/s/a.png"], f"{expired}/s/a.png", f"{expired}/s/"):
        with pytest.raises(OSError, match="ExpiredToken") as raised:
            ImageSet.from_spec(spec)
        assert "does not exist" not in str(raised.value) and "expiredmem://" in str(raised.value)
    (tmp_path / "m.csv").write_text(f"path,g\n{expired}/s/a.png,x\n")
    with pytest.raises(OSError, match="ExpiredToken"):
        ImageSet.from_manifest(tmp_path / "m.csv", "g", "x")
    with pytest.raises(OSError, match="ExpiredToken"):
        ImageSet.from_manifest(f"{expired}/s/m.csv", "g", "x")
    image_set = ImageSet.from_spec([f"{private}/s/a.png", f"{private}/s/private.png", f"{private}/s/no.png"])
    assert [Path(ref.source).name for ref in image_set] == ["a.png"]
    assert [(Path(s.source).name, s.reason) for s in image_set.skipped] == [
        ("private.png", "cannot read file: permission denied"), ("no.png", "file does not exist")]
    with pytest.raises(PermissionError, match="permission denied"):
        ImageSet.from_spec(f"{private}/s/private.png")


class _ThrottledMemory(_MemoryView):
    """fsspec's memory filesystem (the same files) whose ranged reads fail, as a throttled store's may;
    whole reads work."""

    protocol = ("throttledmem",)

    def cat_file(self, path, start=None, end=None, **kwargs):
        if start is not None or end is not None:
            raise ConnectionError("503 SlowDown: please reduce your request rate")
        return super().cat_file(path, start, end, **kwargs)


def test_a_file_without_extension_that_cannot_be_peeked_at_says_why(memory):
    """A DICOM slice named without an extension whose first bytes cannot be read is skipped with the read's
    error, not as "not an image file (no extension)"."""
    pydicom = pytest.importorskip("pydicom")
    fsspec.register_implementation("throttledmem", _ThrottledMemory, clobber=True)
    slice_file = Path(pydicom.__file__).parent / "data" / "test_files" / "CT_small.dcm"
    memory("t/slice001", slice_file.read_bytes())
    memory("t/a.png", png(ASTRONAUT))
    image_set = ImageSet.from_spec(memory.root.replace("memory://", "throttledmem://") + "/t")
    assert [Path(ref.source).name for ref in image_set] == ["a.png"]
    assert [(Path(s.source).name, s.reason) for s in image_set.skipped] == [
        ("slice001", "cannot read file: ConnectionError: 503 SlowDown: please reduce your request rate")]
    assert len(ImageSet.from_spec(f"{memory.root}/t")) == 2  # readable, the slice is an image


def test_url_folders_and_globs_list_files_in_the_order_of_local_ones(memory, tmp_path):
    """The same files give the same order (hence the same split and findings) in a local folder, at a
    memory:// URL and at a file:// URL: folders named with "-", " " and "." sort by parts, as pathlib's."""
    names = ["a/b.png", "a-b/c.png", "a b/d.png", "a.x/e.png", "a/z/f.png", "ab.png"]
    for name in names:
        memory(f"order/{name}", png(ASTRONAUT))
        (tmp_path / "order" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "order" / name).write_bytes(png(ASTRONAUT))
    local = tmp_path / "order"

    def relative(image_set: ImageSet, root: str) -> list[str]:
        assert all(ref.source.startswith(f"{root}/") for ref in image_set)
        return [ref.source[len(root) + 1:] for ref in image_set]

    url = f"{memory.root}/order"
    in_order = relative(ImageSet.from_spec(local), str(local))
    assert in_order == ["a/b.png", "a/z/f.png", "a b/d.png", "a-b/c.png", "a.x/e.png", "ab.png"]
    assert relative(ImageSet.from_spec(url), canonical(url)) == in_order
    assert relative(ImageSet.from_spec(local.as_uri()), local.as_uri()) == in_order
    local_glob = relative(ImageSet.from_spec(str(local / "**" / "*.png")), str(local))
    assert relative(ImageSet.from_spec(f"{url}/**/*.png"), canonical(url)) == local_glob


def test_a_url_whose_name_holds_glob_characters_is_that_file(memory, tmp_path):
    """``scan[1].png`` names that file (as a local path does), not the pattern matching ``scan1.png``."""
    memory("br/scan[1].png", png(ASTRONAUT))
    memory("br/scan1.png", png(COFFEE))
    memory("br/what?/a.png", png(CAMERA))
    (tmp_path / "scan[1].png").write_bytes(png(ASTRONAUT))
    (tmp_path / "scan1.png").write_bytes(png(COFFEE))
    for spec in (f"{memory.root}/br/scan[1].png", f"file://{tmp_path}/scan[1].png",
                 str(tmp_path / "scan[1].png")):
        image_set = ImageSet.from_spec(spec)
        assert [Path(ref.source).name for ref in image_set] == ["scan[1].png"], spec
        np.testing.assert_array_equal(image_set.refs[0].load().decode().pixels, ASTRONAUT)
    assert [Path(r.source).name for r in ImageSet.from_spec(f"{memory.root}/br/what?")] == ["a.png"]
    assert [Path(r.source).name for r in ImageSet.from_spec(f"{memory.root}/br/scan[0-9].png")] == \
        ["scan1.png"]


def test_a_url_manifest_does_not_read_this_machines_home(memory, tmp_path, monkeypatch):
    """``~/x.png`` in a manifest at a URL is the store's ``~`` folder under the manifest's, never this
    machine's home (as it is in a local manifest)."""
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "x.png").write_bytes(png(CAMERA))
    memory("home/a.png", png(ASTRONAUT))
    manifest = memory("home/m.csv", b"path,g\n~/x.png,x\na.png,x\n")
    image_set = ImageSet.from_manifest(manifest, "g", "x")
    assert [Path(ref.source).name for ref in image_set] == ["a.png"]
    assert [(s.source, s.reason) for s in image_set.skipped] == [
        (canonical(f"{memory.root}/home/~/x.png"), "file does not exist")]
    (tmp_path / "m.csv").write_text("path,g\n~/x.png,x\n")
    assert [ref.source for ref in ImageSet.from_manifest(tmp_path / "m.csv", "g", "x")] == \
        [str(tmp_path / "x.png")]


class _SignedMemory(_MemoryView):
    """fsspec's memory filesystem (the same files) as an https store of pre-signed URLs: ``?`` starts a
    query, ``user:password@`` is credentials, and a file is read only with its signature (``?sig=``)."""

    protocol = ("signedmem",)

    @staticmethod
    def _plain(path: str) -> str:
        first, slash, rest = path.split("?", 1)[0].lstrip("/").partition("/")
        return "/" + first.rpartition("@")[2] + slash + rest

    def unstrip_protocol(self, name):
        return f"signedmem://{name.lstrip('/')}"

    def info(self, path, **kwargs):
        return super().info(self._plain(path), **kwargs)

    def ls(self, path, detail=True, **kwargs):
        return super().ls(self._plain(path), detail=detail, **kwargs)

    def cat_file(self, path, start=None, end=None, **kwargs):
        if "sig=" not in path:
            raise PermissionError(f"403 Forbidden: {path} is not signed")
        return super().cat_file(self._plain(path), start, end, **kwargs)


def test_a_signed_url_is_read_whole_and_named_without_its_secrets(memory, monkeypatch):
    """A pre-signed URL's query and a URL's user:password are read with (the file is fetched from the whole
    URL) but never shown: not in the source of findings, skipped lists, set names or errors; the extension
    is read from the path, not from after the query."""
    from tellapart.io import remote
    from tellapart.io.remote import error_detail, shown_url, url_name

    fsspec.register_implementation("signedmem", _SignedMemory, clobber=True)
    # signedmem:// stands for an https store: its "?" starts a query
    monkeypatch.setattr(remote, "QUERY_PROTOCOLS", remote.QUERY_PROTOCOLS | {"signedmem"})
    memory("q/a.png", png(ASTRONAUT))
    memory("q/b.png", png(COFFEE))
    memory("q/notes.txt", b"words")
    signed = memory.root.replace("memory://", "signedmem://u:secret@")
    plain = memory.root.replace("memory://", "signedmem://")
    url = f"{signed}/q/a.png?sig=SECRET&X-Amz-Date=1"
    image_set = ImageSet.from_spec(url)
    assert [(ref.source, ref.url) for ref in image_set] == [(f"{plain}/q/a.png", url)]
    assert image_set.name == "a.png"
    np.testing.assert_array_equal(image_set.refs[0].load().decode().pixels, ASTRONAUT)
    listed = ImageSet.from_spec([url, f"{signed}/q/b.png?sig=S2", f"{signed}/q/notes.txt?sig=S3",
                                 f"{signed}/q/gone.png?sig=S4"])
    assert [ref.source for ref in listed] == [f"{plain}/q/a.png", f"{plain}/q/b.png"]
    assert [(s.source, s.reason) for s in listed.skipped] == [
        (f"{plain}/q/notes.txt", "not an image file (.txt)"), (f"{plain}/q/gone.png", "file does not exist")]
    np.testing.assert_array_equal(listed.refs[1].load().decode().pixels, COFFEE)
    assert shown_url("https://user:pw@host.example/b/a.png?X-Amz-Signature=abc") == "https://host.example/b/a.png"
    assert shown_url("s3://u:pw@b/scan?1.png") == "s3://b/scan?1.png"  # "?" is part of an S3 key
    assert url_name("s3://b/scan?1.png") == "scan?1.png"
    assert shown_url("memory://x/a?b.png") == "memory://x/a?b.png"  # a name there, not a query
    # a missing signed file is not taken for a glob pattern ("?"), and no error shows the secret
    with pytest.raises(FileNotFoundError) as missing:
        ImageSet.from_spec(f"{signed}/q/gone.png?sig=SECRET")
    assert "SECRET" not in str(missing.value) and "pattern" not in str(missing.value)
    detail = error_detail(OSError("403, message='Forbidden', url='https://h/b/a.png?X-Amz-Signature=SECRET'"))
    assert "SECRET" not in detail and "https://h/b/a.png" in detail
    assert url_name("https://h/x/scan.dcm?sig=1") == "scan.dcm"
