"""People, poses, faces and COCO objects from the bundled ONNX models, on real photos that install.

No mocks: the converted models run on scikit-image's astronaut and lfw_subset and on mosaics of real
photos (``bench.suites.photo_mosaics``); the describe tests plant a difference and ask for it first.
"""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data

import tellapart
from tellapart.bench.suites import PEOPLE, photo_mosaics
from tellapart.concepts.faces import CONCEPTS as FACE_CONCEPTS
from tellapart.concepts.faces import FaceSource, find_faces
from tellapart.concepts.image_stats import ImageStatsSource
from tellapart.concepts.library import ConceptLibrary
from tellapart.concepts.objects import ObjectSource
from tellapart.concepts.onnx_models import (
    COCO_LABELS,
    MODEL_NAMES,
    body_keypoints,
    detect_objects,
    model_path,
)
from tellapart.concepts.poses import CONCEPTS as POSE_CONCEPTS
from tellapart.concepts.poses import PoseSource, pose_scores
from tellapart.io.image import DecodedImage
from tellapart.synth.pools import lfw_pool

N = 20  # images per set in the describe tests


def _decoded(pixels: np.ndarray, index: int = 0) -> DecodedImage:
    return DecodedImage(f"test-{index}", f"<memory:{index}>", pixels, (pixels.shape[1], pixels.shape[0]))


def test_models_ship_with_provenance():
    """Every bundled model is in the package, with its licence and provenance."""
    for name in MODEL_NAMES:
        assert model_path(name).stat().st_size > 100_000
    provenance = (model_path("centernet").parent / "PROVENANCE.md").read_text()
    assert "@vladmandic/human" in provenance and all(f"{name}.onnx" in provenance for name in MODEL_NAMES)
    assert "MIT" in (model_path("centernet").parent / "LICENSE").read_text()


def test_astronaut_is_one_person_with_a_smiling_face_facing_the_camera():
    """The astronaut: one person with a box around her, one face there, smiling, shoulders square on."""
    astronaut = skimage.data.astronaut()
    people = [b for b in detect_objects(astronaut) if COCO_LABELS[b.label] == "person" and b.score >= 0.3]
    assert len(people) == 1 and people[0].score > 0.5
    x, y = people[0].center
    assert 0.2 < x < 0.5 and people[0].area > 0.4  # she sits left of centre and fills most of the frame
    faces = find_faces(astronaut)
    assert len(faces) == 1 and faces[0].score > 0.8
    fx, fy = faces[0].center
    assert people[0].x < fx < people[0].x + people[0].width and 0.1 < fy < 0.4
    face_scores = FaceSource().score([_decoded(astronaut)])[0]
    scores = dict(zip((c.id for c in FACE_CONCEPTS), face_scores, strict=True))
    assert scores["face.count"] == 1 and scores["face.smiling"] > 0.9
    assert 20 < scores["face.age"] < 60
    poses = dict(zip((c.id for c in POSE_CONCEPTS), PoseSource().scores_for(astronaut), strict=True))
    assert poses["pose.facing_camera"] > 0.9
    assert poses["pose.lying"] < 0.1 and poses["pose.side_on"] < 0.1


def test_lfw_faces_give_one_face_each_and_non_faces_none():
    """lfw_subset: (almost) every face crop holds exactly one face, (almost) no non-face crop holds one."""
    faces = [len(find_faces(image)) for image in lfw_pool(True, 30, seed=1)]
    others = [len(find_faces(image)) for image in lfw_pool(False, 30, seed=1)]
    assert sum(n == 1 for n in faces) >= 27
    assert sum(n > 0 for n in others) <= 2


def test_people_are_counted_in_mosaics():
    """Mosaics of real photos with 0-3 people in them (the bench's pairs use 1 and 3): the detector counts
    them."""
    source = ObjectSource()
    column = [c.id for c in source.concepts()].index("object.person.count")
    for k in range(4):
        mosaics = photo_mosaics("person", k, 4, seed=3)
        counts = source.score([_decoded(m, i) for i, m in enumerate(mosaics)])[:, column]
        assert np.sum(counts == k) >= 3, (k, counts)


def test_no_person_scores_low_on_every_pose():
    """Poses need a person: on photos of things, every pose concept scores near 0."""
    source = PoseSource()
    for pixels in (skimage.data.coffee(), *lfw_pool(False, 5, seed=2)):
        assert max(source.scores_for(pixels)) < 0.3


def test_pose_rules_on_drawn_keypoints():
    """The geometric rules on hand-placed keypoints: a standing figure, a seated one, one lying down."""
    def figure(points: dict[str, tuple[float, float]]) -> np.ndarray:
        from tellapart.concepts.onnx_models import KEYPOINTS

        out = np.zeros((17, 3), np.float32)
        for i, name in enumerate(KEYPOINTS):
            side_free = name.removeprefix("left_").removeprefix("right_")
            if name in points or side_free in points:
                x, y = points.get(name, points.get(side_free))
                dx = -0.05 if name.startswith("left_") else 0.05 if name.startswith("right_") else 0.0
                out[i] = (x + dx, y, 0.9)
        return out

    head = {"nose": (0.5, 0.1), "eye": (0.5, 0.08), "ear": (0.5, 0.09)}
    standing = figure({**head, "shoulder": (0.5, 0.2), "elbow": (0.5, 0.35), "wrist": (0.5, 0.45),
                       "hip": (0.5, 0.45), "knee": (0.5, 0.68), "ankle": (0.5, 0.9)})
    sitting = figure({**head, "shoulder": (0.5, 0.2), "elbow": (0.5, 0.35), "wrist": (0.6, 0.45),
                      "hip": (0.5, 0.45), "knee": (0.75, 0.47), "ankle": (0.75, 0.7)})
    lying = figure({"nose": (0.1, 0.5), "eye": (0.1, 0.48), "ear": (0.1, 0.49), "shoulder": (0.2, 0.5),
                    "hip": (0.45, 0.5), "knee": (0.68, 0.5), "ankle": (0.9, 0.5), "wrist": (0.4, 0.5)})
    assert pose_scores(standing)["pose.standing"] > 0.9 > 0.1 > pose_scores(standing)["pose.sitting"]
    assert pose_scores(standing)["pose.full_body"] > 0.9
    assert pose_scores(sitting)["pose.sitting"] > 0.9 > 0.1 > pose_scores(sitting)["pose.standing"]
    assert pose_scores(lying)["pose.lying"] > 0.9 > 0.1 > pose_scores(lying)["pose.standing"]
    raised = standing.copy()
    raised[9, 1] = 0.05  # left wrist above the head
    assert pose_scores(raised)["pose.arms_raised"] > 0.9 > 0.1 > pose_scores(standing)["pose.arms_raised"]


