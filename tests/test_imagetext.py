"""Image-text models as concept sources (``concepts.imagetext``), the vocabulary, and verify with free text.

Every model here is built locally from a config (tiny towers, a word-level tokenizer written by the test),
saved with ``save_pretrained`` and loaded through the same path a hub id takes; nothing is downloaded. One
tiny CLIP is *trained* for a few seconds on synthetic shapes with captions ("a photo of a red square."), so
its similarities mean something, and tellapart must name a planted colour difference with it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from tellapart import ConceptLibrary, describe, verify  # noqa: E402
from tellapart.cli import main  # noqa: E402
from tellapart.concepts.cache import ScoreCache  # noqa: E402
from tellapart.concepts.imagetext import (  # noqa: E402
    ImageTextSource,
    ModelNotAvailable,
    hypothesis_phrase,
    resolve_model,
)
from tellapart.concepts.versioning import cache_version  # noqa: E402
from tellapart.concepts.vocabulary import builtin_sections, load_vocabulary, read_vocabulary  # noqa: E402
from tellapart.io import ImageSet  # noqa: E402
from tellapart.io.image import DecodedImage  # noqa: E402

COLOURS = {"red": (220, 30, 30), "blue": (30, 60, 220), "green": (30, 180, 40), "yellow": (230, 210, 20)}
SHAPES = ("square", "circle", "triangle")
SPECIAL = ["[PAD]", "[UNK]", "<s>", "</s>"]
WORDS = [*SPECIAL, "a", "an", "photo", "of", ".", "this", "is", "shape", "people", "sitting", "standing",
         "dog", "text", *COLOURS, *SHAPES]
SIDE = 32  # pixels of the tiny models' input; the synthetic images are drawn at 48 and resized


def _tokenizer():
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {word: i for i, word in enumerate(WORDS)}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.normalizer = normalizers.Lowercase()
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    # CLIP pools its text at the end-of-text token, so every text ends with one.
    backend.post_processor = processors.TemplateProcessing(single="<s> $A </s>",
                                                           special_tokens=[("<s>", 2), ("</s>", 3)])
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="[PAD]", unk_token="[UNK]",
                                   bos_token="<s>", eos_token="</s>")


def _towers() -> tuple[dict, dict]:
    text = dict(vocab_size=len(WORDS), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=2, max_position_embeddings=64, pad_token_id=0, bos_token_id=2,
                eos_token_id=3)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                  image_size=SIDE, patch_size=8)
    return text, vision


def _build(kind: str, seed: int = 0):
    torch.manual_seed(seed)
    text, vision = _towers()
    if kind == "clip":
        from transformers import CLIPConfig, CLIPModel

        return CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=16))
    from transformers import SiglipConfig, SiglipModel

    return SiglipModel(SiglipConfig(text_config=text, vision_config=vision))


def _save(model, folder: Path, kind: str) -> Path:
    """Write what a hub checkpoint holds: weights, config, tokenizer and the image preprocessing."""
    model.save_pretrained(folder)
    _tokenizer().save_pretrained(folder)
    if kind == "clip":
        preprocessing = {"do_resize": True, "size": {"shortest_edge": SIDE}, "do_center_crop": True,
                         "crop_size": {"height": SIDE, "width": SIDE}, "resample": 3,
                         "image_mean": [0.48145466, 0.4578275, 0.40821073],
                         "image_std": [0.26862954, 0.26130258, 0.27577711]}
    else:
        preprocessing = {"do_resize": True, "size": {"height": SIDE, "width": SIDE}, "resample": 3,
                         "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}
    (folder / "preprocessor_config.json").write_text(json.dumps(preprocessing))
    return folder


def _drawing(colour: str, shape: str, rng: np.random.Generator, side: int = 48) -> np.ndarray:
    """A shape of one colour, at a random place and size, on a light noisy background."""
    image = np.full((side, side, 3), 235, np.float32) + rng.normal(0, 6, (side, side, 3))
    size = rng.integers(side // 4, side // 2)
    top, left = rng.integers(2, side - size - 2, size=2)
    yy, xx = np.mgrid[0:side, 0:side]
    cy, cx = top + size / 2, left + size / 2
    if shape == "square":
        mask = (yy >= top) & (yy < top + size) & (xx >= left) & (xx < left + size)
    elif shape == "circle":
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= (size / 2) ** 2
    else:
        mask = (yy >= top) & (yy < top + size) & (np.abs(xx - cx) <= (yy - top) / 2)
    image[mask] = np.asarray(COLOURS[colour], np.float32) + rng.normal(0, 10, (int(mask.sum()), 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def _decoded(pixels: list[np.ndarray]) -> list[DecodedImage]:
    return [DecodedImage(key=f"k{i}", source=f"<memory:{i}>", pixels=p, original_size=p.shape[1::-1])
            for i, p in enumerate(pixels)]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, Path]:
    """Untrained tiny CLIP and SigLIP checkpoints, saved like hub checkpoints."""
    root = tmp_path_factory.mktemp("tiny-models")
    return {kind: _save(_build(kind), root / kind, kind) for kind in ("clip", "siglip")}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A tiny CLIP trained for a few seconds to match shapes and colours with their captions."""
    return train_clip(tmp_path_factory.mktemp("trained") / "clip")


