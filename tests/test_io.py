"""tellapart.io: image sets from folders/globs/lists/manifests, and safe decoding of real sample images."""

from __future__ import annotations

import io
import os
import pathlib
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skimage.data
from PIL import Image, ImageFile, ImageOps

import tellapart.io.decode as decode_module
from tellapart.io import (
    ANALYSIS_MAX_SIDE,
    ImageSet,
    UnreadableImage,
    array_hash,
    content_hash,
    decode_bytes,
    decode_object,
)
from tellapart.io.imageset import HIDDEN_FILE, HIDDEN_FOLDER

ASTRONAUT = skimage.data.astronaut()  # 512 x 512 RGB
COFFEE = skimage.data.coffee()  # 400 x 600 RGB
CAMERA = skimage.data.camera()  # 512 x 512 grayscale


def encode(pixels: np.ndarray | Image.Image, fmt: str, **options) -> bytes:
    image = pixels if isinstance(pixels, Image.Image) else Image.fromarray(pixels)
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def reason_of(data: bytes) -> str:
    with pytest.raises(UnreadableImage) as caught:
        decode_bytes(data, "test", "key")
    return caught.value.reason


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean())


def png_with_claimed_size(width: int, height: int) -> bytes:
    """A real PNG (the astronaut) whose header claims another size: only decoding pixel data can tell."""
    data = bytearray(encode(ASTRONAUT, "PNG"))
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


# --- decoding: broken files ---------------------------------------------------------------------------------


def test_zero_byte_file():
    assert reason_of(b"") == "empty file (0 bytes)"


def test_text_file_with_jpg_extension(tmp_path):
    path = write(tmp_path / "notes.jpg", b"sample id,label\n1,tumour\n")
    with pytest.raises(UnreadableImage) as caught:
        ImageSet.from_spec(path).refs[0].load().decode()
    assert caught.value.reason.startswith("not an image")
    assert "text" in caught.value.reason


