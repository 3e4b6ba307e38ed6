"""Faces and what models estimate about them: how many, how large, apparent age and expression.

Faces come from the bundled BlazeFace; each face's crop goes to the bundled age model (HSE FaceRes: a
probability for each year of apparent age) and expression model (oarriaga's FER2013 classifier). Age and
expression are *model estimates* of how a face looks, not facts about the person, and the phrases say so
("show a face the model estimates as smiling"). The age model also estimates gender; tellapart does not
report it: a binary guess from appearance is not something a set of images should be described by.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path

import cv2
import numpy as np

from tellapart.concepts import onnx_models
from tellapart.concepts.base import Concept
from tellapart.concepts.onnx_models import EMOTIONS, Box
from tellapart.io.image import DecodedImage

# A face counts at this BlazeFace score. Measured (with the margin below): on scikit-image's 100 lfw_subset
# faces the best score is at least 0.71 in 96 (median 0.85); on its 100 non-face crops at most 0.52; on
# 60 crops of the bundled photos 10% score 0.54 or more, the largest 0.78 (a cat's face scores 0.79 too).
FACE_SCORE = 0.7
# Images whose longest side is at most this get a black margin of MARGIN x their longest side on each
# side first: BlazeFace (trained on faces at a distance) misses or splits a face that fills the frame.
# On 40 lfw face crops (100 px) without a margin it found one face in 32, none in 1, two in 7 (at score
# 0.3); with 25%, 39 of 40 give exactly one face at FACE_SCORE.
SMALL_SIDE = 160
MARGIN = 0.25
# At most this many faces per image get age and expression estimates (the largest; ~25 ms each).
MAX_FACES = 5
# Apparent-age bands (years, lower bound inclusive) with the words the phrases use.
AGE_BANDS = (
    ("child", 0, 13, "under 13 years old"),
    ("young", 13, 30, "13-29 years old"),
    ("middle", 30, 50, "30-49 years old"),
    ("older", 50, 100, "50 or older"),
)
_SMILE = EMOTIONS.index("happy")
_NEUTRAL = EMOTIONS.index("neutral")
PRESENCE_THRESHOLD = 0.5

_face = partial(Concept, category="face")
CONCEPTS = [
    _face("face.count", "number of faces", "magnitude", more="show more faces", less="show fewer faces",
          synonyms=("faces", "how many people", "group photo", "crowd")),
    _face("face.size", "size of the largest face", "magnitude", more="show larger faces",
          less="show smaller faces", unit="%", synonyms=("face close-up", "portrait", "distant faces")),
    _face("face.age", "model-estimated age of the faces", "magnitude",
          more="show faces the model estimates as older", less="show faces the model estimates as younger",
          synonyms=("age", "older people", "younger people", "elderly", "children")),
    *(
        _face(f"face.age.{band}", f"show a face the model estimates as {words}", "presence",
              parents=("face.age",), threshold=PRESENCE_THRESHOLD,
              synonyms={"child": ("children", "kids", "baby"), "young": ("young people", "teenagers"),
                        "middle": ("middle-aged",), "older": ("elderly", "old people", "seniors")}[band])
        for band, _, _, words in AGE_BANDS
    ),
    _face("face.smiling", "show a face the model estimates as smiling", "presence",
          threshold=PRESENCE_THRESHOLD,
          synonyms=("smile", "happy", "smiling people", "laughing")),
    _face("face.neutral", "show a face the model estimates as neutral", "presence",
          threshold=PRESENCE_THRESHOLD,
          synonyms=("neutral expression", "straight face", "serious")),
    _face("face.other_expression",
          "show a face the model estimates as angry, sad, afraid, surprised or disgusted", "presence",
          threshold=PRESENCE_THRESHOLD, synonyms=("angry", "sad", "afraid", "surprised", "negative emotion")),
]
_INDEX = {c.id: i for i, c in enumerate(CONCEPTS)}


def find_faces(pixels: np.ndarray) -> list[Box]:
    """Return the faces scoring at least ``FACE_SCORE`` on an RGB image, best first, as image fractions
    (small images get a margin first, see ``SMALL_SIDE``)."""
    height, width = pixels.shape[:2]
    pad = round(MARGIN * max(height, width)) if max(height, width) <= SMALL_SIDE else 0
    padded = cv2.copyMakeBorder(pixels, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0) if pad else pixels
    faces = [f for f in onnx_models.detect_faces(padded) if f.score >= FACE_SCORE]
    return [Box((f.x * (width + 2 * pad) - pad) / width, (f.y * (height + 2 * pad) - pad) / height,
                f.width * (width + 2 * pad) / width, f.height * (height + 2 * pad) / height, f.score)
            for f in faces]


def absent_scores() -> np.ndarray:
    """Return float32 (n_concepts,): the face scores of an image without a face (0 faces, no presence, NaN
    size and age, so only images with a face are compared on them)."""
    values = np.zeros(len(CONCEPTS), dtype=np.float32)
    values[_INDEX["face.size"]] = values[_INDEX["face.age"]] = np.nan
    return values


def face_scores(pixels: np.ndarray) -> np.ndarray:
    """Return one RGB image's face concept scores, in ``CONCEPTS`` order: counts and sizes from the faces
    found; age and expressions the largest ``MAX_FACES`` faces' model estimates (the mean apparent age,
    and per band or expression the most probable face's probability); NaN size and age without a face."""
    faces = find_faces(pixels)
    values = absent_scores()
    if not faces:
        return values
    values[_INDEX["face.count"]] = len(faces)
    largest = sorted(faces, key=lambda f: -f.area)[:MAX_FACES]
    values[_INDEX["face.size"]] = min(1.0, largest[0].width)
    age, expression = onnx_models.face_attributes(
        [onnx_models.face_crop(pixels, face, onnx_models.FACERES_SIDE) for face in largest])
    years = np.arange(age.shape[1])
    values[_INDEX["face.age"]] = float((age @ years).mean())
    for band, low, high, _ in AGE_BANDS:
        values[_INDEX[f"face.age.{band}"]] = float(age[:, low:high].sum(axis=1).max())
    values[_INDEX["face.smiling"]] = float(expression[:, _SMILE].max())
    values[_INDEX["face.neutral"]] = float(expression[:, _NEUTRAL].max())
    other = 1.0 - expression[:, _SMILE] - expression[:, _NEUTRAL]
    values[_INDEX["face.other_expression"]] = float(other.max())
    return values


