"""Text in images, read offline by ``rapidocr`` (PP-OCR text detection and recognition in ONNX, shipped
inside its wheel, run by ``onnxruntime``).

The source ``ocr`` scores four fixed concepts: whether an image contains text, the share of it covered by
text, the number of words read and the height of its text. Text is detected on a copy whose longest side is
`DETECTION_SIDE`, and recognised only in the boxes found (cropped from the full image) that are not too tall
to be a line (`MAX_LINE_HEIGHT`); an image where detection finds nothing else costs one small detector pass.

"Contain the word X" depends on the data, so those concepts are made per run (`word_concepts`), like the
metadata concepts: ``ConceptLibrary`` caches each image's words beside the source's scores (`encode_words`,
under the source's name plus `WORDS_SUFFIX`, so a warm run reads no pixels) and, after scoring, makes one
presence concept for each word read in at least `MIN_WORD_SHARE` of all images pooled (at least
`MIN_WORD_COUNT`), the `MAX_WORDS` most frequent. The choice never looks at the set labels, so the tests
stay valid. A word is a run of letters or of digits (so "ERROR404" gives "error" and "404"), case-folded,
at least two characters long: single characters are mostly misread strokes. Numbers are kept: one read in
many images (a year stamped on every photo of one site) is as much a shortcut as a word.

Nothing is ever downloaded: the engine is pointed at the model files inside the installed wheel
(`model_files`), and their absence is an error that says so.
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from tellapart.concepts.base import Concept
from tellapart.io.image import DecodedImage, Notice

__all__ = ["Line", "OcrSource", "WordConcepts", "decode_words", "encode_words", "model_files",
           "normalise_words", "read_lines", "union_words", "word_concepts"]

# Longest side (px) of the copy text is detected on. Measured on 32 photo crops at 512 x 384 px, each with one
# word rendered (DejaVu Sans, white with a black outline), 1 onnxruntime thread on this 2-core machine: words
# read (of 32) at text heights of 3 / 5 / 8% of the image height, and CPU ms per image without text:
#   160: 8 / 21 / 31, 20 ms;   192: 10 / 21 / 31, 24 ms;   224: 19 / 24 / 31, 32 ms
# (the EfficientNet-Lite0 semantic source then, on PyTorch: 35-60 CPU ms per image in the same conditions;
# on onnxruntime since 2026-12-02 about 13). 160 reads text from about 5% of the image height at well under
# what the backbone then cost, cheap enough to run by default; smaller
# text (a screenshot's, a scan's side markers) needs a larger side at a steeply higher cost.
DETECTION_SIDE = 160
# Lines recognised with a lower confidence are dropped (rapidocr's own default ``text_score``).
MIN_CONFIDENCE = 0.5
# A line counts as text only with at least MIN_LINE_CHARS letters or digits and a box at most MAX_LINE_HEIGHT
# of the image height. Measured on 40 images each of MedMNIST chest X-rays, brain MRI, malaria and blood-cell
# crops and 120 photo crops (none with text): 52 lines were "read", 48 of them one character (a chest read as
# "A", a head as "O" or "0"), and the 3 of two characters from shapes ("A1", "21", "SX") had boxes 0.51-0.99
# of the image height; rendered words and the real-looking reads ("D 24" on an MRI) are 0.09-0.31.
MIN_LINE_CHARS = 2
MAX_LINE_HEIGHT = 0.5
# Images smaller than this (either side, px) hold no legible text and are not run through the models.
MIN_SIDE = 8
# Word concepts: a word must be read in at least this share of all images pooled, and in at least
# MIN_WORD_COUNT of them (with about half in the validation half, fewer could never be significant); the
# MAX_WORDS most frequent such words are tested (as for metadata values, ``concepts.metadata.MAX_VALUES``).
MIN_WORD_SHARE = 0.05
MIN_WORD_COUNT = 3
MAX_WORDS = 20
MIN_WORD_LENGTH = 2
# The cached words of one image: its distinct words, space-separated, as Unicode code points in a float32
# vector (every code point, up to 0x10FFFF, is exact in float32) of this length, zero-padded. Words past it
# (a page of text) are not kept: they could only add word concepts, never change the fixed ones.
WORD_CHARS = 512
WORDS_SUFFIX = ".words"
WORD_COLUMNS = [f"char{i}" for i in range(WORD_CHARS)]
ID_PREFIX = "ocr."
WORD_PREFIX = "ocr.word."

_MODELS = {"det": "PP-OCRv6_det_small.onnx", "rec": "PP-OCRv6_rec_small.onnx",
           "cls": "ch_ppocr_mobile_v2.0_cls_mobile.onnx"}
_TOKEN = re.compile(r"[^\W\d_]+|\d+")


@dataclass(frozen=True)
class Line:
    """One line of text read in an image.

    Attributes:
        text: what was read, as the recogniser returned it.
        confidence: the recogniser's confidence, in [0, 1].
        box: (4, 2) corner points (x, y) in pixels of the image it was read in.
    """

    text: str
    confidence: float
    box: np.ndarray


def model_files() -> dict[str, Path]:
    """Return the paths of the detection, recognition and orientation models inside the installed
    ``rapidocr`` wheel ("det", "rec", "cls"); raise FileNotFoundError naming the missing ones."""
    try:
        import rapidocr
    except ImportError as error:
        raise ImportError("text concepts need the package 'rapidocr' (a dependency of tellapart): "
                          "pip install rapidocr onnxruntime") from error
    folder = Path(rapidocr.__file__).parent / "models"
    files = {task: folder / name for task, name in _MODELS.items()}
    missing = [str(path) for path in files.values() if not path.is_file()]
    if missing:
        raise FileNotFoundError(
            f"rapidocr's bundled OCR models are missing ({', '.join(missing)}); tellapart never downloads "
            "them: reinstall the wheel (pip install --force-reinstall rapidocr==3.10.*) or leave the OCR "
            "source out")
    return files


@cache
def _engine(detection_side: int):
    """A rapidocr engine on the packaged models, detecting at ``detection_side`` px (longest side)."""
    from rapidocr import RapidOCR

    files = model_files()
    params = {
        "Det.model_path": str(files["det"]), "Rec.model_path": str(files["rec"]),
        "Cls.model_path": str(files["cls"]), "Global.model_root_dir": str(files["det"].parent),
        # Upside-down text is rare; the orientation pass would cost a third model call per line.
        "Global.use_cls": False, "Global.log_level": "error",
        "Det.limit_side_len": detection_side, "Det.limit_type": "max",
        "Global.text_score": MIN_CONFIDENCE,
        # One thread: measured faster than two on this 2-core machine (det at 160 px: 20 vs 32 ms), and
        # the library runs this source beside the pixel sources, which use the other core.
        "EngineConfig.onnxruntime.intra_op_num_threads": 1,
        "EngineConfig.onnxruntime.inter_op_num_threads": 1,
    }
    return RapidOCR(params=params)


def read_lines(pixels: np.ndarray, detection_side: int = DETECTION_SIDE) -> list[Line]:
    """Return the lines of text read in an RGB uint8 image (empty when there are none or it is too small),
    without those that are mostly misread shapes (`MIN_LINE_CHARS`, `MAX_LINE_HEIGHT`)."""
    if pixels.ndim != 3 or min(pixels.shape[:2]) < MIN_SIDE:
        return []
    lines = _detect_and_read(_engine(detection_side), np.ascontiguousarray(pixels[..., ::-1]))
    return [line for line in lines
            if line.confidence >= MIN_CONFIDENCE and sum(ch.isalnum() for ch in line.text) >= MIN_LINE_CHARS]


def _detect_and_read(engine, bgr: np.ndarray) -> list[Line]:
    """Return the lines rapidocr's ``engine`` reads in ``bgr`` whose box is at most `MAX_LINE_HEIGHT` of the
    image height (boxes in its pixels), with any confidence, without those read as empty.

    The engine's own steps (rapidocr 3.10: ``RapidOCR.__call__``), except that the boxes too tall to be a
    line are dropped before recognition rather than after it: on scans the detector often boxes the whole
    body (brain MRI: 95 of 120 images, 85 of those boxes taller than half the image; chest X-rays: 42 of
    60, all of them), and recognising that box cost as much as detecting (about 22 ms per image).
    The lines kept are the engine's own, except that a line's confidence can move slightly when a dropped
    box shared its recognition batch (a review's constructed images: 0.0001 or less here, up to 0.03 for a
    crop fed to the recogniser beside a much wider one): the recogniser reads crops in batches of
    6, padded to the batch's widest. On 480 images (scans, smears, photos, 80 with rendered words) all 69
    lines read were identical; ``tests/test_ocr.py`` checks them against the engine's own call.
    """
    from rapidocr.main import RapidOCRError
    from rapidocr.utils.process_img import map_boxes_to_original

    original = engine.load_img(bgr)
    image, record = engine.preprocess_img(original)
    try:
        crops, detected = engine.detect_and_crop(image, record)
    except RapidOCRError:  # the engine's way of saying it detected nothing
        return []
    height, width = original.shape[:2]
    boxes = map_boxes_to_original(detected.boxes, record, height, width)
    kept = [i for i, box in enumerate(boxes) if _box_height(box) <= MAX_LINE_HEIGHT * height]
    if not kept:
        return []
    read = engine.recognize_txt([crops[i] for i in kept])
    return [Line(str(text), float(confidence), np.asarray(boxes[i], dtype=np.float32))
            for i, text, confidence in zip(kept, read.txts, read.scores, strict=True) if str(text).strip()]


def normalise_words(texts: Iterable[str]) -> tuple[str, ...]:
    """Return the distinct words of ``texts`` in reading order: runs of letters or of digits, case-folded,
    at least `MIN_WORD_LENGTH` characters."""
    words = (w for text in texts for w in _TOKEN.findall(text.casefold()) if len(w) >= MIN_WORD_LENGTH)
    return tuple(dict.fromkeys(words))


def encode_words(words: Sequence[str] | None) -> np.ndarray:
    """Return ``words`` as a float32 vector of `WORD_CHARS` code points (space-separated, zero-padded),
    keeping the words that fit whole; None (text unknown: the engine failed) as -1 in the first place."""
    out = np.zeros(WORD_CHARS, dtype=np.float32)
    if words is None:
        out[0] = -1.0
        return out
    text = ""
    for word in words:
        joined = f"{text} {word}" if text else word
        if len(joined) > WORD_CHARS:
            break
        text = joined
    out[: len(text)] = [ord(char) for char in text]
    return out


def decode_words(vector: np.ndarray) -> tuple[str, ...] | None:
    """Return the words `encode_words` stored in ``vector`` (None: unknown)."""
    codes = np.asarray(vector, dtype=np.float32)
    if codes.size and codes[0] < 0:
        return None
    codes = codes[: int(np.argmin(codes > 0)) if (codes <= 0).any() else len(codes)]
    return tuple("".join(chr(int(c)) for c in codes).split())


def _union_area(boxes: Sequence[np.ndarray], shape: tuple[int, int]) -> float:
    """The share of an image of ``shape`` (height, width) covered by the union of the polygons."""
    height, width = shape
    scale = min(1.0, 256 / max(height, width))  # a 256 px mask measures the union to about 1%
    mask = np.zeros((max(1, round(height * scale)), max(1, round(width * scale))), dtype=np.uint8)
    cv2.fillPoly(mask, [np.round(box * scale).astype(np.int32) for box in boxes], 1)
    return float(mask.mean())


def _box_height(box: np.ndarray) -> float:
    """A text box's height in px: the mean length of its two short sides."""
    sides = np.linalg.norm(np.roll(box, -1, axis=0) - box, axis=1)
    return float(min(sides[0] + sides[2], sides[1] + sides[3]) / 2)