def test_random_bytes_are_not_an_image():
    noise = np.random.default_rng(0).bytes(10_000)
    assert reason_of(noise).startswith("not an image")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_file(fmt):
    data = encode(ASTRONAUT, fmt)
    assert decode_bytes(data, "whole", "k").pixels.shape == (512, 512, 3)
    assert reason_of(data[: len(data) // 2]).startswith("truncated image data")


def test_corrupt_jpeg_body():
    data = bytearray(encode(ASTRONAUT, "JPEG"))
    data[200:] = np.random.default_rng(1).bytes(len(data) - 200)
    reason = reason_of(bytes(data))
    assert reason.startswith(("corrupt image data", "truncated image data", "not an image"))


# --- decoding: modes, frames, orientation, size -------------------------------------------------------------


def test_plain_jpeg_and_png_keep_their_pixels():
    png = decode_bytes(encode(ASTRONAUT, "PNG"), "a.png", "k")
    assert png.pixels.dtype == np.uint8 and png.pixels.flags.c_contiguous
    assert np.array_equal(png.pixels, ASTRONAUT)
    assert png.original_size == (512, 512) and png.format == "PNG"
    jpeg = decode_bytes(encode(COFFEE, "JPEG", quality=95), "c.jpg", "k")
    assert jpeg.pixels.shape == (400, 600, 3) and jpeg.original_size == (600, 400)
    assert mean_abs_diff(jpeg.pixels, COFFEE) < 3


def test_cmyk_jpeg_becomes_rgb():
    data = encode(Image.fromarray(COFFEE).convert("CMYK"), "JPEG", quality=95)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    decoded = decode_bytes(data, "cmyk.jpg", "k")
    assert decoded.pixels.shape == (400, 600, 3)
    assert mean_abs_diff(decoded.pixels, COFFEE) < 6


@pytest.mark.parametrize("top", [65535, 4095])  # full 16-bit range, and 12-bit data stored in 16 bits
def test_16bit_png_is_scaled_not_clipped(top):
    deep = (CAMERA.astype(np.float64) / 255 * top).round().astype(np.uint16)
    data = encode(Image.fromarray(deep), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    pixels = decode_bytes(data, "deep.png", "k").pixels
    assert pixels.min() == 0 and pixels.max() == 255  # not all white (clipping) nor all black
    assert np.abs(pixels[:, :, 0].astype(int) - CAMERA).max() <= 1
    assert np.array_equal(pixels[:, :, 0], pixels[:, :, 2])


def test_float_tiff_is_scaled():
    values = CAMERA.astype(np.float32) * 0.1 - 3.0  # -3 .. 22.5, as a measurement image might be
    pixels = decode_bytes(encode(Image.fromarray(values, "F"), "TIFF"), "f.tif", "k").pixels
    assert np.corrcoef(pixels[:, :, 1].ravel(), CAMERA.ravel())[0, 1] > 0.999
    assert pixels.min() == 0 and pixels.max() == 255


@pytest.mark.parametrize("mode", ["L", "1"])
def test_grayscale_and_bilevel_become_rgb(mode):
    pixels = decode_bytes(encode(Image.fromarray(CAMERA).convert(mode), "PNG"), "g.png", "k").pixels
    assert pixels.shape == (512, 512, 3)
    assert np.array_equal(pixels[:, :, 0], pixels[:, :, 1])
    if mode == "L":
        assert np.array_equal(pixels[:, :, 0], CAMERA)
    else:
        assert set(np.unique(pixels)) <= {0, 255}


def test_palette_png_with_transparency_composites_on_white():
    palette_image = Image.fromarray(COFFEE).quantize(colors=16)
    indices = np.asarray(palette_image)
    transparent = int(indices[0, 0])
    data = encode(palette_image, "PNG", transparency=transparent)
    pixels = decode_bytes(data, "p.png", "k").pixels
    hidden = indices == transparent
    assert 0 < hidden.mean() < 1
    assert (pixels[hidden] == 255).all()
    opaque_rgb = np.asarray(palette_image.convert("RGB"))[~hidden]
    assert np.array_equal(pixels[~hidden], opaque_rgb)


def test_rgba_png_composites_on_white():
    alpha = np.full((512, 512), 255, np.uint8)
    alpha[:, :200] = 0
    alpha[:, 200:260] = 128
    data = encode(np.dstack([ASTRONAUT, alpha]), "PNG")
    pixels = decode_bytes(data, "rgba.png", "k").pixels.astype(int)
    assert (pixels[:, :200] == 255).all()
    assert np.array_equal(pixels[:, 260:], ASTRONAUT[:, 260:])
    half = ASTRONAUT[:, 200:260] * (128 / 255) + 255 * (127 / 255)
    assert np.abs(pixels[:, 200:260] - half).max() <= 1


@pytest.mark.parametrize("fmt", ["GIF", "PNG", "WEBP"])
def test_animated_image_gives_first_frame(fmt):
    first, second = ASTRONAUT, np.dstack([CAMERA] * 3)
    frames = [Image.fromarray(first), Image.fromarray(second)]
    buffer = io.BytesIO()
    frames[0].save(buffer, fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert getattr(Image.open(io.BytesIO(buffer.getvalue())), "n_frames", 1) == 2
    pixels = decode_bytes(buffer.getvalue(), f"anim.{fmt.lower()}", "k").pixels
    assert pixels.shape == (512, 512, 3)
    assert mean_abs_diff(pixels, first) < 15 < mean_abs_diff(pixels, second)


def test_exif_orientation_is_applied():
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    data = encode(COFFEE, "JPEG", quality=95, exif=exif.tobytes())
    decoded = decode_bytes(data, "rotated.jpg", "k")
    assert decoded.original_size == (400, 600)  # stored 600 x 400, displayed portrait
    assert decoded.pixels.shape == (600, 400, 3)
    assert mean_abs_diff(decoded.pixels, np.rot90(COFFEE, k=-1)) < 3


def _exif_block(entries: list[tuple[int, int, int, bytes]], header: bytes = b"II*\x00\x08\0\0\0") -> bytes:
    """An APP1 EXIF payload: a little-endian TIFF header and one directory of (tag, type, count, value)."""
    directory = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        directory += struct.pack("<HHL", tag, kind, count) + value
    return b"Exif\x00\x00" + header + directory + struct.pack("<L", 0)


ORIENTATION_6 = (0x0112, 3, 1, struct.pack("<HH", 6, 0))  # SHORT 6: "rotate 90 degrees clockwise"
BROKEN_EXIF = {
    "no TIFF header": (b"Exif\x00\x00XX*\x00" + bytes(20), "SyntaxError"),
    "block ends in the header": (b"Exif\x00\x00II*\x00", "error"),  # struct.error
    "directory cut short": (_exif_block([ORIENTATION_6])[:20], "damaged"),
    "orientation is text": (_exif_block([(0x0112, 2, 4, b"abc\x00")]), "'abc' is not one of 1-8"),
    "orientation out of range": (_exif_block([(0x0112, 3, 1, struct.pack("<HH", 9, 0))]), "9 is not one of"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_EXIF))
def test_broken_exif_orientation_is_used_as_stored_and_noted(case):
    exif, expected = BROKEN_EXIF[case]
    data = encode(COFFEE, "JPEG", quality=95, exif=exif)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Pillow's own complaint about the block
        decoded = decode_bytes(data, "broken-exif.jpg", "k")
    assert decoded.original_size == (600, 400)
    assert decoded.pixels.shape == (400, 600, 3)
    assert mean_abs_diff(decoded.pixels, COFFEE) < 3
    assert len(decoded.notes) == 1
    assert "EXIF" in decoded.notes[0] and "used as stored" in decoded.notes[0]
    assert expected in decoded.notes[0]


def test_good_exif_orientation_carries_no_note():
    data = encode(COFFEE, "JPEG", quality=95, exif=_exif_block([ORIENTATION_6]))
    rotated = decode_bytes(data, "r.jpg", "k")
    assert rotated.pixels.shape == (600, 400, 3)
    assert mean_abs_diff(rotated.pixels, np.rot90(COFFEE, k=-1)) < 3
    assert rotated.notes == ()
    assert decode_bytes(encode(COFFEE, "JPEG", quality=95), "plain.jpg", "k").notes == ()
    assert decode_object(COFFEE, "<memory:0>", "k").notes == ()


def test_every_exif_orientation_matches_pillow():
    for orientation in range(1, 9):
        exif = _exif_block([(0x0112, 3, 1, struct.pack("<HH", orientation, 0))])
        data = encode(CAMERA[:300:2, :200:2], "PNG", exif=exif)
        decoded = decode_bytes(data, "o.png", "k")
        expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))
        np.testing.assert_array_equal(decoded.pixels, expected)
        assert decoded.original_size == expected.shape[1::-1]
        assert decoded.notes == ()


def test_in_memory_pil_image_with_broken_exif_carries_the_note():
    data = encode(COFFEE, "JPEG", quality=95, exif=BROKEN_EXIF["no TIFF header"][0])
    image = Image.open(io.BytesIO(data))
    decoded = decode_object(image, "<memory:0>", "k")
    assert decoded.pixels.shape == (400, 600, 3)
    assert len(decoded.notes) == 1 and "SyntaxError" in decoded.notes[0]
    # The same through an image set, as describe reads it: the note reaches the decoded image.
    through_set = ImageSet.from_spec([image]).refs[0].load().decode()
    assert through_set.notes == decoded.notes


def test_large_images_are_downscaled_keeping_aspect():
    large = np.asarray(Image.fromarray(COFFEE).resize((2400, 1600), Image.Resampling.BICUBIC))
    for fmt, options in (("JPEG", {}), ("PNG", {"compress_level": 1})):
        decoded = decode_bytes(encode(large, fmt, **options), fmt, "k")
        assert decoded.original_size == (2400, 1600)
        assert decoded.pixels.shape == (683, ANALYSIS_MAX_SIDE, 3)
        reference = np.asarray(Image.fromarray(large).resize((1024, 683), Image.Resampling.LANCZOS))
        assert mean_abs_diff(decoded.pixels, reference) < 3


# --- decoding: decompression bombs --------------------------------------------------------------------------


def test_bomb_limit_is_enforced(monkeypatch):
    monkeypatch.setattr(decode_module, "MAX_PIXELS", 100_000)
    reason = reason_of(encode(ASTRONAUT, "PNG"))
    assert reason == "image has 262,144 pixels, over the limit of 100,000 (possible decompression bomb)"


def test_bomb_check_happens_before_pixel_data_is_decoded(monkeypatch):
    # The header claims 5000 x 5000 but the data holds 512 x 512: decoding would report truncation.
    monkeypatch.setattr(decode_module, "MAX_PIXELS", 1_000_000)
    assert "decompression bomb" in reason_of(png_with_claimed_size(5000, 5000))
    # And no decoder runs at all: ImageFile.load is where Pillow decodes a file's pixel data.
    data = encode(CAMERA, "PNG")
    loads = []
    original_load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: loads.append(1) or original_load(self))
    monkeypatch.setattr(decode_module, "MAX_PIXELS", 1000)
    assert "decompression bomb" in reason_of(data)
    assert loads == []
    monkeypatch.setattr(decode_module, "MAX_PIXELS", 10**6)
    assert decode_bytes(data, "small enough", "k").pixels.shape == (512, 512, 3)
    assert loads  # the spy does see loads when the image is decoded


@pytest.mark.parametrize("side", [10_000, 20_000])  # Pillow warns over 89M pixels and fails over 179M
def test_pillow_bomb_warning_and_error_become_unreadable(side):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reason = reason_of(png_with_claimed_size(side, side))
    assert [w.message for w in caught] == []  # Pillow's DecompressionBombWarning must not escape
    limit = "over the limit of 89,478,485 (possible decompression bomb)"
    assert reason == f"image has {side * side:,} pixels, {limit}"


# --- decoding: in-memory objects ----------------------------------------------------------------------------


def test_in_memory_images_in_every_supported_form():
    gray = CAMERA
    forms = {
        "uint8 rgb": ASTRONAUT,
        "uint8 gray": gray,
        "gray with channel": gray[:, :, None],
        "uint16": gray.astype(np.uint16) * 257,
        "float": gray / 255.0,
        "bool": gray > 128,
        "rgba": np.dstack([ASTRONAUT, np.full((512, 512), 255, np.uint8)]),
        "pil": Image.fromarray(ASTRONAUT),
    }
    for label, obj in forms.items():
        decoded = decode_object(obj, f"<memory:{label}>", "k")
        assert decoded.pixels.shape == (512, 512, 3), label
        assert decoded.pixels.dtype == np.uint8, label
    assert np.array_equal(decode_object(gray / 255.0, "m", "k").pixels[:, :, 0], gray)
    assert np.array_equal(decode_object(gray.astype(np.uint16) * 257, "m", "k").pixels[:, :, 2], gray)


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (np.zeros((2, 3, 4, 5), np.uint8), "array has shape (2, 3, 4, 5) but an image needs HxW or HxWxC"),
        (np.zeros((3, 64, 64), np.uint8), "transpose it with arr.transpose(1, 2, 0)"),
        (np.zeros((0, 5), np.uint8), "holds no pixels"),
        (CAMERA.astype(np.float32), "float images must lie in [0, 1]"),
        (np.full((4, 4), np.nan), "NaN"),
        (np.zeros((4, 4), dtype=object), "dtype object"),
        ("a string", "str is not an image"),
    ],
)
def test_bad_in_memory_objects_have_clear_reasons(obj, expected):
    with pytest.raises(UnreadableImage) as caught:
        decode_object(obj, "<memory:0>", "k")
    assert expected in caught.value.reason