def train_clip(folder: Path, steps: int = 300) -> Path:
    """Train a tiny CLIP on synthetic shapes with captions (contrastive loss, seeded) and save it."""
    from transformers import CLIPModel

    _save(_build("clip", seed=1), folder, "clip")
    prepare = ImageTextSource(folder, ["red"])._load()[2]  # scoring's own preparation, so training matches
    model = CLIPModel.from_pretrained(folder)
    tokenizer = _tokenizer()
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    # One thread: a model this small trains 20-80x faster on it than on two contended cores (measured).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    optimiser = torch.optim.AdamW(model.parameters(), lr=2e-3)
    model.train()
    bank = [(c, s) for c in COLOURS for s in SHAPES for _ in range(12)]
    inputs = torch.from_numpy(np.stack([prepare(_drawing(c, s, rng)) for c, s in bank]))
    for _ in range(steps):
        rows = rng.choice(len(bank), size=32, replace=False)
        pairs = [bank[i] for i in rows]
        pixels = inputs[torch.from_numpy(rows)]
        # Captions name the colour, the shape or both, so single words mean something too.
        captions = [str(rng.choice([f"a photo of a {c} {s}.", f"a photo of {c}.", f"a photo of a {s}."]))
                    for c, s in pairs]
        batch = tokenizer(captions, padding=True, return_tensors="pt")
        loss = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                     pixel_values=pixels, return_loss=True).loss
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    torch.set_num_threads(threads)
    model.eval()
    model.save_pretrained(folder)
    return folder


