"""Open-vocabulary concepts: phrases scored by a CLIP-family image-text model (CLIP, SigLIP, MONET ...).

Any checkpoint that ``transformers`` loads with ``AutoModel`` and that offers ``get_image_features`` and
``get_text_features`` works: CLIP (``openai/clip-vit-base-patch32``), SigLIP and the fixed-resolution SigLIP 2
checkpoints (``google/siglip-base-patch16-224``, ``google/siglip2-base-patch16-224``), and medical CLIPs such
as MONET for dermatology (``chanwkim/monet``). It is named by a local folder (what ``save_pretrained``
writes) or a model-hub id. A hub id is only read from the hub library's own cache unless the user allows a
download (``allow_download=True``, CLI ``--allow-download``); nothing is fetched silently.

Each phrase of the vocabulary (``concepts.vocabulary``) becomes a magnitude concept of category ``phrase``:
its score is the cosine similarity between the image's embedding and the embedding of the phrase put in the
prompts the model was used with ("a photo of {}." for CLIP, "This is a photo of {}." for SigLIP), averaged
over the prompts; for MONET, its three dermatology prompts less their reference prompts ("This is skin
image"), after MONET's own concept score (`prompts_for`). A finding
reads "Set A images are closer matches to 'people sitting' than set B images". The image embeddings (unit
length, in the model's joint space) are returned beside the scores: they feed the "any difference at all?"
classifier, and `ImageTextSource.similarity` scores any new text against them (``verify`` with free text).

Images are prepared here from the model's ``preprocessor_config.json`` (resize, centre crop, rescale,
normalise with PIL and numpy), never by an image processor class: the fast ones need torchvision, which
does not import with the CPU torch tellapart runs on.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tellapart.concepts.base import Concept
from tellapart.concepts.versioning import package_version
from tellapart.concepts.vocabulary import load_vocabulary
from tellapart.io.image import DecodedImage

__all__ = ["ImageTextSource", "ModelNotAvailable", "hypothesis_phrase", "phrase_concept", "phrase_concepts",
           "prompts_for", "resolve_model"]

DEFAULT_BATCH_SIZE = 16
TEXT_BATCH_SIZE = 64
# The prompts each family was trained with (CLIP's paper uses "a photo of a {}."; the article is already in
# our phrases). SigLIP's model card and the transformers docs use "This is a photo of {}.".
TEMPLATES = {"clip": "a photo of {}.", "siglip": "This is a photo of {}."}
GENERIC_TEMPLATE = "a photo of {}."
# MONET (Kim et al., Nature Medicine 2024) scores a concept with these prompts against these references
# (tutorial/automatic_concept_annotation.ipynb of suinleelab/MONET): per prompt, a sigmoid of the similarity
# less its reference's, averaged. We keep the differences' mean (no sigmoid), which orders images alike.
MONET_TEMPLATES = ("This is skin image of {}", "This is dermatology image of {}", "This is image of {}")
MONET_REFERENCES = ("This is skin image", "This is dermatology image", "This is image")
# SigLIP pools its text at the last position, so text must be padded to the length it was trained with.
SIGLIP_TEXT_LENGTH = 64
# Files a checkpoint's folder may hold that decide its output: what `weight_files` lists and what a hub
# download fetches (weights as safetensors; ``pytorch_model.bin`` only when a checkpoint has no safetensors).
MODEL_FILE_PATTERNS = ("*.json", "*.safetensors", "*.txt", "*.model")
_MODEL_SUFFIXES = (".json", ".safetensors", ".txt", ".model", ".bin")
# Image preparation when a folder has no preprocessor_config.json: OpenAI CLIP's and SigLIP's constants.
_CLIP_MEAN, _CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)


class ModelNotAvailable(ValueError):
    """The named image-text model cannot be loaded: no such folder, not in the hub cache, or not CLIP-like."""


@dataclass(frozen=True)
class ResolvedModel:
    """Where a model's files are: its ``folder``, the ``name`` it was given by and the hub ``revision``
    (commit hash; None for a local folder)."""

    folder: Path
    name: str
    revision: str | None


def resolve_model(
    model: str | os.PathLike,
    *,
    allow_download: bool = False,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> ResolvedModel:
    """Return the folder holding the model's files: ``model`` itself when it is a folder, else the hub
    library's snapshot of the hub id ``model`` at ``revision`` (default: the main branch).

    The hub cache (``cache_dir``, default huggingface_hub's own) is only read unless ``allow_download``;
    then the missing files are downloaded into it. Raises ModelNotAvailable with a message saying how to
    get the model.
    """
    name = os.fspath(model).strip()
    if not name:
        raise ModelNotAvailable("the image-text model name is empty: give a folder or a hub id such as "
                                "google/siglip-base-patch16-224")
    folder = Path(name).expanduser()
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            raise ModelNotAvailable(f"model folder {folder} has no config.json: give a folder written by "
                                    "save_pretrained, or a hub id")
        return ResolvedModel(folder.resolve(), name, None)
    if folder.exists():
        raise ModelNotAvailable(f"model {name} is a file; give a model folder or a hub id")
    snapshot = _snapshot(name, allow_download, revision, cache_dir)
    return ResolvedModel(snapshot, name, snapshot.name)  # a hub snapshot's folder is named by its commit


def _snapshot(name: str, allow_download: bool, revision: str | None,
              cache_dir: str | os.PathLike | None) -> Path:
    """The hub snapshot folder of ``name`` (downloading its files when allowed)."""
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import HFValidationError

    how = ("to download it into the hub cache, run with --allow-download (Python: allow_download=True), or "
           "give the folder of a copy you saved")
    if allow_download and constants.HF_HUB_OFFLINE:
        raise ModelNotAvailable(f"model {name} is not in the hub cache and HF_HUB_OFFLINE is set, so it "
                                "cannot be downloaded: unset HF_HUB_OFFLINE (before Python starts), or give "
                                "the model's folder")
    try:
        folder = Path(snapshot_download(name, revision=revision, cache_dir=cache_dir,
                                        local_files_only=not allow_download,
                                        allow_patterns=list(MODEL_FILE_PATTERNS)))
        if allow_download and not any(folder.glob("*.safetensors")):
            folder = Path(snapshot_download(name, revision=revision, cache_dir=cache_dir,
                                            allow_patterns=[*MODEL_FILE_PATTERNS, "pytorch_model.bin"]))
    except HFValidationError:
        raise ModelNotAvailable(f"model {name}: no such folder, and not a hub id (owner/name)") from None
    except Exception as error:  # huggingface_hub raises many kinds: not cached, no network, no such repo
        if not allow_download:
            raise ModelNotAvailable(f"model {name}: no such folder, and not in the hub cache; {how}"
                                    ) from None
        raise ModelNotAvailable(f"model {name} could not be downloaded ({_first_line(error)})") from None
    if not (folder / "config.json").is_file():
        raise ModelNotAvailable(f"model {name}: the hub cache has no config.json for it; {how}")
    return folder


def prompts_for(model_type: str, name: str = "") -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Return (templates, references): the prompts a model family is used with, e.g. ``("a photo of {}.",)``
    for CLIP and no references; MONET's dermatology prompts and references when ``name`` says MONET."""
    if "monet" in name.lower():
        return MONET_TEMPLATES, MONET_REFERENCES
    return (TEMPLATES.get(model_type, GENERIC_TEMPLATE),), ()


class ImageTextSource:
    """Phrases as concepts, scored by a CLIP-family model: one magnitude concept per vocabulary phrase.

    An embedding source (``concepts.base.EmbeddingSource``): ``score`` returns the cosine similarities of
    each image to each phrase and the images' unit-length embeddings. The model loads on first use.

    Args:
        model: a local model folder or a hub id (e.g. ``"google/siglip-base-patch16-224"``).
        vocabulary: the phrases (a list of strings), or one spec ``concepts.vocabulary.load_vocabulary``
            takes (a file, ``"builtin"``, ``"builtin:dermoscopy"``); default the shipped list.
        allow_download: let huggingface_hub download a hub model into its cache (never by default).
        revision: the hub revision (branch, tag or commit); default the main branch.
        template: the prompt each phrase is put in (``"{}"`` marks the phrase), or several (the score is the
            mean similarity over them); default the family's own (`prompts_for`).
        references: texts whose mean similarity is subtracted from every phrase's (MONET's "This is skin
            image"); default the family's own (none for CLIP and SigLIP).
        cache_dir: the hub cache folder (default huggingface_hub's).
        text_cache: a folder where the vocabulary's text embeddings are kept between runs (one ``.npy`` file
            per cache version; ``describe`` passes the score cache's folder), or None to encode them once
            per process: 3,529 phrases took 4.5-6 minutes on two busy cores at base size (CLIP B/32, SigLIP
            B/16), longer than scoring 300 images.
        batch_size: images per forward pass.

    Raises ModelNotAvailable (a ValueError) at construction when the model cannot be found, so a bad name
    is reported before any image is read.
    """

    name = "imagetext"
    background = True  # torch releases the GIL: the library may run it beside the pixel sources
    # Its embedding feeds the "any difference?" classifier only: the learned detectors and the domain
    # model read the bundled backbone's (``ConceptLibrary``).
    classifier_only = True

    def __init__(
        self,
        model: str | os.PathLike,
        vocabulary: Sequence[str] | str | os.PathLike | None = None,
        *,
        allow_download: bool = False,
        revision: str | None = None,
        template: str | Sequence[str] | None = None,
        references: Sequence[str] | None = None,
        cache_dir: str | os.PathLike | None = None,
        text_cache: str | os.PathLike | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        self.resolved = resolve_model(model, allow_download=allow_download, revision=revision,
                                      cache_dir=cache_dir)
        self.config = _full_config(self.resolved)
        self.model_type = str(self.config.get("model_type", ""))
        if self.model_type == "siglip2":
            raise ModelNotAvailable(f"model {self.resolved.name} is a NaFlex SigLIP 2 checkpoint (variable "
                                    "resolution), which is not supported; use a fixed-resolution one, e.g. "
                                    "google/siglip2-base-patch16-224")
        templates, default_references = prompts_for(self.model_type, self.resolved.name)
        if template is not None:
            templates = (template,) if isinstance(template, str) else tuple(template)
        self.templates: tuple[str, ...] = templates
        self.references: tuple[str, ...] = default_references if references is None else tuple(references)
        bad = [t for t in self.templates if "{}" not in t]
        if bad or not self.templates:
            raise ValueError(f"template {bad[0] if bad else ''!r} must contain {{}} where the phrase goes")
        self.phrases = _phrases(vocabulary)
        self.batch_size = batch_size
        self.embedding_dim = _projection_dim(self.config)
        self.embedding_blocks = (self.embedding_dim,)
        self.embedding_version = f"imagetext:{self.resolved.name}@{self.resolved.revision or 'local'}"
        prompts = [*self.templates, "|", *self.references, "|", *self.phrases]
        vocabulary_hash = hashlib.sha256("\n".join(prompts).encode()).hexdigest()[:16]
        # Salts of the score cache's key (``concepts.versioning``): the model files themselves are hashed too,
        # so a local folder is known by its contents alone (the same folder named two ways shares entries).
        hub_name = self.resolved.name if self.resolved.revision else None
        self.cache_config = {
            "model": hub_name, "revision": self.resolved.revision, "vocabulary": vocabulary_hash,
            "transformers": package_version("transformers"), "tokenizers": package_version("tokenizers"),
        }
        self._concepts = phrase_concepts(self.phrases)
        self._lock = threading.Lock()
        self._loaded: tuple | None = None
        self._phrase_embeddings: np.ndarray | None = None
        self.text_cache = None if text_cache is None else Path(text_cache)

    def concepts(self) -> list[Concept]:
        """Return one magnitude concept per phrase, in the column order of ``score``."""
        return list(self._concepts)

    def weight_files(self) -> list[Path]:
        """The model's files (config, weights, tokenizer, preprocessing; a hub snapshot's resolved files),
        part of the score cache's key."""
        return sorted(p for p in self.resolved.folder.iterdir()
                      if p.is_file() and p.suffix in _MODEL_SUFFIXES)

    def score(self, images: Sequence[DecodedImage]) -> tuple[np.ndarray, np.ndarray]:
        """Return float32 (n_images, n_phrases) similarities of each image to each phrase (`similarity`),
        and float32 (n_images, embedding_dim) unit-length image embeddings."""
        embeddings = self.embed_images(images)
        if self._phrase_embeddings is None:
            self._phrase_embeddings = self._vocabulary_directions()
        return embeddings @ self._phrase_embeddings.T, embeddings

    def _vocabulary_directions(self) -> np.ndarray:
        """`phrase_directions` of the vocabulary, read from ``text_cache`` when an earlier run kept them
        there (under this source's cache version, which covers the model files, prompts and phrases)."""
        from tellapart.concepts.versioning import cache_version

        expected = (len(self.phrases), self.embedding_dim)
        name = f"imagetext-phrases-{cache_version(self)}.npy"
        path = None if self.text_cache is None else self.text_cache / name
        if path is not None and path.is_file():
            try:
                found = np.load(path, allow_pickle=False)
                if found.shape == expected and np.isfinite(found).all():
                    return found.astype(np.float32, copy=False)
            except (OSError, ValueError):
                pass  # a damaged file is only a lost shortcut: encode again and replace it
        directions = self.phrase_directions(self.phrases)
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                partial = path.with_name(f"{path.stem}.{os.getpid()}.partial.npy")
                np.save(partial, directions)
                os.replace(partial, path)  # whole or absent, even with runs in parallel
            except OSError:
                pass  # an unwritable cache folder costs time, never the run
        return directions

    def similarity(self, texts: Sequence[str], image_embeddings: np.ndarray) -> np.ndarray:
        """Return float32 (n_images, len(texts)): each image embedding's (rows of ``image_embeddings``, as
        ``score`` returns them; NaN rows stay NaN) cosine similarity to each text in the prompts, averaged
        over ``templates``, less its mean similarity to ``references``."""
        return np.asarray(image_embeddings, dtype=np.float32) @ self.phrase_directions(texts).T

    def phrase_directions(self, texts: Sequence[str]) -> np.ndarray:
        """Return float32 (len(texts), embedding_dim): the vectors whose dot product with a unit image
        embedding is `similarity` (mean unit prompt embedding over ``templates``, less the mean unit
        embedding of ``references``)."""
        texts = [text.strip() for text in texts]
        prompts = [template.replace("{}", text) for template in self.templates for text in texts]
        vectors = self.embed_texts(prompts).reshape(len(self.templates), len(texts), self.embedding_dim)
        directions = vectors.mean(axis=0)
        if self.references:
            directions = directions - self.embed_texts(self.references).mean(axis=0)
        return directions.astype(np.float32)

    def embed_images(self, images: Sequence[DecodedImage] | Sequence[np.ndarray]) -> np.ndarray:
        """Return float32 (n_images, embedding_dim) unit-length image embeddings."""
        import torch

        model, _, prepare = self._load()
        out = np.empty((len(images), self.embedding_dim), dtype=np.float32)
        for start in range(0, len(images), self.batch_size):
            chunk = images[start : start + self.batch_size]
            pixels = np.stack([prepare(_pixels(image)) for image in chunk])
            with torch.inference_mode():
                features = _pooled(model.get_image_features(pixel_values=torch.from_numpy(pixels)))
            out[start : start + len(chunk)] = _unit(features.float().numpy())
        return out

    def embed_texts(self, prompts: Sequence[str]) -> np.ndarray:
        """Return float32 (len(prompts), embedding_dim) unit-length embeddings of the texts as given."""
        import torch

        model, tokenizer, _ = self._load()
        prompts = list(prompts)
        out = np.empty((len(prompts), self.embedding_dim), dtype=np.float32)
        limit = int(self.config.get("text_config", {}).get("max_position_embeddings", 77))
        if self.model_type == "siglip":
            padding = {"padding": "max_length", "max_length": min(SIGLIP_TEXT_LENGTH, limit)}
        else:
            padding = {"padding": True, "max_length": limit}
        for start in range(0, len(prompts), TEXT_BATCH_SIZE):
            batch = tokenizer(prompts[start : start + TEXT_BATCH_SIZE], truncation=True, return_tensors="pt",
                              **padding)
            inputs = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask")}
            if self.model_type == "siglip":
                inputs.pop("attention_mask", None)  # SigLIP was trained without one (pads are attended)
            with torch.inference_mode():
                features = _pooled(model.get_text_features(**inputs))
            out[start : start + len(batch["input_ids"])] = _unit(features.float().numpy())
        return out

    def _load(self) -> tuple:
        """(model, tokenizer, prepare) loaded from the folder on first use (thread-safe)."""
        with self._lock:
            if self._loaded is None:
                self._loaded = _load_model(self.resolved, self.config)
            return self._loaded


def _load_model(resolved: ResolvedModel, config: dict) -> tuple:
    """The model in eval mode, its tokenizer and its image preparation, from the resolved folder."""
    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    folder = str(resolved.folder)
    try:
        model = AutoModel.from_pretrained(folder, local_files_only=True, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except Exception as error:  # transformers raises many kinds for a folder it cannot read
        hint = ""
        if config.get("model_type") == "siglip" and importlib.util.find_spec("sentencepiece") is None:
            hint = " (SigLIP's tokenizer needs the sentencepiece package: pip install sentencepiece)"
        raise ModelNotAvailable(f"model {resolved.name} could not be loaded from {folder}: "
                                f"{_first_line(error)}{hint}") from None
    if not (callable(getattr(model, "get_image_features", None))
            and callable(getattr(model, "get_text_features", None))):
        raise ModelNotAvailable(f"model {resolved.name} ({type(model).__name__}) is not an image-text model "
                                "with image and text encoders (CLIP, SigLIP, MONET ...)")
    model.eval()
    return model, tokenizer, _Preparation.from_folder(resolved.folder, config)


@dataclass(frozen=True)
class _Preparation:
    """What the model's image processor does, done with PIL and numpy: resize (the shortest side to
    ``shortest_edge``, or to ``size`` exactly), centre crop to ``crop``, scale to [0, 1], normalise."""

    shortest_edge: int | None
    size: tuple[int, int] | None  # (height, width)
    crop: tuple[int, int] | None
    mean: tuple[float, ...]
    std: tuple[float, ...]
    resample: int
    rescale: float

    @classmethod
    def from_folder(cls, folder: Path, config: dict) -> _Preparation:
        """Read ``preprocessor_config.json``; without one, the family's usual preparation at the vision
        tower's ``image_size``."""
        vision = config.get("vision_config", {})
        side = int(vision.get("image_size", 224))
        siglip = config.get("model_type") == "siglip"
        found = folder / "preprocessor_config.json"
        settings = _read_json(found) if found.is_file() else {}
        size = settings.get("size", {"height": side, "width": side} if siglip else {"shortest_edge": side})
        if isinstance(size, int):
            size = {"shortest_edge": size}
        crop = settings.get("crop_size", None if siglip else {"height": side, "width": side})
        if isinstance(crop, int):
            crop = {"height": crop, "width": crop}
        do_crop = settings.get("do_center_crop", not siglip) and crop
        mean = settings.get("image_mean", (0.5, 0.5, 0.5) if siglip else _CLIP_MEAN)
        std = settings.get("image_std", (0.5, 0.5, 0.5) if siglip else _CLIP_STD)
        if not settings.get("do_normalize", True):
            mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
        return cls(
            shortest_edge=int(size["shortest_edge"]) if "shortest_edge" in size else None,
            size=(int(size["height"]), int(size["width"])) if "height" in size else None,
            crop=(int(crop["height"]), int(crop["width"])) if do_crop else None,
            mean=tuple(float(m) for m in mean), std=tuple(float(s) for s in std),
            resample=int(settings.get("resample", 3)),  # PIL's BICUBIC, CLIP's and SigLIP's default
            rescale=float(settings.get("rescale_factor", 1 / 255) if settings.get("do_rescale", True) else 1),
        )

    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        """Return float32 (3, H, W): the model's input for one H x W x 3 uint8 RGB image."""
        from PIL import Image

        image = Image.fromarray(np.ascontiguousarray(pixels))
        if self.size is not None:
            image = image.resize((self.size[1], self.size[0]), resample=self.resample)
        elif self.shortest_edge is not None:
            width, height = image.size
            scale = self.shortest_edge / min(width, height)
            target = (max(1, round(width * scale)), max(1, round(height * scale)))
            image = image.resize(target, resample=self.resample)
        if self.crop is not None:
            width, height = image.size
            top, left = max(0, (height - self.crop[0]) // 2), max(0, (width - self.crop[1]) // 2)
            image = image.crop((left, top, left + self.crop[1], top + self.crop[0]))
        array = np.asarray(image, dtype=np.float32) * self.rescale
        array = (array - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        return np.ascontiguousarray(array.transpose(2, 0, 1))


def _phrases(vocabulary: Sequence[str] | str | os.PathLike | None) -> list[str]:
    """The vocabulary as a list of phrases: a list or tuple is the phrases themselves (each once, spaces
    collapsed); a string or path is what ``load_vocabulary`` takes (a file, ``"builtin"`` ...)."""
    if isinstance(vocabulary, list | tuple):
        phrases = list(dict.fromkeys(" ".join(v.split()) for v in vocabulary if v and v.strip()))
        if not phrases:
            raise ValueError("the vocabulary is empty: give at least one phrase")
        return phrases
    return load_vocabulary(vocabulary)


def phrase_concept(phrase: str, concept_id: str) -> Concept:
    """Return the magnitude concept for one phrase: "Set A images are closer matches to “people sitting”
    than set B images (median similarity to “people sitting” 0.27 vs 0.24; ...)"."""
    quoted = f"\u201c{phrase}\u201d"
    return Concept(id=concept_id, phrase=f"similarity to {quoted}", kind="magnitude",
                   more=f"closer matches to {quoted}", less=f"poorer matches to {quoted}",
                   synonyms=(phrase,), category="phrase")


def phrase_id(phrase: str) -> str:
    """Return the concept id of a phrase: ``"phrase."`` and its words joined by underscores."""
    return "phrase." + (re.sub(r"[^0-9a-z]+", "_", phrase.lower()).strip("_") or "text")


# What a person writes around the thing itself ("Set A images show ...", "... than set B"), and the words
# that say which set shows more of it.
_LEAD = re.compile(
    r"^(?:(?:in\s+)?set\s+[ab]\b[\s,:]*)?(?:(?:the\s+)?(?:images?|photos?|pictures?|scans?|slides?)\s+)?"
    r"(?:(?:tend\s+to|usually|often|typically)\s+)?"
    r"(?:(?:are|is|show|shows|showing|contain|contains|containing|have|has|depict|depicts|with|of)\s+)?",
    re.IGNORECASE)
_TAIL = re.compile(r"\s*(?:more|less)?\s*(?:often\s+)?(?:than\s+(?:in\s+)?set\s+[ab]\b.*)?[.!]*$",
                   re.IGNORECASE)
_MORE = ("more ", "higher ", "greater ", "larger ", "bigger ", "stronger ", "many ", "lots of ")
_LESS = ("less ", "fewer ", "lower ", "smaller ", "weaker ", "no ", "without ", "not ", "rarely ", "never ")


def hypothesis_phrase(text: str) -> tuple[str, str | None]:
    """Return (the phrase to score, the set said to show more of it: "a", "b" or None) for a hypothesis
    a person wrote: "Set A images show more people sitting than set B" -> ("people sitting", "a");
    "images without text" -> ("text", "b"); "a blue-white veil" -> ("a blue-white veil", None).

    The direction is read from words only (more/fewer/without ...; "set B ... more" says "b"); without one
    the test is two-sided.
    """
    original = " ".join(text.split())
    subject_b = re.match(r"^\s*(?:in\s+)?set\s+b\b", original, re.IGNORECASE) is not None
    phrase = _LEAD.sub("", original, count=1)
    lowered = phrase.lower()
    says_more = "more often" in original.lower()
    says_less = "less often" in original.lower()
    for words, flag in ((_MORE, "more"), (_LESS, "less")):
        for word in words:
            if lowered.startswith(word):
                phrase = phrase[len(word):]
                says_more, says_less = (True, says_less) if flag == "more" else (says_more, True)
                break
    phrase = _TAIL.sub("", phrase).strip(" ,;:") or original
    if says_more == says_less:
        return phrase, None
    shows_more = says_more != subject_b  # "set B images show more X" means set A shows less of it
    return phrase, "a" if shows_more else "b"


def phrase_concepts(phrases: Sequence[str]) -> list[Concept]:
    """Return one concept per phrase (`phrase_concept`), ids made unique by a suffix when two phrases differ
    only in case or punctuation (or have no Latin letters or digits at all)."""
    seen: dict[str, int] = {}
    concepts = []
    for phrase in phrases:
        base = phrase_id(phrase)
        seen[base] = seen.get(base, 0) + 1
        concept_id = base if seen[base] == 1 else f"{base}_{seen[base]}"
        concepts.append(phrase_concept(phrase, concept_id))
    return concepts


def _projection_dim(config: dict) -> int:
    """The width of the joint image-text space: CLIP's ``projection_dim``, SigLIP's text hidden size."""
    if "projection_dim" in config and config.get("model_type") != "siglip":
        return int(config["projection_dim"])
    text = config.get("text_config", {})
    return int(text.get("projection_size") or text.get("hidden_size") or config.get("projection_dim", 512))


def _pooled(output):
    """The pooled features from what ``get_*_features`` returned (a tensor, or an output object in
    transformers 5)."""
    return getattr(output, "pooler_output", output)


def _unit(features: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return (features / np.maximum(norms, 1e-12)).astype(np.float32)


def _pixels(image: DecodedImage | np.ndarray) -> np.ndarray:
    pixels = image.pixels if isinstance(image, DecodedImage) else np.asarray(image)
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    return pixels[:, :, :3]


def _full_config(resolved: ResolvedModel) -> dict:
    """The model's configuration with every default filled in (a hub config.json often leaves them out)."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(str(resolved.folder), local_files_only=True).to_dict()
    except (OSError, ValueError, KeyError) as error:
        raise ModelNotAvailable(f"model {resolved.name}: its config.json cannot be read ({error})") from None


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ModelNotAvailable(f"{path} cannot be read ({error})") from None


def _first_line(error: BaseException) -> str:
    """The error's type and the first line of its message."""
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0]}" if text else type(error).__name__


