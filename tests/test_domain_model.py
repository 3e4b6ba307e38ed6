"""The domain model (``stats.reportable.DomainModel``, ``data/domain_model.npz``): photos of everyday things
vs scans, from the backbone's embeddings, decided without the set labels."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from tellapart.concepts.library import ConceptLibrary
from tellapart.concepts.semantics import EMBEDDING_DIM, EMBEDDING_VERSION, SemanticSource
from tellapart.io import ImageSet
from tellapart.schema import ScoreMatrix
from tellapart.stats.reportable import (
    PHOTO_LIKE_SHARE,
    PHOTO_LIKE_TOP1,
    WITHHELD_OFF_DOMAIN,
    declare_domain,
    domain_check,
    reportable_concepts,
    shipped_domain_model,
)

pydicom = pytest.importorskip("pydicom")


def _viewer_slice(name: str) -> np.ndarray:
    """A pydicom test file's pixels as a viewer shows them (modality LUT, then its window), RGB uint8."""
    from pydicom.data import get_testdata_file
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(get_testdata_file(name))
        values = apply_voi_lut(apply_modality_lut(ds.pixel_array, ds), ds).astype(np.float64)
    low, high = values.min(), values.max()
    grey = ((values - low) / max(high - low, 1e-9) * 255).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)


def _crops(image: np.ndarray, n: int, seed: int) -> list[np.ndarray]:
    """``n`` random crops of 50-90% of ``image``'s side, half of them flipped left-right."""
    rng = np.random.default_rng(seed)
    h, w = image.shape[:2]
    out = []
    for _ in range(n):
        side = int(min(h, w) * rng.uniform(0.5, 0.9))
        y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        crop = image[y : y + side, x : x + side]
        out.append(np.ascontiguousarray(crop[:, ::-1] if rng.random() < 0.5 else crop))
    return out


@pytest.fixture(scope="module")
def semantic_library() -> ConceptLibrary:
    return ConceptLibrary([SemanticSource()], learned=None)


@pytest.fixture(scope="module")
def scans(semantic_library) -> ScoreMatrix:
    """CT and MR slices from pydicom's test files: 20 crops each, as sets A and B."""
    ct = _crops(_viewer_slice("CT_small.dcm"), 20, seed=0)
    mr = _crops(_viewer_slice("MR_small.dcm"), 20, seed=1)
    return semantic_library.score_sets({"a": ImageSet.from_spec(ct), "b": ImageSet.from_spec(mr)})


def test_the_shipped_model_loads_and_reads_this_embedding():
    model = shipped_domain_model()
    assert model is not None and model.embedding_version == EMBEDDING_VERSION
    assert model.mean.shape == model.scale.shape == model.coef.shape == (EMBEDDING_DIM,)
    assert np.all(model.scale > 0) and model.version.startswith("domain_model.npz@")


def test_photo_crops_are_photo_like_and_ct_mr_slices_are_not(semantic_library, pool, scans):
    photos = semantic_library.score_sets({"a": ImageSet.from_spec(pool[:20]),
                                          "b": ImageSet.from_spec(pool[20:40])})
    domain = domain_check(photos.scores, photos.concepts["category"], embeddings=photos.embeddings)
    assert domain.photo_like is True and domain.withheld == []
    assert domain.threshold == PHOTO_LIKE_SHARE and domain.value >= PHOTO_LIKE_SHARE
    assert "photos" in domain.text and shipped_domain_model().version in domain.text

    domain = domain_check(scans.scores, scans.concepts["category"], embeddings=scans.embeddings)
    assert domain.photo_like is False and domain.withheld == list(WITHHELD_OFF_DOMAIN)
    assert domain.value < PHOTO_LIKE_SHARE
    # The top-1 rule it replaces lets these slices through: their median top-1 probability is above 0.10.
    fallback = domain_check(scans.scores, scans.concepts["category"])
    assert fallback.threshold == PHOTO_LIKE_TOP1 and "top-1" in fallback.text


def test_photos_diluted_with_fabric_close_ups_stay_photo_like(semantic_library, pool):
    # A collection that mixes photos with other images still names what its photos show: a third of
    # fabric close-ups (which alone are not photo-like) keeps the run photo-like, as the benchmark's
    # diluted pairs are.
    from tellapart.synth.pools import textile_pool

    photos = semantic_library.score_sets({"a": ImageSet.from_spec(pool[:40])})
    fabric = semantic_library.score_sets({"a": ImageSet.from_spec(textile_pool("nominal", 20, seed=0))})
    alone = domain_check(fabric.scores, fabric.concepts["category"], embeddings=fabric.embeddings)
    assert alone.photo_like is False and alone.value == 0.0
    mixed = domain_check(pd.concat([photos.scores, fabric.scores], ignore_index=True),
                         photos.concepts["category"],
                         embeddings=np.vstack([photos.embeddings, fabric.embeddings]))
    assert mixed.photo_like is True
    assert mixed.value == pytest.approx(
        domain_check(photos.scores, photos.concepts["category"], embeddings=photos.embeddings).value * 2 / 3)