def _sets(n: int = 16, seed: int = 3) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Set A: red shapes, set B: blue shapes (the same mix of shapes)."""
    rng = np.random.default_rng(seed)
    shapes = [SHAPES[i % len(SHAPES)] for i in range(n)]
    return ([_drawing("red", s, rng) for s in shapes], [_drawing("blue", s, rng) for s in shapes])


# --- loading and scoring -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["clip", "siglip"])
def test_scores_are_similarities_with_unit_embeddings(tiny, kind):
    phrases = ["a red square", "people sitting", "a dog"]
    source = ImageTextSource(tiny[kind], phrases)
    assert source.templates == ("a photo of {}.",) if kind == "clip" else ("This is a photo of {}.",)
    concepts = source.concepts()
    assert [c.id for c in concepts] == ["phrase.a_red_square", "phrase.people_sitting", "phrase.a_dog"]
    assert {c.kind for c in concepts} == {"magnitude"} and {c.category for c in concepts} == {"phrase"}
    assert concepts[1].more == "closer matches to \u201cpeople sitting\u201d"
    images = _decoded(_sets(3)[0] + [np.zeros((20, 70, 3), np.uint8)])  # odd sizes and a black image
    scores, embeddings = source.score(images)
    assert scores.shape == (4, 3) and embeddings.shape == (4, source.embedding_dim)
    assert scores.dtype == np.float32 and np.isfinite(scores).all() and np.isfinite(embeddings).all()
    assert np.allclose(np.linalg.norm(embeddings, axis=1), 1, atol=1e-5)
    assert np.all(np.abs(scores) <= 1 + 1e-5)
    # The free-text path scores from the embeddings alone, exactly as score() does.
    assert np.allclose(source.similarity(["people sitting"], embeddings)[:, 0], scores[:, 1], atol=1e-5)


def test_hub_snapshot_loads_like_a_folder_and_never_downloads_by_default(tiny, tmp_path):
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--tellapart--tiny-clip"
    shutil.copytree(tiny["clip"], repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    hub = ImageTextSource("tellapart/tiny-clip", ["red"], cache_dir=tmp_path / "hub")
    local = ImageTextSource(tiny["clip"], ["red"])
    assert hub.resolved.revision == commit and hub.cache_config["revision"] == commit
    assert [p.name for p in hub.weight_files()] == [p.name for p in local.weight_files()]
    images = _decoded(_sets(2)[0])
    assert np.allclose(hub.score(images)[0], local.score(images)[0])
    with pytest.raises(ModelNotAvailable, match="--allow-download"):
        resolve_model("tellapart/not-cached", cache_dir=tmp_path / "hub")
    with pytest.raises(ModelNotAvailable, match="config.json"):
        resolve_model(tmp_path)  # a folder that is not a model


def test_cache_is_read_back_and_keyed_by_weights_and_vocabulary(tiny, tmp_path):
    folder = tmp_path / "clip"
    shutil.copytree(tiny["clip"], folder)
    source = ImageTextSource(folder, ["red", "blue"])
    calls = []
    score = source.score
    source.score = lambda images: calls.append(len(images)) or score(images)
    library = ConceptLibrary([source], learned=None)
    a, b = _sets(4)
    sets = {"a": ImageSet.from_spec(a), "b": ImageSet.from_spec(b)}
    cache = ScoreCache(tmp_path / "cache")
    first = library.score_sets(sets, cache=cache)
    second = library.score_sets(sets, cache=cache)
    cache.close()
    assert calls == [4, 4]  # the second run read scores and embeddings from the cache
    assert np.array_equal(first.scores.to_numpy(), second.scores.to_numpy())
    assert np.array_equal(first.embeddings, second.embeddings) and first.embeddings.shape == (8, 16)
    key = cache_version(source)
    assert cache_version(ImageTextSource(f"{folder}/../clip", ["red", "blue"])) == key  # by content
    # The vocabulary's text embeddings are kept too, when given a folder: a new process reads them.
    kept = [ImageTextSource(folder, ["red", "blue"], text_cache=tmp_path / "text") for _ in range(2)]
    encoded = []
    for fresh in kept:
        directions = fresh.phrase_directions
        fresh.phrase_directions = lambda texts, d=directions: encoded.append(len(texts)) or d(texts)
    assert np.allclose(kept[0].score(_decoded(a))[0], kept[1].score(_decoded(a))[0], atol=1e-6)
    assert encoded == [2] and len(list((tmp_path / "text").glob("imagetext-phrases-*.npy"))) == 1
    assert cache_version(ImageTextSource(folder, ["red", "green"])) != key  # another vocabulary
    _save(_build("clip", seed=7), folder, "clip")  # new weights in the same folder
    assert cache_version(ImageTextSource(folder, ["red", "blue"])) != key


def test_backbone_keeps_its_embedding_and_the_classifier_gets_both(tiny):
    from tellapart.concepts.semantics import SemanticSource

    source = ImageTextSource(tiny["clip"], ["red"])
    library = ConceptLibrary([source, SemanticSource(include_classes=False)])  # shipped detectors load
    assert library.embedder.name == "semantic" and library.learned is not None
    assert library.classifier_blocks == (*library.embedding_blocks, source.embedding_dim)
    a, b = _sets(2)
    table = library.score_sets({"a": ImageSet.from_spec(a), "b": ImageSet.from_spec(b)})
    backbone = library.embedder.embedding_dim
    assert table.embeddings.shape == (4, backbone + source.embedding_dim)
    assert np.allclose(np.linalg.norm(table.embeddings[:, backbone:], axis=1), 1, atol=1e-5)
    assert library.backbone_embeddings(table.embeddings).shape == (4, backbone)


# --- the vocabulary ----------------------------------------------------------------------------------------


def test_phrase_ids_are_unique():
    from tellapart.concepts.imagetext import phrase_concepts

    ids = [c.id for c in phrase_concepts(["red car", "Red-car", "猫", "犬", "red car!"])]
    assert len(set(ids)) == 5 and ids[0] == "phrase.red_car"


def test_vocabulary_files_and_the_builtin_list(tmp_path):
    mine = tmp_path / "mine.txt"
    mine.write_text("# my phrases\n\npeople sitting\n## hats\na cat  wearing a hat\nPeople sitting\n")
    assert read_vocabulary(mine) == ["people sitting", "a cat wearing a hat"]
    assert read_vocabulary(mine, ["hats"]) == ["a cat wearing a hat", "People sitting"]
    builtin = load_vocabulary()
    assert len(builtin) > 3000 and len(set(map(str.lower, builtin))) == len(builtin)
    for section in ("objects", "activities", "styles", "conditions", "dermoscopy", "radiology", "histology"):
        assert section in builtin_sections()
    for phrase in ("blue-white veil", "pleural effusion", "mitotic figures", "people sitting", "a sketch"):
        assert phrase in builtin
    assert load_vocabulary([mine]) == ["people sitting", "a cat wearing a hat"]  # a file replaces the list
    assert load_vocabulary(["builtin", mine]) == [*builtin, "a cat wearing a hat"]  # or adds to it
    assert "milia-like cysts" in load_vocabulary("builtin:dermoscopy")
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing here\n\n")
    with pytest.raises(ValueError, match="holds no phrase"):
        read_vocabulary(empty)
    with pytest.raises(ValueError, match="does not exist"):
        load_vocabulary(tmp_path / "missing.txt")


def test_shipped_vocabulary_is_what_the_script_writes():
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, str(root / "scripts" / "make_vocabulary.py"), "--check"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(("text", "phrase", "direction"), [
    ("Set A images show more people sitting than set B", "people sitting", "a"),
    ("set B images show fewer red squares", "red squares", "a"),
    ("images without text", "text", "b"),
    ("people standing in yoga poses", "people standing in yoga poses", None),
    ("Set A has more dogs", "dogs", "a"),
])
def test_hypothesis_phrase(text, phrase, direction):
    assert hypothesis_phrase(text) == (phrase, direction)


# --- a trained model names a planted difference ---------------------------------------------------------


VOCABULARY = ["red", "blue", "green", "yellow", "a square", "a circle", "a triangle", "people sitting"]


def test_trained_model_names_the_planted_colour(trained, tmp_path):
    a, b = _sets(16)
    result = describe(a, b, model=trained, vocabulary=VOCABULARY, library=ConceptLibrary([], learned=None),
                      describer=None, cache_dir=tmp_path, progress=False)
    significant = result.findings[result.findings["significant"]]
    top = significant.iloc[0]
    assert (top["phrase"], top["direction"]) in {("similarity to \u201cred\u201d", "a"),
                                                 ("similarity to \u201cblue\u201d", "b")}
    assert "closer matches to \u201cred\u201d" in " ".join(significant["text"])
    # Both sets hold the same shapes: a tiny model's shape phrases move with colour, but only as a side
    # effect of the colour finding.
    shapes = result.findings[result.findings["phrase"].str.contains("square|circle|triangle")]
    assert shapes[shapes["significant"]]["explained_by"].notna().all()
    assert result.overall is not None and result.overall.n_features == 16  # the image-text embedding


def test_verify_scores_free_text_with_the_model(trained, tmp_path):
    a, b = _sets(12)
    library = ConceptLibrary([], learned=None)
    held = verify("set A images show more red than set B", a, b, model=trained, library=library,
                  cache_dir=tmp_path, progress=False)
    match = held.matches[0]
    assert match["phrase"] == "similarity to \u201cred\u201d" and match["direction"] == "a"
    assert held.findings["significant"].all() and held.findings.iloc[0]["auroc"] > 0.9
    wrong = verify("set A images show more blue", a, b, model=trained, library=library, cache_dir=tmp_path,
                   progress=False)
    assert not wrong.findings["significant"].any()


def test_cli_describe_and_verify_with_a_model(trained, tmp_path, capsys):
    a, b = _sets(10)  # the fewest describe takes: the CLI runs the whole default library too
    for label, images in (("a", a), ("b", b)):
        (tmp_path / label).mkdir()
        for i, pixels in enumerate(images):
            from PIL import Image

            Image.fromarray(pixels).save(tmp_path / label / f"{i}.png")
    vocabulary = tmp_path / "vocabulary.txt"
    vocabulary.write_text("# colours\n" + "\n".join(VOCABULARY) + "\n")
    common = ["--cache-dir", str(tmp_path / "cache"), "--quiet", "--detectors", "none"]
    code = main(["describe", str(tmp_path / "a"), str(tmp_path / "b"), "--model", str(trained),
                 "--vocabulary", str(vocabulary), "--describer", "none", "--out", str(tmp_path / "out"),
                 *common])
    assert code == 0
    document = json.loads((tmp_path / "out" / "findings.json").read_text())
    assert any(f["concept"] == "phrase.red" and f["significant"] for f in document["findings"])
    code = main(["verify", "red shapes", str(tmp_path / "a"), str(tmp_path / "b"), "--model", str(trained),
                 "--out", str(tmp_path / "verify"), *common])
    assert code == 0
    assert "closer matches to \u201cred shapes\u201d" in capsys.readouterr().out


def test_cli_names_a_bad_model_or_vocabulary_before_reading_images(tiny, tmp_path, capsys, monkeypatch):
    empty = tmp_path / "empty.txt"
    empty.write_text("# no phrases\n")
    from_env = "model-from-the-environment"
    cases = [  # (TELLAPART_MODEL, options, what the error says)
        (None, ["--model", str(tmp_path / "nowhere" / "model")], "--model"),
        (None, ["--model", "tellapart/not-in-the-cache"], "--allow-download"),
        (None, ["--model", str(tiny["clip"]), "--vocabulary", str(empty)], "holds no phrase"),
        (None, ["--vocabulary", str(empty)], "give --model"),
        (from_env, [], from_env),
        (from_env, ["--model", "none", "--vocabulary", str(empty)], "give --model"),  # 'none' beats it
    ]
    for variable, options, message in cases:
        if variable is None:
            monkeypatch.delenv("TELLAPART_MODEL", raising=False)
        else:
            monkeypatch.setenv("TELLAPART_MODEL", variable)
        with pytest.raises(SystemExit) as stopped:
            main(["describe", str(tmp_path / "a"), str(tmp_path / "b"), *options])
        assert stopped.value.code == 2
        error = capsys.readouterr().err.strip().splitlines()[-1]
        assert message in error and error.startswith("tellapart: error:")


def test_prompt_ensembles_and_references_average_and_subtract(tiny):
    plain = ImageTextSource(tiny["clip"], ["red"], template="a photo of {}.")
    both = ImageTextSource(tiny["clip"], ["red"], template=["a photo of {}.", "a {} shape."],
                           references=["a photo of a shape."])
    second = ImageTextSource(tiny["clip"], ["red"], template="a {} shape.")
    reference = ImageTextSource(tiny["clip"], ["a shape"], template="a photo of {}.")
    images = _decoded(_sets(3)[0])
    expected = (plain.score(images)[0] + second.score(images)[0]) / 2 - reference.score(images)[0]
    assert np.allclose(both.score(images)[0], expected, atol=1e-5)
    assert cache_version(both) != cache_version(plain)
    monet = tiny["clip"].parent / "monet-tiny"
    shutil.copytree(tiny["clip"], monet)
    references = ImageTextSource(monet, ["bullae"]).references
    assert references == ("This is skin image", "This is dermatology image", "This is image")
    with pytest.raises(ValueError, match="must contain"):
        ImageTextSource(tiny["clip"], ["red"], template="no placeholder")
