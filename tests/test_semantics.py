"""The ImageNet class list, the WordNet hierarchy built from it, and the bundled classifier on real photos."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from skimage import data

from tellapart.concepts import semantics, wordnet
from tellapart.concepts.semantics import SemanticSource, preprocess
from tellapart.io.image import DecodedImage

ROOT = Path(__file__).resolve().parents[1]
WORDNET = Path("/usr/share/wordnet/data.noun")


def _decoded(pixels: np.ndarray, index: int) -> DecodedImage:
    return DecodedImage(f"key{index}", f"<memory:{index}>", pixels, (pixels.shape[1], pixels.shape[0]))


@pytest.fixture(scope="module")
def source() -> SemanticSource:
    return SemanticSource()


@pytest.fixture(scope="module")
def photo_scores(source: SemanticSource) -> dict[str, dict[str, float]]:
    photos = {"chelsea": data.chelsea(), "coffee": data.coffee(), "astronaut": data.astronaut()}
    scores, _ = source.score([_decoded(p, i) for i, p in enumerate(photos.values())])
    ids = [c.id for c in source.concepts()]
    return {name: dict(zip(ids, row.tolist(), strict=True)) for name, row in zip(photos, scores, strict=True)}


def test_class_list_is_imagenet_order():
    classes = wordnet.imagenet_classes()
    assert len(classes) == 1000
    assert len({wnid for wnid, _ in classes}) == 1000
    assert [wnid for wnid, _ in classes] == sorted(wnid for wnid, _ in classes)  # ImageNet sorts by wnid
    assert classes[285] == ("n02124075", "Egyptian_cat")
    assert classes[967] == ("n07920052", "espresso")


def test_dog_covers_the_118_dog_breeds():
    hierarchy = wordnet.load_hierarchy()
    dog = hierarchy.node("semantic.dog")
    assert dog.id == "n02084071"
    assert dog.classes == tuple(range(151, 269))
    assert "semantic.canine" in wordnet.ancestors("semantic.dog")
    nearest = wordnet.ancestors("semantic.beagle")[:3]
    assert nearest == ("semantic.hound", "semantic.hunting_dog", "semantic.dog")


def test_hierarchy_nodes_are_nameable_and_consistent():
    hierarchy = wordnet.load_hierarchy()
    leaves = [n for n in hierarchy.nodes if n.class_index is not None]
    internal = [n for n in hierarchy.nodes if n.class_index is None]
    assert sorted(n.class_index for n in leaves) == list(range(1000))
    assert all(len(n.classes) >= 2 for n in internal)
    assert len({n.slug for n in hierarchy.nodes}) == len(hierarchy.nodes)
    # the abstract top of WordNet is left out; artifact is kept under a name that cannot mean "image defect"
    assert "n00001740" not in hierarchy.by_id and "n00002684" not in hierarchy.by_id
    assert hierarchy.node("n00021939").name == "man-made object"
    # a parent always covers every class of its child
    for node in hierarchy.nodes:
        for parent in node.parents:
            assert set(node.classes) <= set(hierarchy.by_id[parent].classes), (node.name, parent)
    assert wordnet.is_related("semantic.bird", "semantic.goldfinch")
    assert wordnet.is_related("n02084071", "semantic.beagle")
    assert not wordnet.is_related("semantic.cat", "semantic.beagle")
    assert not wordnet.is_related("stats.brightness", "semantic.dog")
    with pytest.raises(KeyError):
        wordnet.ancestors("semantic.unicorn")


@pytest.mark.skipif(not WORDNET.exists(), reason="needs Debian's wordnet-base")
def test_shipped_hierarchy_is_what_the_script_builds():
    spec = importlib.util.spec_from_file_location("build", ROOT / "scripts" / "build_imagenet_hierarchy.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    classes = [tuple(pair) for pair in json.loads(build.CLASSES_PATH.read_text())]
    document = build.build(classes, build.parse_wordnet(WORDNET))
    shipped = json.loads((ROOT / "src" / "tellapart" / "data" / "imagenet_hierarchy.json").read_text())
    assert document == shipped


def test_concepts_read_as_phrases(source: SemanticSource):
    concepts = {c.id: c for c in source.concepts()}
    assert len(concepts) == len(wordnet.load_hierarchy().nodes)
    assert concepts["semantic.dog"].phrase == "contain a dog"
    assert concepts["semantic.animal"].phrase == "contain an animal"
    assert concepts["semantic.food"].phrase == "contain food"
    assert concepts["semantic.egyptian_cat"].phrase == "contain an Egyptian cat"
    assert "semantic.canine" in concepts["semantic.dog"].parents
    for concept_id in ("semantic.bird", "semantic.vehicle", "semantic.musical_instrument"):
        assert concepts[concept_id].kind == "presence" and concepts[concept_id].threshold == 0.5
    assert "domestic dog" in concepts["semantic.dog"].synonyms


def test_preprocess_is_normalised_nchw():
    batch = preprocess([data.coffee(), data.camera()])  # RGB 400x600 and grayscale 512x512
    assert batch.shape == (2, 3, 224, 224) and batch.dtype == torch.float32
    assert batch.is_contiguous(memory_format=torch.channels_last)
    assert -1.0 <= float(batch.min()) < -0.9 and 0.9 < float(batch.max()) <= 128 / 128
    assert torch.allclose(batch[1, 0], batch[1, 2])  # gray stays gray


def test_model_is_lazy_until_first_score():
    code = (
        "import tellapart.concepts.semantics as s; source = s.SemanticSource(); source.concepts(); "
        "assert source.backbone._model is None; print('lazy')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONPATH": str(ROOT / "src")}
    )
    assert result.returncode == 0 and "lazy" in result.stdout, result.stderr


def test_fast_model_matches_plain_model():
    x = preprocess([data.chelsea(), data.rocket(), data.astronaut()])
    plain = semantics.build_model(fast=False)
    fast = semantics.Backbone().model
    assert not fast.training and not plain.training
    with torch.inference_mode():
        p_plain = torch.softmax(plain(x.contiguous()), dim=1)
        p_fast = torch.softmax(fast(x), dim=1)
    assert float((p_plain - p_fast).abs().max()) < 1e-4


def test_onnxruntime_pass_is_the_pytorch_pass_whatever_the_threads_and_batches():
    # Real photos, a micrograph, a fundus and a grayscale shot; the shipped graph holds no weights, so this
    # also checks that the installed package's weights reach every initializer.
    photos = [data.chelsea(), data.rocket(), data.astronaut(), data.immunohistochemistry(), data.retina(),
              np.dstack([data.camera()] * 3)]
    one_thread = semantics.Backbone(threads=1)
    x = preprocess(photos)
    expected_features, expected_probabilities = semantics.torch_forward(one_thread.model, x)
    features, probabilities = one_thread.forward(x)
    assert features.dtype == probabilities.dtype == np.float32
    np.testing.assert_allclose(features, expected_features, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(probabilities, expected_probabilities, atol=1e-5)
    assert (probabilities.argmax(axis=1) == expected_probabilities.argmax(axis=1)).all()
    # The score cache and a Ray cluster score images one by one or in other batches, on other thread
    # counts: the numbers must not move.
    singles = [one_thread.forward(x[i : i + 1]) for i in range(len(photos))]
    two_threads = semantics.Backbone(threads=2).forward(x)
    assert semantics._sessions[2].get_session_options().intra_op_num_threads == 2  # two sessions compared
    for got in (tuple(np.concatenate(part) for part in zip(*singles, strict=True)), two_threads):
        np.testing.assert_array_equal(got[0], features)
        np.testing.assert_array_equal(got[1], probabilities)


def test_a_backbone_that_has_run_travels_without_its_network_or_sessions():
    import pickle

    backbone = semantics.Backbone(threads=1)
    backbone.forward(preprocess([data.chelsea()]))
    assert backbone.model is not None  # both the session and the PyTorch network are loaded now
    payload = pickle.dumps(SemanticSource(backbone=backbone))  # what a Ray actor receives, in part
    copy = pickle.loads(payload)
    assert copy.backbone._model is None and copy.backbone.threads == 1
    assert len(pickle.dumps(backbone)) < 1000  # no weights travel: the actor loads its own


def test_chelsea_is_a_domestic_cat(photo_scores):
    scores = photo_scores["chelsea"]
    hierarchy = wordnet.load_hierarchy()
    shown = [n for n in hierarchy.nodes if n.class_index is None and scores[n.concept_id] >= 0.5]
    most_specific = min(shown, key=lambda n: len(n.classes))
    assert most_specific.concept_id in {"semantic.domestic_cat", "semantic.cat"}
    assert scores["semantic.animal"] > 0.9 and scores["semantic.man_made_object"] < 0.1
    assert scores["semantic.dog"] < 0.05


def test_coffee_is_a_beverage(photo_scores):
    scores = photo_scores["coffee"]
    assert scores["semantic.beverage"] > 0.5 and scores["semantic.food"] >= scores["semantic.beverage"]
    assert scores["semantic.espresso"] > 0.5
    assert scores["semantic.animal"] < 0.05


def test_scores_are_probabilities(source: SemanticSource):
    images = [_decoded(data.rocket(), 0), _decoded(np.dstack([data.camera()] * 3), 1)]
    probabilities = source.class_probabilities(images)
    assert probabilities.shape == (2, 1000) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)
    scores, embeddings = source.score(images)
    assert scores.shape == (2, len(source.concepts())) and scores.dtype == np.float32
    assert embeddings.shape == (2, source.embedding_dim) and embeddings.dtype == np.float32
    assert scores.min() >= 0.0 and scores.max() <= 1.0 + 1e-5
