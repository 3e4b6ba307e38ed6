"""How the main person in an image holds their body, from the bundled MoveNet's 17 keypoints.

Each pose is a geometric rule on the keypoints the model is confident about, measured in units of the
person's own torso (shoulder midpoint to hip midpoint), so it does not depend on how large they appear;
every rule but "full body visible" and "close-up" therefore needs the shoulders and hips in view:

- **standing**: torso upright (hips below shoulders, within about 40 degrees of vertical) and a leg
  stretched downwards: the knee below the hip and the ankle below the knee, each by more than half a
  torso length.
- **sitting**: torso upright, a thigh level or pointing at the camera (the knee less than 0.4 torso
  lengths below the hip) and no knee in view clearly below its hip (a person on one leg with the other
  knee raised stands).
- **lying**: torso within about 30 degrees of horizontal (more than 60 degrees from vertical).
- **arms raised**: a wrist above its shoulder by more than 0.2 torso lengths.
- **legs apart**: ankles further apart than 0.7 torso lengths.
- **facing the camera**: shoulders wider than half the torso length (a frontal adult's are about 0.7-0.8,
  side-on about 0.1-0.2) with the nose in view; **side-on**: shoulders narrower than 0.3 torso lengths.
- **full body visible**: nose, shoulders, hips, knees and ankles all in view.
- **close-up**: head and shoulders in view, hips not (the frame cuts the person at the chest or closer).

Scores are probability-like: the confidence of the keypoints a rule needs (each mapped from
``VISIBLE_LOW``-``VISIBLE_HIGH`` to 0-1) times a logistic of the rule's margin, and 0 below ``FLOOR``, so
an image without a person scores 0 on all of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path

import numpy as np
from scipy.special import expit

from tellapart.concepts import onnx_models
from tellapart.concepts.base import Concept
from tellapart.concepts.onnx_models import KEYPOINTS
from tellapart.io.image import DecodedImage

# Keypoint confidence mapped to "in view": 0 at or below VISIBLE_LOW, 1 at or above VISIBLE_HIGH. ``human``
# keeps MoveNet keypoints above 0.3; on the astronaut (upper body in frame) the shoulders score 0.53-0.75,
# the hips 0.41-0.44 (at the frame's bottom edge), the wrists and ankles out of view 0.02-0.26.
VISIBLE_LOW = 0.2
VISIBLE_HIGH = 0.4
# Width (in torso lengths) of the logistic ramp around each rule's threshold.
RAMP = 0.08
PRESENCE_THRESHOLD = 0.5
# A seated thigh is level or points at the camera: its knee is less than this many torso lengths below the
# hip (a standing leg's knee is 0.76-0.78 below it, a seated one's -0.14-0.2, on openclipart drawings the
# pose model keypoints confidently). Sitting also needs *no* knee in view this far below its hip: with one
# level thigh as enough, 2 of the 8 openclipart drawings (of 3,227 scanned) scoring sitting >= 0.5 stood
# on one leg with the other knee raised (aerobics, ballet; standing 0.87-0.89); requiring both thighs
# level made them 0.0 and 0.0 and kept the sitting figures (see ``bench.suites.SITTING_DRAWINGS``).
SITTING_THIGH_DROP = 0.4
# A rule scoring below this scores 0: far from holding, it would otherwise still rank an image that merely
# shows the keypoints it needs above one that does not (on 15 standing clip-art figures vs 15 head-and-
# shoulders crops, "legs apart" (true of 2) reached AUROC 1.0 from ankles in view alone).
FLOOR = 0.05
# Skeleton segments drawn in the report as the outline of every pose concept.
BONES = (
    ("left_shoulder", "right_shoulder"), ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
    ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"), ("left_shoulder", "left_hip"),
    ("right_shoulder", "right_hip"), ("left_hip", "right_hip"), ("left_hip", "left_knee"),
    ("left_knee", "left_ankle"), ("right_hip", "right_knee"), ("right_knee", "right_ankle"),
)
_K = {name: i for i, name in enumerate(KEYPOINTS)}

_pose = partial(Concept, category="pose", kind="presence", threshold=PRESENCE_THRESHOLD)
CONCEPTS = [
    _pose(id="pose.standing", phrase="show a person standing", synonyms=("standing", "upright", "on foot")),
    _pose(id="pose.sitting", phrase="show a person sitting", synonyms=("sitting", "seated", "sits")),
    _pose(id="pose.lying", phrase="show a person lying down", synonyms=("lying", "reclining", "horizontal")),
    _pose(id="pose.arms_raised", phrase="show a person with an arm raised",
          synonyms=("arms up", "hands up", "raised hand", "waving")),
    _pose(id="pose.legs_apart", phrase="show a person with legs apart", synonyms=("wide stance", "striding")),
    _pose(id="pose.facing_camera", phrase="show a person facing the camera",
          synonyms=("frontal", "facing forward", "looking at the camera")),
    _pose(id="pose.side_on", phrase="show a person turned side-on to the camera",
          synonyms=("profile", "side view", "sideways")),
    _pose(id="pose.full_body", phrase="show a person's whole body", synonyms=("full body", "head to toe")),
    _pose(id="pose.close_up", phrase="show a person in close-up",
          synonyms=("head and shoulders", "portrait", "upper body only")),
]


def _visible(confidence: np.ndarray | float) -> np.ndarray | float:
    return np.clip((confidence - VISIBLE_LOW) / (VISIBLE_HIGH - VISIBLE_LOW), 0.0, 1.0)


def _ramp(value: float, at: float) -> float:
    return float(expit((value - at) / RAMP))


def pose_scores(keypoints: np.ndarray, aspect: float = 1.0) -> dict[str, float]:
    """Return each pose concept's score (``CONCEPTS`` ids) for one person's (17, 3) keypoints (x, y as
    image fractions, confidence); ``aspect`` is the image's width / height, so distances are isotropic."""
    scale = np.array([max(aspect, 1.0), max(1.0 / aspect, 1.0)])
    xy = keypoints[:, :2] * scale / max(scale)
    seen = _visible(keypoints[:, 2])

    def point(name: str) -> np.ndarray:
        return xy[_K[name]]

    def vis(*names: str) -> float:
        return float(min(seen[_K[n]] for n in names))

    def either(part: str) -> float:  # the better-seen side of a paired part
        return max(vis(f"left_{part}"), vis(f"right_{part}"))

    shoulders = (point("left_shoulder") + point("right_shoulder")) / 2
    hips = (point("left_hip") + point("right_hip")) / 2
    torso = max(float(np.linalg.norm(hips - shoulders)), 1e-6)
    body = vis("left_shoulder", "right_shoulder", "left_hip", "right_hip")
    upright = (hips[1] - shoulders[1]) / torso  # 1: hips straight below the shoulders

    def best_side(rule) -> float:
        return max(rule("left"), rule("right"))

    def standing(side: str) -> float:
        hip, knee, ankle = (point(f"{side}_{p}") for p in ("hip", "knee", "ankle"))
        legs = vis(f"{side}_knee", f"{side}_ankle")
        return legs * _ramp((knee[1] - hip[1]) / torso, 0.5) * _ramp((ankle[1] - knee[1]) / torso, 0.5)

    def thigh_drop(side: str) -> float:
        return (point(f"{side}_knee")[1] - point(f"{side}_hip")[1]) / torso

    def sitting(side: str) -> float:
        return vis(f"{side}_knee") * _ramp(-thigh_drop(side), -SITTING_THIGH_DROP)

    def thigh_down(side: str) -> float:  # a knee in view clearly below its hip: that leg is not seated
        return vis(f"{side}_knee") * _ramp(thigh_drop(side), SITTING_THIGH_DROP)

    def arm_raised(side: str) -> float:
        rise = (point(f"{side}_shoulder")[1] - point(f"{side}_wrist")[1]) / torso
        return vis(f"{side}_shoulder", f"{side}_wrist") * _ramp(rise, 0.2)

    shoulder_width = float(np.linalg.norm(point("left_shoulder") - point("right_shoulder"))) / torso
    ankle_spread = abs(point("left_ankle")[0] - point("right_ankle")[0]) / torso
    upright_score = _ramp(upright, 0.75)
    head = max(vis("nose"), either("eye"))
    scores = {
        "pose.standing": body * upright_score * best_side(standing),
        "pose.sitting": body * upright_score * best_side(sitting) * (1.0 - best_side(thigh_down)),
        "pose.lying": body * _ramp(-abs(upright), -0.5),
        "pose.arms_raised": body * best_side(arm_raised),
        "pose.legs_apart": body * vis("left_ankle", "right_ankle") * _ramp(ankle_spread, 0.7),
        "pose.facing_camera": body * vis("nose") * _ramp(shoulder_width, 0.5),
        "pose.side_on": body * _ramp(-shoulder_width, -0.3),
        "pose.full_body": min(vis("nose"), *(either(p) for p in ("shoulder", "hip", "knee", "ankle"))),
        "pose.close_up": head * either("shoulder") * (1.0 - either("hip")),
    }
    return {cid: value if value >= FLOOR else 0.0 for cid, value in scores.items()}


