"""The photo gate (``concepts.gate``): the people, pose, face, cascade and object models run only where the
domain model could call the image a photo; the other images get each source's "nothing found" scores."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data

from tellapart.concepts.cache import ScoreCache
from tellapart.concepts.detectors import DetectorSource
from tellapart.concepts.faces import FaceSource
from tellapart.concepts.gate import GATE_P, PhotoGate, absent_row, photo_gate
from tellapart.concepts.image_stats import ImageStatsSource
from tellapart.concepts.library import ConceptLibrary
from tellapart.concepts.objects import ObjectSource
from tellapart.concepts.poses import CONCEPTS as POSE_CONCEPTS
from tellapart.concepts.poses import PoseSource, pose_scores
from tellapart.concepts.semantics import EMBEDDING_VERSION, SemanticSource
from tellapart.io import ImageSet, decode_object
from tellapart.stats.reportable import shipped_domain_model

pytestmark = pytest.mark.skipif(shipped_domain_model() is None, reason="no domain model in the package")


def _images() -> list[np.ndarray]:
    """Four crops of scikit-image's cell micrograph and moon surface (P(photo) 0.000-0.005) and four photos
    (P(photo) 1.000)."""
    cell, moon = skimage.data.cell(), skimage.data.moon()
    crops = [np.stack([gray[y:y + 256, x:x + 256]] * 3, axis=-1)
             for gray, y, x in ((cell, 0, 0), (cell, 0, 200), (cell, 0, 400), (moon, 0, 0))]
    photos = [skimage.data.astronaut()[:384, 64:448], skimage.data.astronaut()[::2, ::2],
              skimage.data.coffee(), skimage.data.chelsea()]
    return crops + photos


def _library(gate: bool) -> ConceptLibrary:
    return ConceptLibrary([ImageStatsSource(), SemanticSource(), *_gated()], learned=None, gate=gate)


def _gated() -> list:
    """The sources behind the gate: the COCO objects, faces, poses and OpenCV cascades."""
    return [ObjectSource(), FaceSource(), PoseSource(), DetectorSource()]


def _columns(matrix, source) -> np.ndarray:
    return matrix.scores[[c.id for c in source.concepts()]].to_numpy()


def test_gated_images_get_the_absent_row_and_the_others_the_models_scores(tmp_path):
    sets = {"a": ImageSet.from_spec(_images()[:4]), "b": ImageSet.from_spec(_images()[4:])}
    gated_library, plain_library = _library(True), _library(False)
    assert gated_library.photo_gate is not None and plain_library.photo_gate is None
    gated = gated_library.score_sets(sets, cache=ScoreCache(tmp_path / "cache"))
    plain = plain_library.score_sets(sets)
    runs = gated_library.photo_gate.runs_on(gated_library.backbone_embeddings(gated.embeddings))
    assert list(runs) == [False] * 4 + [True] * 4  # the micrographs are skipped, the photos are not
    for source in _gated():
        got, full = _columns(gated, source), _columns(plain, source)
        np.testing.assert_array_equal(got[runs], full[runs])
        np.testing.assert_array_equal(got[~runs], np.tile(absent_row(source), (4, 1)))
    # Without the gate the models find things in the micrograph and the moon: the gate changes those rows.
    changed = [not np.array_equal(_columns(gated, s)[~runs], _columns(plain, s)[~runs], equal_nan=True)
               for s in _gated()]
    assert any(changed)
    # A warm run reads the same rows back from the cache.
    warm = _library(True).score_sets(sets, cache=ScoreCache(tmp_path / "cache"))
    np.testing.assert_array_equal(warm.scores.to_numpy(), gated.scores.to_numpy())


def test_the_gate_salts_the_gated_sources_cache_keys_only():
    gated, plain = _library(True), _library(False)
    for name in ("object", "face", "pose", "detector"):
        assert gated._keys[name] != plain._keys[name]
    for name in ("stats", "semantic"):
        assert gated._keys[name] == plain._keys[name]
    model = shipped_domain_model()
    assert model.version in PhotoGate(model).version
    assert PhotoGate(model, 0.2).version != PhotoGate(model, GATE_P).version


def test_no_gate_for_another_embedding_version():
    assert photo_gate(EMBEDDING_VERSION) is not None
    assert photo_gate(EMBEDDING_VERSION + "-other") is None
    assert photo_gate(None) is None


def test_absent_rows_are_what_each_model_gives_an_image_without_anything():
    objects = ObjectSource()
    np.testing.assert_array_equal(absent_row(objects), objects.scores_for([]))
    face_row = absent_row(FaceSource())
    ids = [c.id for c in FaceSource().concepts()]
    assert face_row[ids.index("face.count")] == 0 and np.isnan(face_row[ids.index("face.size")])
    # Poses declare no absent row: all presence concepts, so zeros, which is also what the pose rules give
    # a person with no keypoint in view.
    no_one = pose_scores(np.zeros((17, 3), np.float32))
    np.testing.assert_array_equal(absent_row(PoseSource()), [no_one[c.id] for c in POSE_CONCEPTS])
    # The cascades: what they give an image with no face, body or cat in it (a flat grey square).
    cascades = DetectorSource()
    flat = decode_object(np.full((128, 128, 3), 128, np.uint8), "<grey>", "grey")
    np.testing.assert_array_equal(absent_row(cascades), cascades.score([flat])[0])
    assert absent_row(ImageStatsSource()) is None  # not a photo model: never gated


def test_a_detector_of_the_users_own_is_neither_gated_nor_withheld():
    """Category "detector" is for any detector (a ruler, a scanner's marker: shortcuts worth finding on
    scans); only the photo models' categories, the cascades' "cascade" among them, are gated and withheld."""
    from tellapart.concepts.base import Concept
    from tellapart.stats.reportable import WITHHELD_OFF_DOMAIN

    class MarkerSource:
        name = "marker"

        def concepts(self) -> list[Concept]:
            return [Concept("marker.white", "carry a white marker", "presence", threshold=0.5,
                            category="detector")]

        def score(self, images) -> np.ndarray:
            return np.asarray([[float(image.pixels.max() >= 250)] for image in images], np.float32)

    assert absent_row(MarkerSource()) is None and "detector" not in WITHHELD_OFF_DOMAIN
    library = ConceptLibrary([SemanticSource(), MarkerSource(), DetectorSource()], learned=None)
    # Gated: the cascades' source (named "detector"), not the marker.
    assert library.photo_gate is not None and set(library._absent) == {DetectorSource.name}
    assert {c.category for c in DetectorSource().concepts()} == {"cascade"}
    assert "cascade" in WITHHELD_OFF_DOMAIN


def test_the_same_rows_when_the_backbone_runs_in_the_calling_thread():
    """The gated sources wait for the backbone's embeddings wherever it runs: in a worker (the default) or,
    for a backbone that is not ``background``, in the calling thread."""
    sets = {"a": ImageSet.from_spec(_images()[:4]), "b": ImageSet.from_spec(_images()[4:])}
    here = SemanticSource()
    here.background = False
    in_worker = _library(True).score_sets(sets)
    in_caller = ConceptLibrary([ImageStatsSource(), here, *_gated()], learned=None).score_sets(sets)
    np.testing.assert_allclose(in_caller.scores.to_numpy(), in_worker.scores.to_numpy(), atol=1e-5)