def test_outlines_are_the_boxes_and_skeleton_behind_the_scores():
    """The report draws detection boxes (objects, faces) and the skeleton (poses) as contours."""
    image = _decoded(skimage.data.astronaut())
    person = ObjectSource().outlines(image, ["object.person", "object.car", "stats.brightness"])
    assert set(person) == {"object.person", "object.car"} and person["object.car"] == []
    (box,) = person["object.person"]
    assert box.shape == (5, 2) and np.all((box >= 0) & (box <= 1))
    faces = FaceSource().outlines(image, ["face.smiling"])["face.smiling"]
    assert len(faces) == 1
    bones = PoseSource().outlines(image, ["pose.facing_camera"])["pose.facing_camera"]
    assert len(bones) >= 3 and all(b.shape == (2, 2) for b in bones)
    keypoints = body_keypoints(image.pixels)
    assert keypoints.shape == (17, 3)


def _describe(set_a: list[np.ndarray], set_b: list[np.ndarray], sources: list):
    library = ConceptLibrary([ImageStatsSource(), *sources], learned=None)
    return tellapart.describe(set_a, set_b, library=library, describer=None, use_cache=False, progress=False)


def test_describe_names_more_people_first():
    """3 vs 1 people per mosaic: "contain more people" is the top significant finding."""
    result = _describe(photo_mosaics("person", 3, N, seed=10), photo_mosaics("person", 1, N, seed=11),
                       [ObjectSource(), FaceSource()])
    top = result.significant.iloc[0]
    assert top["concept"] in PEOPLE and top["concept"].startswith("object.person"), result.significant.head()
    assert top["direction"] == "a"


def test_describe_names_a_cup_first():
    """1 vs 0 cups per mosaic (the coffee photo's cup among lfw crops): "contain a cup" comes first."""
    result = _describe(photo_mosaics("cup", 1, N, seed=12), photo_mosaics("cup", 0, N, seed=13),
                       [ObjectSource()])
    top = result.significant.iloc[0]
    assert top["concept"] in ("object.cup", "object.cup.count"), result.significant.head()
    assert top["direction"] == "a"


def _square(pixels: np.ndarray, side: int = 160) -> np.ndarray:
    import cv2

    height, width = pixels.shape[:2]
    size = max(height, width)
    out = np.full((size, size, 3), 255, np.uint8)
    top, left = (size - height) // 2, (size - width) // 2
    out[top:top + height, left:left + width] = pixels
    return cv2.resize(out, (side, side), interpolation=cv2.INTER_AREA)


def test_describe_names_whole_body_vs_close_up():
    """Clip-art people the pose model calls whole-body (>= 0.8; by eye: standing figures, head to feet),
    half shown whole, half cut to their head and shoulders: the pose or face size leads the findings."""
    from tellapart.synth.pools import PoolUnavailable, openclipart_pool

    try:
        people = openclipart_pool("people", None, seed=0, part="all")
    except PoolUnavailable:
        pytest.skip("openclipart-png is not installed")
    column = [c.id for c in POSE_CONCEPTS].index("pose.full_body")
    source = PoseSource()
    whole = [p for p in people if source.scores_for(p)[column] >= 0.8]
    assert len(whole) >= 24
    heads = [_square(p[:min(p.shape[1], p.shape[0] // 3), :]) for p in whole[1::2]]
    result = _describe([_square(p) for p in whole[0::2]], heads, [PoseSource(), ObjectSource(), FaceSource()])
    top = result.significant.iloc[0]
    expected = {("pose.full_body", "a"), ("pose.standing", "a"), ("pose.close_up", "b"), ("face.size", "b"),
                ("object.person.area", "b")}
    assert (top["concept"], top["direction"]) in expected, result.significant.head()


def test_sources_cache_key_covers_the_onnx_files():
    """Each source lists the ONNX files it runs, so new weights invalidate cached scores."""
    assert [p.name for p in ObjectSource().weight_files()] == ["centernet.onnx"]
    assert [p.name for p in PoseSource().weight_files()] == ["movenet-lightning.onnx"]
    assert {p.name for p in FaceSource().weight_files()} == {"blazeface.onnx", "faceres.onnx", "emotion.onnx"}


@pytest.mark.parametrize("source", [ObjectSource(), PoseSource(), FaceSource()])
def test_concepts_are_declared_once_with_their_category(source):
    """Concept ids are unique, and each source's concepts carry its category."""
    ids = [c.id for c in source.concepts()]
    assert len(ids) == len(set(ids))
    assert {c.category for c in source.concepts()} == {source.name}