# --- hashing ------------------------------------------------------------------------------------------------


def test_same_picture_in_two_files_has_the_same_key(tmp_path):
    data = encode(ASTRONAUT, "PNG")
    write(tmp_path / "one.png", data)
    write(tmp_path / "copy" / "two.png", data)
    write(tmp_path / "other.png", encode(COFFEE, "PNG"))
    keys = {Path(ref.source).name: ref.load().key for ref in ImageSet.from_spec(tmp_path).refs}
    assert keys["one.png"] == keys["two.png"] == content_hash(data) != keys["other.png"]


def test_same_in_memory_picture_has_the_same_key():
    image_set = ImageSet.from_spec([ASTRONAUT, Image.fromarray(ASTRONAUT), ASTRONAUT / 255.0, COFFEE])
    keys = [ref.load().key for ref in image_set.refs]
    assert keys[0] == keys[1] == keys[2] == array_hash(ASTRONAUT) != keys[3]
    assert array_hash(CAMERA) != array_hash(CAMERA.reshape(256, 1024))


# --- image sets ---------------------------------------------------------------------------------------------


def test_nested_folders_hidden_files_and_non_images(tmp_path):
    write(tmp_path / "b.png", encode(ASTRONAUT, "PNG"))
    write(tmp_path / "sub" / "deeper" / "a.JPG", encode(COFFEE, "JPEG"))
    write(tmp_path / "sub" / "readme.txt", b"notes")
    write(tmp_path / ".hidden.png", encode(CAMERA, "PNG"))
    write(tmp_path / ".cache" / "c.png", encode(CAMERA, "PNG"))
    image_set = ImageSet.from_spec(str(tmp_path))
    names = [Path(ref.source).relative_to(tmp_path).as_posix() for ref in image_set.refs]
    assert names == ["b.png", "sub/deeper/a.JPG"]
    assert [(Path(s.source).name, s.reason) for s in image_set.skipped] == [
        (".cache", HIDDEN_FOLDER), (".hidden.png", HIDDEN_FILE), ("readme.txt", "not an image file (.txt)")
    ]  # hidden files and folders are not read, and said so
    assert len(image_set) == 2 and image_set.name == tmp_path.name
    assert image_set.refs[1].load().decode().pixels.shape == (400, 600, 3)