class OcrSource:
    """Text read in the image (rapidocr, offline) as one concept source named ``"ocr"``.

    Concepts: ``ocr.text`` (presence: 1 when a line of at least two letters or digits was read with confidence
    `MIN_CONFIDENCE` or more, else 0; not the confidence itself, which differs between words and would make
    two sets that both always show text "contain text more often"), ``ocr.text_area`` (share of the image
    covered by text boxes), ``ocr.words`` (number of words read) and ``ocr.text_height`` ("text line
    height": the median line height as a share of the image height; NaN without text). Each
    image's words are returned by `read_text` for the per-run word concepts (`word_concepts`).

    Parameters:
        detection_side: longest side (px) of the copy text is detected on; larger finds smaller text at a
            steeply higher cost (see `DETECTION_SIDE`).
    """

    name = "ocr"
    background = True  # onnxruntime releases the GIL while a model runs: scored beside the pixel sources

    def __init__(self, detection_side: int = DETECTION_SIDE) -> None:
        if detection_side < 32:
            raise ValueError(f"detection_side must be at least 32 px, got {detection_side}")
        self.detection_side = int(detection_side)
        model_files()  # fail now, with the reason, rather than in the middle of a run
        # (onnxruntime's and rapidocr's versions join every source's key: ``versioning.RUNTIME_PACKAGES``)
        self.cache_config = {"detection_side": self.detection_side}
        text = Concept(f"{ID_PREFIX}text", "contain text", "presence", category="text",
                       synonyms=("text", "writing", "words", "letters", "caption", "label", "OCR"))
        self._concepts = [
            text,
            Concept(f"{ID_PREFIX}text_area", "share of the image covered by text", "magnitude",
                    more="carry more text", less="carry less text", unit="%",
                    category="text", synonyms=("amount of text", "text area")),
            Concept(f"{ID_PREFIX}words", "number of words read", "magnitude", more="show more words",
                    less="show fewer words", category="text",
                    synonyms=("word count", "words")),
            Concept(f"{ID_PREFIX}text_height", "text line height", "magnitude",
                    more="carry larger text", less="carry smaller text", unit="%",
                    category="text", synonyms=("font size", "text size")),
        ]

    def weight_files(self) -> list[Path]:
        """Return the model files the scores depend on (their contents join the cache key)."""
        files = model_files()
        return [files["det"], files["rec"]]

    def concepts(self) -> list[Concept]:
        """Return the text concepts, in the column order of ``score``."""
        return list(self._concepts)

    def score(self, images: Sequence[DecodedImage]) -> np.ndarray:
        """Return a float32 array (n_images, 4) of the text concepts' scores."""
        return self.read_text(images)[0]

    def read_text(self, images: Sequence[DecodedImage]) -> tuple[np.ndarray, list[tuple[str, ...] | None]]:
        """Return (the scores of ``score``, each image's distinct words (`normalise_words`)). An image the
        engine fails on gets NaN scores and None for its words, with a `tellapart.io.image.Notice` warning."""
        scores = np.zeros((len(images), len(self._concepts)), dtype=np.float32)
        words: list[tuple[str, ...] | None] = []
        for i, image in enumerate(images):
            try:
                lines = read_lines(image.pixels, self.detection_side)
            except Exception as error:  # noqa: BLE001 -- one image's failure must not end the run
                warnings.warn(f"text could not be read in {image.source} ({type(error).__name__}: {error}); "
                              "its text concepts are left out", Notice, stacklevel=2)
                scores[i] = np.nan
                words.append(None)
                continue
            found = normalise_words(line.text for line in lines)
            words.append(found)
            if not lines:
                scores[i, 3] = np.nan
                continue
            height = image.pixels.shape[0]
            scores[i] = [1.0,
                         _union_area([line.box for line in lines], image.pixels.shape[:2]),
                         sum(len(_TOKEN.findall(line.text)) for line in lines),
                         float(np.median([_box_height(line.box) for line in lines])) / height]
        return scores, words

    def outlines(self, image: DecodedImage, concept_ids: Sequence[str]) -> dict[str, list[np.ndarray]]:
        """Return, for each of ``concept_ids`` that is this source's or a word concept (`word_concepts`), the
        boxes of the text read in ``image`` (for a word: of the lines it was read in), as (4, 2) arrays of
        (x, y) image fractions; empty without text."""
        own = {c.id for c in self._concepts}
        wanted = [cid for cid in concept_ids if cid in own or cid.startswith(WORD_PREFIX)]
        if not wanted:
            return {}
        height, width = image.pixels.shape[:2]
        lines = [(normalise_words([line.text]), np.clip(line.box / [width, height], 0.0, 1.0))
                 for line in read_lines(image.pixels, self.detection_side)]
        return {cid: [box for words, box in lines
                      if cid in own or cid.removeprefix(WORD_PREFIX) in words] for cid in wanted}