class PoseSource:
    """People's poses from the bundled MoveNet (SinglePose Lightning: the most prominent person), as a
    concept source named ``"pose"``; the rules are in the module docstring. About 6 ms per image on one
    core (192 px input)."""

    name = "pose"
    background = True  # onnxruntime releases the GIL

    def weight_files(self) -> list[Path]:
        """The ONNX file this source runs (part of the score cache's key)."""
        return onnx_models.weight_files("movenet-lightning")

    def concepts(self) -> list[Concept]:
        """Return the pose concepts, in the column order of ``score``."""
        return list(CONCEPTS)

    def score(self, images: Sequence[DecodedImage]) -> np.ndarray:
        """Return float32 (n_images, 9): each pose's score, in ``CONCEPTS`` order."""
        out = np.zeros((len(images), len(CONCEPTS)), dtype=np.float32)
        for row, image in enumerate(images):
            out[row] = self.scores_for(image.pixels)
        return out

    def scores_for(self, pixels: np.ndarray) -> list[float]:
        """Return one RGB image's pose scores, in ``CONCEPTS`` order."""
        height, width = pixels.shape[:2]
        scores = pose_scores(onnx_models.body_keypoints(pixels), width / height)
        return [scores[c.id] for c in CONCEPTS]

    def outlines(self, image: DecodedImage, concept_ids: Sequence[str]) -> dict[str, list[np.ndarray]]:
        """Return, for each pose concept in ``concept_ids``, the person's skeleton: every bone whose two
        keypoints are in view, as (2, 2) segments of (x, y) image fractions."""
        wanted = [cid for cid in concept_ids if cid.startswith("pose.")]
        if not wanted:
            return {}
        keypoints = onnx_models.body_keypoints(image.pixels)
        bones = [
            np.clip(keypoints[[_K[a], _K[b]], :2].astype(np.float64), 0.0, 1.0)
            for a, b in BONES
            if min(keypoints[_K[a], 2], keypoints[_K[b], 2]) >= (VISIBLE_LOW + VISIBLE_HIGH) / 2
        ]
        return {cid: bones for cid in wanted}