def test_unicode_and_spaces_in_paths(tmp_path):
    path = write(tmp_path / "ñandú café" / " 图像 1.png", encode(ASTRONAUT, "PNG"))
    for spec in (path.parent, path, [path], str(tmp_path / "ñandú café" / "*.png")):
        image_set = ImageSet.from_spec(spec)
        assert [ref.source for ref in image_set.refs] == [str(path)]
        assert np.array_equal(image_set.refs[0].load().decode().pixels, ASTRONAUT)


def test_folder_without_images(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="is empty"):
        ImageSet.from_spec(tmp_path / "empty")
    write(tmp_path / "docs" / "notes.txt", b"hello")
    write(tmp_path / "docs" / "table.csv", b"a,b\n")
    with pytest.raises(ValueError, match=r"has no image files .*notes\.txt: not an image file \(\.txt\)"):
        ImageSet.from_spec(tmp_path / "docs")


def test_missing_paths_and_unsupported_specs(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        ImageSet.from_spec(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="no files match"):
        ImageSet.from_spec(str(tmp_path / "*.png"))
    with pytest.raises(ValueError, match="cannot make an image set from a int"):
        ImageSet.from_spec(42)
    with pytest.raises(ValueError, match="empty"):
        ImageSet.from_spec([])
    text = write(tmp_path / "labels.csv", b"path,group\n")
    with pytest.raises(ValueError, match="from_manifest"):
        ImageSet.from_spec(text)


def test_existing_set_is_returned_as_is(tmp_path):
    write(tmp_path / "a.png", encode(ASTRONAUT, "PNG"))
    image_set = ImageSet.from_spec(tmp_path)
    assert ImageSet.from_spec(image_set) is image_set


def test_glob_patterns(tmp_path):
    write(tmp_path / "x" / "1.png", encode(ASTRONAUT, "PNG"))
    write(tmp_path / "x" / "2.jpg", encode(COFFEE, "JPEG"))
    write(tmp_path / "y" / "z" / "3.jpg", encode(CAMERA, "JPEG"))
    flat = ImageSet.from_spec(str(tmp_path / "x" / "*.png"))
    assert [Path(r.source).name for r in flat.refs] == ["1.png"]
    deep = ImageSet.from_spec(str(tmp_path / "**" / "*.jpg"))
    assert [Path(r.source).name for r in deep.refs] == ["2.jpg", "3.jpg"]


def test_list_of_paths_reports_missing_files(tmp_path):
    present = write(tmp_path / "a.png", encode(ASTRONAUT, "PNG"))
    image_set = ImageSet.from_spec([present, tmp_path / "gone.png"])
    assert len(image_set) == 1
    assert [s.reason for s in image_set.skipped] == ["file does not exist"]


def test_arrays_and_pil_images_as_a_set():
    faces = skimage.data.lfw_subset()[:20]  # 20 x 25 x 25 float in [0, 1]
    stack = ImageSet.from_spec(faces)
    assert len(stack) == 20 and stack.refs[3].source == "<memory:3>"
    assert stack.refs[3].load().decode().pixels.shape == (25, 25, 3)
    mixed = ImageSet.from_spec([ASTRONAUT, Image.fromarray(CAMERA), COFFEE / 255.0])
    shapes = [ref.load().decode().pixels.shape for ref in mixed.refs]
    assert shapes == [(512, 512, 3), (512, 512, 3), (400, 600, 3)]
    with pytest.raises(ValueError, match="ambiguous"):
        ImageSet.from_spec(ASTRONAUT)
    with pytest.raises(ValueError, match="item 1 of the list is a dict"):
        ImageSet.from_spec([ASTRONAUT, {}])


def test_unreadable_file(tmp_path, monkeypatch):
    path = write(tmp_path / "locked.png", encode(ASTRONAUT, "PNG"))
    ref = ImageSet.from_spec(tmp_path).refs[0]
    if os.geteuid() == 0:  # root reads through chmod 000, so make the read itself fail
        real_open = pathlib.Path.open

        def deny(self, *args, **kwargs):
            if self == path:
                raise PermissionError(13, "Permission denied", str(self))
            return real_open(self, *args, **kwargs)

        monkeypatch.setattr(pathlib.Path, "open", deny)
    else:
        path.chmod(0)
    try:
        with pytest.raises(UnreadableImage, match="cannot read file: permission denied"):
            ref.load()
    finally:
        path.chmod(0o644)


def test_file_vanishing_after_listing(tmp_path):
    path = write(tmp_path / "a.png", encode(ASTRONAUT, "PNG"))
    write(tmp_path / "b.png", encode(COFFEE, "PNG"))
    image_set = ImageSet.from_spec(tmp_path)
    path.unlink()
    with pytest.raises(UnreadableImage, match="file does not exist"):
        image_set.refs[0].load()
    assert image_set.refs[1].load().decode().original_size == (600, 400)


# --- manifests ----------------------------------------------------------------------------------------------


@pytest.fixture
def manifest_folder(tmp_path):
    write(tmp_path / "imgs" / "a1.png", encode(ASTRONAUT, "PNG"))
    write(tmp_path / "imgs" / "a2.jpg", encode(COFFEE, "JPEG"))
    write(tmp_path / "imgs" / "b1.png", encode(CAMERA, "PNG"))
    table = pd.DataFrame(
        {
            "FileName": ["imgs/a1.png", "imgs/a2.jpg", "imgs/b1.png", "imgs/missing.png"],
            "label": [1, 1, 0, 0],
        }
    )
    return tmp_path, table


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_manifest_groups_with_relative_paths(manifest_folder, suffix, monkeypatch):
    folder, table = manifest_folder
    path = folder / f"manifest{suffix}"
    table.to_csv(path, index=False) if suffix == ".csv" else table.to_parquet(path)
    monkeypatch.chdir("/")  # relative paths must resolve against the manifest, not the working folder
    set_a = ImageSet.from_manifest(path, "label", 1)
    assert [Path(r.source).name for r in set_a.refs] == ["a1.png", "a2.jpg"]
    assert set_a.skipped == [] and set_a.name == "label = 1"
    set_b = ImageSet.from_manifest(path, "label", "0", path_col="FileName")  # "0" as typed on a command line
    assert [Path(r.source).name for r in set_b.refs] == ["b1.png"]
    assert [(Path(s.source).name, s.reason) for s in set_b.skipped] == [
        ("missing.png", "file does not exist")
    ]
    assert set_b.refs[0].load().decode().pixels.shape == (512, 512, 3)


def test_manifest_errors(manifest_folder):
    folder, table = manifest_folder
    path = folder / "m.csv"
    table.to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"no column 'group'; its columns are: 'FileName', 'label'"):
        ImageSet.from_manifest(path, "group", 1)
    with pytest.raises(ValueError, match=r"no column 'img'; its columns are"):
        ImageSet.from_manifest(path, "label", 1, path_col="img")
    with pytest.raises(ValueError, match=r"label = 7; present values: 1 \(2 rows\), 0 \(2 rows\)"):
        ImageSet.from_manifest(path, "label", 7)
    table.rename(columns={"FileName": "where"}).to_csv(path, index=False)
    with pytest.raises(ValueError, match="no path column .* pass path_col="):
        ImageSet.from_manifest(path, "label", 1)
    pd.DataFrame({"path": ["x/1.png", "x/2.png"], "g": ["a", "a"]}).to_csv(path, index=False)
    with pytest.raises(FileNotFoundError, match="none of the 2 files listed for g = a .* exist"):
        ImageSet.from_manifest(path, "g", "a")
    with pytest.raises(FileNotFoundError, match="manifest not found"):
        ImageSet.from_manifest(folder / "absent.csv", "g", "a")
