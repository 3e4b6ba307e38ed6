"""Everyday objects and people, found and counted by the bundled COCO detector (CenterNet, 80 classes).

Per class, whether an image contains one ("contain a car": the best detection's score) and, for the classes
people count, how many ("contain more people": detections scoring at least ``COUNT_SCORE``); for people,
how much of the image they take up and where the main person stands; for any object, how many there are
and how large the largest is. The boxes behind each concept are drawn in the report (``outlines``).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path

import numpy as np

from tellapart.concepts import onnx_models
from tellapart.concepts.base import Concept
from tellapart.concepts.onnx_models import COCO_LABELS, Box
from tellapart.io.image import DecodedImage

# A class counts as present at this score. Measured for "person": the astronaut scores 0.61; in 32
# mosaics of 0-3 crops of people among lfw crops (as ``bench.suites.photo_mosaics``) the count at 0.3 was
# exact in all; the best person score on the 100 lfw_subset non-face crops is 0.18, on 60 crops of the
# bundled benchmark photos (no one in them) 0.42, with 2 of 60 at 0.3 or more.
PRESENCE_SCORE = 0.3
# A detection counts towards a class's number and the areas at this score: the same as PRESENCE_SCORE, so
# an image that contains a class counts at least one (``human`` reports from 0.2; on the astronaut the
# next boxes called "person", parts of her, score 0.11-0.13).
COUNT_SCORE = 0.3
# Classes whose number people compare ("more people", "more cars"); every class has a presence concept.
COUNTED = (
    "person", "bicycle", "car", "motorcycle", "bus", "truck", "boat", "bird", "cat", "dog", "horse", "sheep",
    "cow", "umbrella", "bottle", "cup", "chair", "potted plant", "book", "traffic light",
)
# How a class is named in a sentence: (singular with its article, plural); the default adds "a"/"an"/"s".
_NAMES = {
    "person": ("a person", "people"), "bus": ("a bus", "buses"), "skis": ("skis", "skis"),
    "sheep": ("a sheep", "sheep"), "scissors": ("scissors", "scissors"), "broccoli": ("broccoli", "broccoli"),
    "sports ball": ("a ball", "balls"), "tv": ("a television", "televisions"), "knife": ("a knife", "knives"),
    "wine glass": ("a wine glass", "wine glasses"), "couch": ("a couch", "couches"),
    "sandwich": ("a sandwich", "sandwiches"), "toothbrush": ("a toothbrush", "toothbrushes"),
    "hot dog": ("a hot dog", "hot dogs"), "mouse": ("a computer mouse", "computer mice"),
    "cell phone": ("a mobile phone", "mobile phones"), "dining table": ("a table", "tables"),
    "hair drier": ("a hair drier", "hair driers"), "teddy bear": ("a teddy bear", "teddy bears"),
    "baseball glove": ("a baseball glove", "baseball gloves"),
    "remote": ("a remote control", "remote controls"),
}

_object = partial(Concept, category="object")


def class_names(label: str) -> tuple[str, str]:
    """Return (singular with its article, plural) of a COCO class, e.g. ("an apple", "apples")."""
    if label in _NAMES:
        return _NAMES[label]
    article = "an" if label[0] in "aeiou" else "a"
    return f"{article} {label}", f"{label}s"


def _slug(label: str) -> str:
    return label.replace(" ", "_")


class ObjectSource:
    """COCO objects and people from the bundled CenterNet detector, as a concept source named ``"object"``.

    Scores: ``object.<class>`` the best detection's score of that class (0 when none scored
    ``onnx_models.OBJECT_MIN_SCORE``); ``object.<class>.count`` the number of its detections scoring at
    least ``COUNT_SCORE``; ``object.count`` that number over all classes; ``object.person.area`` the share
    of the image inside a person's box; ``object.person.horizontal_position`` the horizontal centre of the
    best person's box
    (0 left edge, 1 right edge; NaN without a person, so only images with someone are compared);
    ``object.largest.area`` the share of the image the largest object's box covers (0 without one).
    The detector sees the image stretched to 512 x 512 (its graph's fixed size): about 50 ms per image on
    one core.
    """

    name = "object"
    background = True  # onnxruntime releases the GIL

    def __init__(self) -> None:
        concepts = []
        for label in COCO_LABELS:
            one, many = class_names(label)
            concepts.append(_object(f"object.{_slug(label)}", f"contain {one}", "presence",
                                    threshold=PRESENCE_SCORE, synonyms=(label, many)))
        for label in COUNTED:
            one, many = class_names(label)
            concepts.append(_object(f"object.{_slug(label)}.count", f"number of {many}", "magnitude",
                                    parents=(f"object.{_slug(label)}",), more=f"contain more {many}",
                                    less=f"contain fewer {many}",
                                    synonyms=(f"how many {many}", f"{many} count")))
        concepts += [
            _object("object.count", "number of objects", "magnitude", more="contain more objects",
                    less="contain fewer objects", synonyms=("clutter", "how many things", "busy scene")),
            _object("object.person.area", "share of the image people take up", "magnitude",
                    parents=("object.person",), more="show people taking up more of the image",
                    less="show people taking up less of the image", unit="%",
                    synonyms=("people take up more of the image", "close-up of people", "people far away")),
            # Not ``object.person.x``: concept ids' words are matched to a person's text, and "x" matched it.
            _object("object.person.horizontal_position", "main person's position from the left edge",
                    "magnitude",
                    parents=("object.person",), more="show the main person further right",
                    less="show the main person further left", unit="%",
                    synonyms=("person on the left", "person on the right", "subject off-centre")),
            _object("object.largest.area", "size of the largest object", "magnitude",
                    more="show their largest object taking up more of the image",
                    less="show their largest object taking up less of the image",
                    unit="%", synonyms=("main object size", "object fills the frame")),
        ]
        self._concepts = concepts
        self._index = {c.id: i for i, c in enumerate(concepts)}

    def weight_files(self) -> list[Path]:
        """The ONNX file this source runs (part of the score cache's key)."""
        return onnx_models.weight_files("centernet")

    def concepts(self) -> list[Concept]:
        """Return the object concepts, in the column order of ``score``."""
        return list(self._concepts)

    def score(self, images: Sequence[DecodedImage]) -> np.ndarray:
        """Return float32 (n_images, n_concepts): see the class docstring for each column."""
        out = np.zeros((len(images), len(self._concepts)), dtype=np.float32)
        for row, image in enumerate(images):
            out[row] = self.scores_for(onnx_models.detect_objects(image.pixels))
        return out

    def absent_scores(self) -> np.ndarray:
        """Return float32 (n_concepts,): the scores of an image with no detection (0, and NaN for the main
        person's position); what ``concepts.gate`` gives an image the detector is not run on."""
        return self.scores_for([])

    def scores_for(self, boxes: list[Box]) -> np.ndarray:
        """Return one image's concept scores from its detections (``onnx_models.detect_objects``)."""
        values = np.zeros(len(self._concepts), dtype=np.float32)
        for box in boxes:  # best first, so the first of a class sets its score
            column = self._index[f"object.{_slug(COCO_LABELS[box.label])}"]
            values[column] = max(values[column], box.score)
        counted = [b for b in boxes if b.score >= COUNT_SCORE]
        for label in COUNTED:
            values[self._index[f"object.{_slug(label)}.count"]] = sum(
                COCO_LABELS[b.label] == label for b in counted)
        people = [b for b in counted if b.label == 0]
        values[self._index["object.count"]] = len(counted)
        values[self._index["object.person.area"]] = covered_share(people)
        values[self._index["object.person.horizontal_position"]] = people[0].center[0] if people else np.nan
        values[self._index["object.largest.area"]] = max((_clipped_area(b) for b in counted), default=0.0)
        return values

    def outlines(self, image: DecodedImage, concept_ids: Sequence[str]) -> dict[str, list[np.ndarray]]:
        """Return, for each of this source's ``concept_ids``, the boxes behind its score on ``image`` as
        closed contours of (x, y) image fractions (empty when nothing was detected)."""
        wanted = [cid for cid in concept_ids if cid in self._index]
        if not wanted:
            return {}
        boxes = onnx_models.detect_objects(image.pixels)
        counted = [b for b in boxes if b.score >= COUNT_SCORE]
        out = {}
        for cid in wanted:
            out[cid] = [b.contour() for b in self._boxes_behind(cid, boxes, counted)]
        return out

    def _boxes_behind(self, cid: str, boxes: list[Box], counted: list[Box]) -> list[Box]:
        if cid == "object.count":
            return counted
        if cid == "object.largest.area":
            return sorted(counted, key=_clipped_area)[-1:]
        if cid == "object.person.area":
            return [b for b in counted if b.label == 0]
        if cid == "object.person.horizontal_position":
            return [b for b in counted if b.label == 0][:1]
        label = COCO_LABELS.index(cid.removeprefix("object.").removesuffix(".count").replace("_", " "))
        if cid.endswith(".count"):
            return [b for b in counted if b.label == label]
        return [b for b in boxes if b.label == label][:1]


def _clipped_area(box: Box) -> float:
    width = min(1.0, box.x + box.width) - max(0.0, box.x)
    height = min(1.0, box.y + box.height) - max(0.0, box.y)
    return max(0.0, width) * max(0.0, height)


def covered_share(boxes: list[Box], grid: int = 64) -> float:
    """Return the share of the image inside any of the boxes (overlaps counted once), on a grid x grid
    raster."""
    if not boxes:
        return 0.0
    mask = np.zeros((grid, grid), dtype=bool)
    for box in boxes:
        x0, y0 = (int(np.clip(round(v * grid), 0, grid)) for v in (box.x, box.y))
        x1 = int(np.clip(round((box.x + box.width) * grid), 0, grid))
        y1 = int(np.clip(round((box.y + box.height) * grid), 0, grid))
        mask[y0:y1, x0:x1] = True
    return float(mask.mean())