def test_the_decision_never_reads_the_set_labels(scans):
    categories = scans.concepts["category"]
    groups = scans.groups
    decided = [reportable_concepts(scans.scores, labels, categories, {}, seed=0,
                                   embeddings=scans.embeddings)[2]
               for labels in (groups, np.random.default_rng(0).permutation(groups), groups[::-1])]
    assert decided[0] == decided[1] == decided[2]
    assert decided[0].photo_like is False


def test_an_embedding_of_another_width_falls_back_to_the_top1_rule(scans):
    narrow = scans.embeddings[:, :100]
    with pytest.warns(UserWarning, match="domain model"):
        domain = domain_check(scans.scores, scans.concepts["category"], embeddings=narrow)
    assert domain.threshold == PHOTO_LIKE_TOP1


@pytest.mark.parametrize("name", ["retina", "immunohistochemistry"])
def test_colour_fundus_and_stained_micrographs_are_not_photo_like(semantic_library, name):
    # Neither image is trained on (scripts/make_domain_model.py holds both out): the model learned from
    # stained copies of grey scans that colour alone does not make a scan a photo. Before, every run of
    # fundus crops was photo-like, and ImageNet names were reported on them ("contain a tick").
    import skimage.data

    crops = _crops(getattr(skimage.data, name)(), 40, seed=3)
    table = semantic_library.score_sets({"a": ImageSet.from_spec(crops)})
    domain = domain_check(table.scores, table.concepts["category"], embeddings=table.embeddings)
    assert domain.photo_like is False and domain.withheld == list(WITHHELD_OFF_DOMAIN)


@pytest.mark.parametrize("name", ["retina", "immunohistochemistry"])
def test_micrographs_turned_onto_a_black_frame_are_not_photos(semantic_library, name):
    # Augmented and scanned collections store fields rotated with black corners (the white-cell smears of
    # ../shared/real); the model trained before framed copies took such smears for photos in every run,
    # and took these held-out crops, framed, for photos 12-15% of the time (now none).
    import skimage.data
    from PIL import Image

    rng = np.random.default_rng(3)
    framed = [np.asarray(Image.fromarray(crop).rotate(rng.uniform(10, 40) * rng.choice((-1, 1)),
                                                      fillcolor=(0, 0, 0)))
              for crop in _crops(getattr(skimage.data, name)(), 40, seed=3)]
    table = semantic_library.score_sets({"a": ImageSet.from_spec(framed)})
    domain = domain_check(table.scores, table.concepts["category"], embeddings=table.embeddings)
    assert domain.photo_like is False and domain.value <= 0.1


def test_a_declared_domain_overrules_the_check_and_keeps_its_measurement(scans):
    measured = domain_check(scans.scores, scans.concepts["category"], embeddings=scans.embeddings)
    assert declare_domain(measured, "auto") is measured
    photos = declare_domain(measured, "photos")
    assert photos.photo_like is True and photos.withheld == [] and photos.value == measured.value
    assert "Declared photos" in photos.text and "would have called them not photos" in photos.text
    other = declare_domain(photos, "other")
    assert other.photo_like is False and other.withheld == list(WITHHELD_OFF_DOMAIN)
    reportable, reasons, _ = reportable_concepts(scans.scores, scans.groups, scans.concepts["category"], {},
                                                 seed=0, domain=photos)
    assert reportable.all() and reasons.empty
    with pytest.raises(ValueError, match="domain must be one of auto, photos, other"):
        declare_domain(measured, "medical")


def test_a_declared_domain_works_where_the_check_cannot_run():
    # No embeddings and no ImageNet columns (a library of pixel statistics and people models): the check
    # cannot decide, and a user's "other" still withholds the people models, with a reason that says so.
    scores = pd.DataFrame({"stats.brightness": [0.1, 0.2, 0.3, 0.4], "pose.sitting": [0.0, 1.0, 0.0, 1.0]})
    categories = {"stats.brightness": "stats", "pose.sitting": "pose"}
    measured = domain_check(scores, categories)
    assert measured.photo_like is None and measured.value is None
    declared = declare_domain(measured, "other")
    reportable, reasons, _ = reportable_concepts(scores, np.array(["a", "a", "b", "b"]), categories, {},
                                                 seed=0, domain=declared)
    assert list(reportable) == [True, False]
    assert "people, poses, faces" in reasons["pose.sitting"] and "declared (other)" in reasons["pose.sitting"]
