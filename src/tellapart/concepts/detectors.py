"""Faces, bodies and cat faces: the Haar cascades that ship inside opencv-python-headless 4.x.

Each cascade runs with ``outputRejectLevels=True`` and ``minNeighbors=0``, so every window that passed all
stages comes back with its final-stage weight. Overlapping windows are grouped (OpenCV's own similarity
rule), and a group's evidence is ``best weight + ln(number of windows)``: a real face lights up many
neighbouring windows with high weights, a texture one or two with low weights. A logistic squash of the
evidence gives a continuous, probability-like score, so an AUROC over images is informative even when no
group would pass OpenCV's default ``minNeighbors=3``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path

import cv2
import numpy as np

from tellapart.concepts.base import Concept
from tellapart.io.image import DecodedImage

# Working sizes (longest side, px) of the frontal-face pass and of the profile, body and cat passes. Measured
# on 48 photo crops of 400-512 px (2 cores): 320/192 cost 43 ms per image, 256/160 27 ms, 192/128 16 ms; the
# lfw_subset face AUROC is 0.995 at all three, but the astronaut's face (20% of the image width) scores
# 0.94, 0.79 and 0.17. 256/160 keeps faces down to about 10% of the longest side at 60% of the cost.
MAX_SIDE = 256
SECONDARY_SIDE = 160
SCALE_FACTOR = 1.2
TINY_SIDE = 64  # smaller images (e.g. 25 px face crops) are upscaled to this first...
PAD_BELOW_SIDE = 160  # ...and images this small (as given) get a 25% margin, so a cropped face fits a window
GROUP_EPS = 0.2
PRESENCE_THRESHOLD = 0.5


@dataclass(frozen=True)
class CascadeSpec:
    """One bundled cascade and how its evidence maps to a score.

    ``center`` is the evidence at which the score is 0.5. Frontal faces: 6.0, measured: lfw_subset faces
    reach 8-13, the strongest false alarm on the non-face sample photos about 4.7. The other cascades have
    no labelled data offline; 3.0 is roughly what OpenCV's default ``minNeighbors=3`` asks for (4 grouped
    windows, ln 4 = 1.4, with a final-stage margin around 1.6).
    """

    filename: str
    min_size: tuple[int, int]
    center: float
    primary: bool  # runs at the primary working size (else the secondary one)


SPECS = {
    "frontal_face": CascadeSpec("haarcascade_frontalface_default.xml", (24, 24), 6.0, True),
    "profile_face": CascadeSpec("haarcascade_profileface.xml", (24, 24), 3.0, False),
    "person_body": CascadeSpec("haarcascade_fullbody.xml", (20, 40), 3.0, False),
    "cat_face": CascadeSpec("haarcascade_frontalcatface.xml", (24, 24), 3.0, False),
}


@dataclass(frozen=True)
class Detection:
    """A group of overlapping cascade windows, in the image's pixel coordinates.

    Attributes:
        box: (x, y, width, height) of the group's strongest window.
        weight: the strongest window's final-stage weight.
        hits: how many windows the group holds.
        score: logistic squash of ``weight + ln(hits)`` around the cascade's centre, in (0, 1).
    """

    box: tuple[float, float, float, float]
    weight: float
    hits: int
    score: float


@cache
def _cascade(filename: str) -> cv2.CascadeClassifier:
    classifier = cv2.CascadeClassifier(cv2.data.haarcascades + filename)
    if classifier.empty():
        raise RuntimeError(f"OpenCV could not load {filename}; opencv-python-headless 4.x ships it")
    return classifier


def prepare_gray(pixels: np.ndarray, max_side: int) -> tuple[np.ndarray, float, int]:
    """Return (equalised uint8 gray image, scale applied, padding added on each side) for a cascade pass.

    Large images shrink so the longest side is ``max_side``; tiny ones grow to ``TINY_SIDE`` and small ones
    get a replicated 25% margin, because a face cropped at its edges leaves no room for a detection window.
    """
    gray = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY) if pixels.ndim == 3 else pixels
    longest = max(gray.shape[:2])
    scale = max_side / longest if longest > max_side else max(1.0, TINY_SIDE / longest)
    if scale != 1.0:
        size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
        gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    pad = max(gray.shape[:2]) // 4 if longest <= PAD_BELOW_SIDE else 0
    if pad:
        gray = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    return cv2.equalizeHist(gray), scale, pad


def detect(pixels: np.ndarray, kind: str, max_side: int | None = None) -> list[Detection]:
    """Return the grouped detections of one cascade (``"frontal_face"``, ``"profile_face"``, ...), best first.

    ``max_side`` is the working size (default: `MAX_SIDE` for frontal faces, `SECONDARY_SIDE` otherwise).
    Profile faces are searched in the image and its mirror, as the cascade only knows one side of the face.
    """
    spec = SPECS[kind]
    side = max_side or (MAX_SIDE if spec.primary else SECONDARY_SIDE)
    gray, scale, pad = prepare_gray(pixels, side)
    found = _run(gray, spec)
    if kind == "profile_face":
        width = gray.shape[1]
        mirrored = _run(cv2.flip(gray, 1), spec)
        found += [(width - x - w, y, w, h, weight, hits) for x, y, w, h, weight, hits in mirrored]
    detections = [
        Detection(
            box=((x - pad) / scale, (y - pad) / scale, w / scale, h / scale),
            weight=weight,
            hits=hits,
            score=_squash(weight + math.log(hits) - spec.center),
        )
        for x, y, w, h, weight, hits in found
    ]
    return sorted(detections, key=lambda d: -d.score)


def _run(gray: np.ndarray, spec: CascadeSpec) -> list[tuple[int, int, int, int, float, int]]:
    rects, _, weights = _cascade(spec.filename).detectMultiScale3(
        gray, scaleFactor=SCALE_FACTOR, minNeighbors=0, minSize=spec.min_size, outputRejectLevels=True
    )
    if len(rects) == 0:
        return []
    return _group(np.asarray(rects), np.asarray(weights, dtype=np.float64).ravel())


def _group(rects: np.ndarray, weights: np.ndarray) -> list[tuple[int, int, int, int, float, int]]:
    """Group windows like cv2.groupRectangles (corners within eps of the smaller size), strongest first."""
    groups: list[list] = []
    for i in np.argsort(-weights, kind="stable"):
        x, y, w, h = (int(v) for v in rects[i])
        for group in groups:
            gx, gy, gw, gh = group[:4]
            delta = GROUP_EPS * (min(w, gw) + min(h, gh)) * 0.5
            if (
                abs(x - gx) <= delta
                and abs(y - gy) <= delta
                and abs(x + w - gx - gw) <= delta
                and abs(y + h - gy - gh) <= delta
            ):
                group[5] += 1
                break
        else:
            groups.append([x, y, w, h, float(weights[i]), 1])
    return [tuple(g) for g in groups]


def _squash(evidence: float) -> float:
    return 1.0 / (1.0 + math.exp(-evidence))


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def merge_faces(frontal: list[Detection], profile: list[Detection], iou: float = 0.3) -> list[Detection]:
    """Return one detection per face: frontal and profile groups that overlap count once (the stronger)."""
    merged: list[Detection] = []
    for detection in sorted(frontal + profile, key=lambda d: -d.score):
        if all(_iou(detection.box, kept.box) < iou for kept in merged):
            merged.append(detection)
    return merged


_detector = partial(Concept, category="cascade")  # every concept of this source is a cascade's detection


class DetectorSource:
    """Concepts from the bundled OpenCV cascades: faces (frontal, profile), full bodies, cat faces.

    Scores are probability-like (see `CascadeSpec`), except ``detector.face_count``: the expected number
    of faces, i.e. the sum of the face scores, which keeps it continuous.

    Args:
        max_side: working size (longest side, px) of the frontal-face pass; the smallest face found is
            24 px there, i.e. 7.5% of the image's longest side at 320.
        secondary_side: working size of the profile-face, full-body and cat-face passes (smallest profile
            or cat face: 12.5% of the longest side at 192; smallest body: 21% of it tall).
    """

    name = "detector"

    def __init__(self, max_side: int = MAX_SIDE, secondary_side: int = SECONDARY_SIDE):
        self.max_side = max_side
        self.secondary_side = secondary_side
        # Scores depend on the working sizes: a salt of the cache key (``concepts.versioning``).
        self.cache_config = {"max_side": max_side, "secondary_side": secondary_side}

    def weight_files(self) -> list[Path]:
        """The cascade files OpenCV ships and this source loads (part of the score cache's key)."""
        return [Path(cv2.data.haarcascades) / spec.filename for spec in SPECS.values()]

    def concepts(self) -> list[Concept]:
        """Return the detector concepts, in the column order of ``score``."""
        face = ("face", "human face", "person's face", "portrait", "people")
        return [
            _detector("detector.face", "show a human face", "presence", threshold=PRESENCE_THRESHOLD,
                    synonyms=face),
            _detector("detector.frontal_face", "show a human face from the front", "presence",
                    parents=("detector.face",), threshold=PRESENCE_THRESHOLD,
                    synonyms=("frontal face", "face looking at the camera")),
            _detector("detector.profile_face", "show a human face in profile", "presence",
                    parents=("detector.face",), threshold=PRESENCE_THRESHOLD,
                    synonyms=("profile face", "side view of a face", "face turned sideways")),
            _detector("detector.person_body", "show a full human body", "presence",
                    threshold=PRESENCE_THRESHOLD,
                    synonyms=("full body", "whole person", "standing person", "pedestrian")),
            _detector("detector.cat_face", "show a cat's face", "presence", threshold=PRESENCE_THRESHOLD,
                    synonyms=("cat face", "cat", "kitten")),
            # Phrased apart from the face model's count (``concepts.faces``: "number of faces"), which
            # counts whole faces; this is the cascades' expected count, a weaker, continuous reading.
            _detector("detector.face_count", "expected number of faces (OpenCV cascades)", "magnitude",
                    parents=("detector.face",), more="show more faces to the OpenCV cascades",
                    less="show fewer faces to the OpenCV cascades",
                    synonyms=("faces", "crowd", "group photo", "how many people")),
        ]

    def absent_scores(self) -> np.ndarray:
        """Return float32 (6,): the scores of an image in which no cascade finds anything (all 0, as
        `score` gives one), for images the photo gate (``concepts.gate``) does not show the cascades."""
        return np.zeros(len(self.concepts()), dtype=np.float32)

    def score(self, images: Sequence[DecodedImage]) -> np.ndarray:
        """Return float32 (n_images, 6): face, frontal, profile, body and cat-face scores, then face count."""
        out = np.zeros((len(images), 6), dtype=np.float32)
        for row, image in enumerate(images):
            out[row] = self._score_one(image.pixels)
        return out

    def detections(self, image: DecodedImage) -> dict[str, list[Detection]]:
        """Return every cascade's grouped detections for one image, keyed by kind (for reports, debugging)."""
        return self.detections_for(image.pixels)

    def _detect(self, pixels: np.ndarray, kind: str) -> list[Detection]:
        return detect(pixels, kind, self.max_side if SPECS[kind].primary else self.secondary_side)

    def _score_one(self, pixels: np.ndarray) -> list[float]:
        found = self.detections_for(pixels)

        def best(kind: str) -> float:
            return found[kind][0].score if found[kind] else 0.0

        faces = merge_faces(found["frontal_face"], found["profile_face"])
        face = max(best("frontal_face"), best("profile_face"))
        count = sum(d.score for d in faces)
        parts = [best(kind) for kind in ("frontal_face", "profile_face", "person_body", "cat_face")]
        return [face, *parts, count]

    def detections_for(self, pixels: np.ndarray) -> dict[str, list[Detection]]:
        """Return every cascade's grouped detections for one RGB (or gray) pixel array, keyed by kind."""
        return {kind: self._detect(pixels, kind) for kind in SPECS}