class FaceSource:
    """Faces and their estimated age and expression, as a concept source named ``"face"`` (module
    docstring). About 7 ms per image for finding faces, plus about 25 ms per face for the estimates
    (one core)."""

    name = "face"
    background = True  # onnxruntime releases the GIL

    def weight_files(self) -> list[Path]:
        """The ONNX files this source runs (part of the score cache's key)."""
        return onnx_models.weight_files("blazeface", "faceres", "emotion")

    def concepts(self) -> list[Concept]:
        """Return the face concepts, in the column order of ``score``."""
        return list(CONCEPTS)

    def score(self, images: Sequence[DecodedImage]) -> np.ndarray:
        """Return float32 (n_images, n_concepts): ``face_scores`` of each image."""
        out = np.zeros((len(images), len(CONCEPTS)), dtype=np.float32)
        for row, image in enumerate(images):
            out[row] = face_scores(image.pixels)
        return out

    def absent_scores(self) -> np.ndarray:
        """Return the scores of an image without a face (`absent_scores`): what ``concepts.gate`` gives an
        image the face models are not run on."""
        return absent_scores()

    def outlines(self, image: DecodedImage, concept_ids: Sequence[str]) -> dict[str, list[np.ndarray]]:
        """Return, for each face concept in ``concept_ids``, the boxes of the faces found (the largest for
        ``face.size``) as closed contours of (x, y) image fractions."""
        wanted = [cid for cid in concept_ids if cid in _INDEX]
        if not wanted:
            return {}
        faces = find_faces(image.pixels)
        largest = sorted(faces, key=lambda f: -f.area)
        return {cid: [f.contour() for f in (largest[:1] if cid == "face.size" else largest[:MAX_FACES])]
                for cid in wanted}