@dataclass
class WordConcepts:
    """The "show the word X" concepts of one run.

    Attributes:
        concepts: one presence concept per word, in the column order of ``scores``.
        scores: float32 (n_samples, len(concepts)): 1 where the word was read in the sample, else 0; NaN for
            a sample whose text is unknown.
    """

    concepts: list[Concept] = field(default_factory=list)
    scores: np.ndarray = field(default_factory=lambda: np.empty((0, 0), dtype=np.float32))


def word_concepts(words: Sequence[Sequence[str] | None]) -> WordConcepts:
    """Return the word concepts of a run from each sample's words (None: unknown), chosen from the pooled
    counts only, never the set labels: words read in at least `MIN_WORD_SHARE` (and `MIN_WORD_COUNT`) of the
    samples whose text is known, but not in all of them, the `MAX_WORDS` most frequent (ties
    alphabetically)."""
    known = [set(w) for w in words if w is not None]
    counts = Counter(word for found in known for word in found)
    needed = max(MIN_WORD_COUNT, MIN_WORD_SHARE * len(known))
    kept = sorted((w for w, n in counts.items() if needed <= n < len(known)), key=lambda w: (-counts[w], w))
    kept = kept[:MAX_WORDS]
    out = WordConcepts(scores=np.empty((len(words), len(kept)), dtype=np.float32))
    for j, word in enumerate(kept):
        out.concepts.append(Concept(f"{WORD_PREFIX}{word}", f"show the word '{word}'", "presence",
                                    parents=(f"{ID_PREFIX}text",), category="text", synonyms=(word,)))
        out.scores[:, j] = [np.nan if w is None else float(word in w) for w in words]
    return out


def union_words(words: Sequence[Sequence[str] | None], layouts: Sequence[Sequence[int]]
                ) -> list[tuple[str, ...] | None]:
    """Return one word list per sample from the word lists of its frames (``layouts`` as in
    ``concepts.library._aggregate``): the words read in any of its frames, in reading order; None for a
    sample none of whose frames could be read."""
    out: list[tuple[str, ...] | None] = []
    start = 0
    for layout in layouts:
        frames = [w for w in words[start : start + int(sum(layout))] if w is not None]
        out.append(tuple(dict.fromkeys(w for frame in frames for w in frame)) if frames else None)
        start += int(sum(layout))
    return out


