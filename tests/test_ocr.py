"""Text in images (``concepts.ocr``): real photos with words rendered on them, read by rapidocr's packaged
models; no mocks."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

import tellapart
from tellapart.concepts.cache import ScoreCache
from tellapart.concepts.image_stats import ImageStatsSource
from tellapart.concepts.library import ConceptLibrary
from tellapart.concepts.ocr import (
    WORD_CHARS,
    OcrSource,
    decode_words,
    encode_words,
    normalise_words,
    union_words,
    word_concepts,
)
from tellapart.io import ImageSet
from tellapart.io.image import DecodedImage

# Words rendered in the "contain text" set, each on two images: read in fewer than MIN_WORD_COUNT images,
# none becomes a word concept, so the difference is text as such.
VARIED = ["HELLO", "SAMPLE", "NORTH", "GARDEN", "PLANET", "WINTER", "MARKET", "SILVER", "CANDLE", "FOREST"]


@pytest.fixture(scope="module")
def font_path() -> str:
    from matplotlib import font_manager

    return font_manager.findfont("DejaVu Sans")


def _photo(array: np.ndarray) -> Image.Image:
    return Image.fromarray(array).convert("RGB").resize((256, 192))


def _with_word(array: np.ndarray, word: str, font_path: str) -> np.ndarray:
    """The photo at 256 x 192 px with ``word`` in 40 px white letters, black outline, at a fixed place."""
    image = _photo(array)
    ImageDraw.Draw(image).text((16, 70), word, fill=(255, 255, 255), font=ImageFont.truetype(font_path, 40),
                               stroke_width=2, stroke_fill=(0, 0, 0))
    return np.asarray(image)


def _plain(array: np.ndarray) -> np.ndarray:
    return np.asarray(_photo(array))


class _Counting(OcrSource):
    """The real OCR source, counting the images it reads."""

    read = 0

    def read_text(self, images):
        self.read += len(images)
        return super().read_text(images)


def _library(ocr: OcrSource | None = None) -> ConceptLibrary:
    return ConceptLibrary([ImageStatsSource(), ocr or OcrSource()], learned=None)


def test_images_with_text_differ_by_containing_text(pool, font_path, tmp_path):
    a = [_with_word(p, VARIED[i % len(VARIED)], font_path) for i, p in enumerate(pool[:20])]
    b = [_plain(p) for p in pool[20:40]]
    result = tellapart.describe(a, b, library=_library(), cache_dir=tmp_path, progress=False)
    top = result.findings.iloc[0]
    assert top["concept"] == "ocr.text" and top["significant"] and top["direction"] == "a"
    assert top["text"].startswith("Set A images contain text far more often")
    assert not any(str(c).startswith("ocr.word.") for c in result.findings["concept"])
    # The report draws the text boxes on the example images.
    assert result.outlines.get("ocr.text")


def test_sets_that_show_different_words(pool, font_path, tmp_path):
    a = [_with_word(p, "ERROR", font_path) for p in pool[:20]]
    b = [_with_word(p, "READY", font_path) for p in pool[20:40]]
    library = _library()
    result = tellapart.describe(a, b, library=library, cache_dir=tmp_path, progress=False)
    top = result.findings.iloc[0]
    assert top["concept"] in ("ocr.word.error", "ocr.word.ready") and top["significant"]
    assert isinstance(library.outliners()[top["concept"]], OcrSource)  # the words' boxes can be drawn
    assert top["text"].startswith(("Set A images show the word 'error' far more often",
                                   "Set A images show the word 'ready' far less often"))
    significant = result.findings[result.findings["significant"].astype(bool)]
    assert "ocr.text" not in set(significant["concept"])  # both sets always show text
    # The same library again (as `failures` runs one analysis per class): the words come back once.
    again = tellapart.describe(a[:12], b[:12], library=library, cache_dir=tmp_path, progress=False)
    assert again.findings.iloc[0]["concept"] in ("ocr.word.error", "ocr.word.ready")
    checked = tellapart.verify("images show the word error", a[:12], b[:12], library=library,
                               cache_dir=tmp_path, progress=False)
    assert "ocr.word.error" in {m["concept"] for m in checked.matches}


def test_warm_run_reads_no_text_again(pool, font_path, tmp_path):
    images = {"a": [_with_word(p, "ERROR", font_path) for p in pool[40:46]],
              "b": [_with_word(p, "READY", font_path) for p in pool[46:52]]}
    sets = {label: ImageSet.from_spec(arrays) for label, arrays in images.items()}
    cold_source = _Counting()
    cold = _library(cold_source).score_sets(sets, cache=ScoreCache(tmp_path))
    assert cold_source.read == 12
    warm_source = _Counting()
    warm = _library(warm_source).score_sets(sets, cache=ScoreCache(tmp_path))
    assert warm_source.read == 0
    assert list(warm.scores.columns) == list(cold.scores.columns)
    assert {"ocr.word.error", "ocr.word.ready"} <= set(warm.scores.columns)
    np.testing.assert_array_equal(warm.scores.to_numpy(), cold.scores.to_numpy())


def test_images_without_text_make_no_word_concepts(pool):
    arrays = [_plain(p) for p in pool[60:72]]
    sets = {"a": ImageSet.from_spec(arrays[:6]),
            "b": ImageSet.from_spec(arrays[6:])}
    table = _library().score_sets(sets)
    assert not [c for c in table.scores.columns if str(c).startswith("ocr.word.")]
    assert set(table.concepts.index) == set(table.scores.columns)


def test_tiny_and_odd_images_do_not_crash():
    source = OcrSource()
    images = [DecodedImage("tiny", "tiny", np.zeros((2, 3, 3), np.uint8), (3, 2)),
              DecodedImage("strip", "strip", np.full((400, 6, 3), 255, np.uint8), (6, 400)),
              DecodedImage("flat", "flat", np.zeros((64, 64, 3), np.uint8), (64, 64))]
    scores, words = source.read_text(images)
    assert scores.shape == (3, len(source.concepts()))
    np.testing.assert_array_equal(scores[:, 0], 0.0)
    assert words == [(), (), ()]


def test_unreadable_file_is_skipped_not_fatal(pool, font_path, tmp_path):
    folder = tmp_path / "a"
    folder.mkdir()
    for i, p in enumerate(pool[80:84]):
        Image.fromarray(_with_word(p, "ERROR", font_path)).save(folder / f"{i}.png")
    (folder / "broken.png").write_bytes(b"\x89PNG not really")
    sets = {"a": ImageSet.from_spec(folder),
            "b": ImageSet.from_spec([_plain(p) for p in pool[84:88]])}
    table = _library().score_sets(sets)
    assert len(table.scores) == 8 and len(table.skipped) == 1


def test_words_are_normalised_and_round_trip_through_the_cache_encoding():
    assert normalise_words(["ERROR404: Ready!", "error x Über"]) == ("error", "404", "ready", "über")
    many = [f"word{i:03d}" for i in range(200)]
    kept = decode_words(encode_words(many))
    assert kept == tuple(many[: len(kept)]) and len(" ".join(kept)) <= WORD_CHARS
    assert decode_words(encode_words(())) == ()
    assert decode_words(encode_words(None)) is None  # the engine failed: unknown, not "no words"
    # A sample's words are those of any of its frames; unknown only when no frame could be read.
    frames = [("stop", "go"), None, None, ("go", "exit")]
    assert union_words(frames, [(1, 1), (1,), (1,)]) == [("stop", "go"), None, ("go", "exit")]


def test_word_concepts_use_pooled_counts_only():
    words = [("stop",)] * 3 + [("go",)] * 2 + [()] * 5 + [None]
    found = word_concepts(words)
    assert [c.id for c in found.concepts] == ["ocr.word.stop"]
    assert found.concepts[0].phrase == "show the word 'stop'"
    np.testing.assert_array_equal(found.scores[:, 0], [1, 1, 1, 0, 0, 0, 0, 0, 0, 0, np.nan])


def test_outlines_are_the_boxes_of_the_text_and_of_each_word(pool, font_path):
    pixels = _with_word(pool[90], "ERROR", font_path)
    image = DecodedImage("k", "error.png", pixels, (256, 192))
    drawn = OcrSource().outlines(image, ["ocr.text", "ocr.word.error", "ocr.word.ready", "stats.brightness"])
    assert set(drawn) == {"ocr.text", "ocr.word.error", "ocr.word.ready"}
    assert len(drawn["ocr.text"]) == 1 and drawn["ocr.word.ready"] == []
    x, y = drawn["ocr.word.error"][0].mean(axis=0)
    assert 0.1 < x < 0.6 and 0.35 < y < 0.65  # the word sits at (16, 70) and is about 130 x 40 px


def test_text_is_reported_on_every_domain():
    from tellapart.stats.reportable import WITHHELD_OFF_DOMAIN

    assert "text" not in WITHHELD_OFF_DOMAIN


def test_shapes_read_as_letters_are_not_text(font_path):
    # Whole-image shapes are read as one character ("A" for a chest X-ray, "O" for a head): not text.
    glyph = Image.new("RGB", (128, 128), "black")
    ImageDraw.Draw(glyph).text((8, -10), "A1", fill="white", font=ImageFont.truetype(font_path, 120))
    disc = Image.new("RGB", (128, 128), "black")
    ImageDraw.Draw(disc).ellipse((10, 10, 118, 118), fill=(200, 200, 200))
    images = [DecodedImage(str(i), str(i), np.asarray(im), (128, 128)) for i, im in enumerate((glyph, disc))]
    scores, words = OcrSource().read_text(images)
    np.testing.assert_array_equal(scores[:, 0], 0.0)
    assert words == [(), ()]


def test_boxes_too_tall_for_a_line_are_not_recognised_and_lines_are_the_engines(pool, font_path, monkeypatch):
    """`read_lines` drops the boxes taller than `MAX_LINE_HEIGHT` before recognition (a scan's whole body,
    boxed by the detector, would cost a recognition per image): the lines are those of rapidocr's own call,
    filtered as before, on a fundus photograph (boxed whole), coins and photos with and without words (none
    of which has a dropped box sharing a recognition batch with a kept one, the one case where a kept line's
    confidence may move slightly: ``concepts.ocr._detect_and_read``)."""
    import skimage.data

    from tellapart.concepts.ocr import (
        DETECTION_SIDE,
        MAX_LINE_HEIGHT,
        MIN_CONFIDENCE,
        MIN_LINE_CHARS,
        _box_height,
        _engine,
        read_lines,
    )

    def engines_own(pixels: np.ndarray) -> list[tuple]:
        output = _engine(DETECTION_SIDE)(np.ascontiguousarray(pixels[..., ::-1]))
        if output.boxes is None or output.txts is None:
            return []
        return [(text, score, np.asarray(box, np.float32).tolist())
                for text, score, box in zip(output.txts, output.scores, output.boxes, strict=True)
                if score >= MIN_CONFIDENCE and sum(ch.isalnum() for ch in text) >= MIN_LINE_CHARS
                and _box_height(np.asarray(box, np.float32)) <= MAX_LINE_HEIGHT * pixels.shape[0]]

    fundus = np.ascontiguousarray(skimage.data.retina()[::2, ::2])
    coins = np.stack([skimage.data.coins()] * 3, axis=-1)
    images = [fundus, coins, _with_word(pool[90], "ERROR", font_path),
              _with_word(pool[91], "NORTH 24", font_path), _plain(pool[92])]
    engine = _engine(DETECTION_SIDE)
    recognise = engine.recognize_txt
    crops_recognised: list[int] = []
    monkeypatch.setattr(engine, "recognize_txt",
                        lambda crops: crops_recognised.append(len(crops)) or recognise(crops))
    got, calls = [], []
    for pixels in images:
        crops_recognised.clear()
        got.append(read_lines(pixels))
        calls.append(list(crops_recognised))
    monkeypatch.undo()
    assert [[(line.text, line.confidence, line.box.tolist()) for line in lines] for lines in got] == [
        engines_own(pixels) for pixels in images]
    assert calls[0] == []  # the fundus: its one box is the whole image, never recognised
    assert [line.text for line in got[2]] == ["ERROR"] and calls[2] == [1]
