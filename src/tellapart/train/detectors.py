"""Train linear detectors on the backbone's embedding for synthetic edit families.

For each family, images of a base pool are edited at random strengths (positives); the same pool unedited
and the other families' edits are the negatives, so a detector answers "this edit", not "any edit". The
classifier is the one tellapart uses to ask "is there any difference at all?" (``stats.classifier``:
standardised, per-stage weighted, L2 logistic regression with its strength chosen by cross-validation),
folded into one weight vector per detector. A fifth of the pool is held out: each detector's AUROC on
held-out edited vs unedited images is recorded with the weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tellapart.concepts.base import Concept
from tellapart.concepts.learned import LearnedDetectors
from tellapart.stats.auroc import auroc
from tellapart.stats.classifier import fit_classifier


@dataclass(frozen=True)
class LearnedFamily:
    """A synth family to learn, and the concept its detector becomes."""

    family: str
    phrase: str
    parents: tuple[str, ...] = ()
    synonyms: tuple[str, ...] = ()


LEARNED_FAMILIES = (
    LearnedFamily("text", "carry overlaid text", ("learned.overlay",),
                  ("text", "writing", "caption", "letters", "words", "label")),
    LearnedFamily("logo", "carry a small logo or clip-art", ("learned.overlay",),
                  ("logo", "sticker", "clip art", "emblem", "icon")),
    LearnedFamily("triangle", "carry a triangle", ("shape.any",), ("triangle", "triangular shape")),
    LearnedFamily("rotation", "are rotated", (), ("rotated", "tilted", "turned", "skewed")),
    LearnedFamily("zoom", "are zoomed in (cropped closer)", (), ("zoomed", "cropped", "close-up")),
)
STRENGTHS = (0.4, 1.0)  # edits are drawn at strengths in this range, so detectors see subtle ones too
HELD_OUT = 0.2


def train_detectors(
    pool: Sequence[np.ndarray],
    families: Sequence[LearnedFamily] = LEARNED_FAMILIES,
    n_per_family: int = 120,
    seed: int = 0,
    library=None,
    cache=None,
    progress: bool = True,
) -> LearnedDetectors:
    """Train one detector per family on ``pool`` (RGB uint8 images); return them with held-out AUROCs.

    Parameters:
        pool: base images (at least 50; a fifth is held out for the recorded AUROC).
        families: which synth families to learn (default ``LEARNED_FAMILIES``).
        n_per_family: edited training images per family (as many again, held out, are scaled by 1/4).
        seed: makes the edits, the split and the cross-validation reproducible.
        library: a ConceptLibrary whose embedding the detectors read (default: the semantic source only).
        cache: a ScoreCache for the embeddings (optional).
        progress: show progress bars while images are embedded.
    """
    from tellapart.synth import get_family

    if len(pool) < 50:
        raise ValueError(f"the pool has {len(pool)} images; training needs at least 50")
    if n_per_family < 10:
        raise ValueError(f"n_per_family must be at least 10, got {n_per_family}")
    if not families:
        raise ValueError("no families to learn")
    library = library or _embedding_library()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(pool))
    n_test = max(10, int(len(pool) * HELD_OUT))
    test_pool, train_pool = [pool[i] for i in order[:n_test]], [pool[i] for i in order[n_test:]]

    def edited(base: Sequence[np.ndarray], count: int, name: str) -> list[np.ndarray]:
        family = get_family(name)
        picks = rng.integers(len(base), size=count)
        return [family.apply(base[i], rng, float(rng.uniform(*STRENGTHS))) for i in picks]

    train_sets = {f.family: edited(train_pool, n_per_family, f.family) for f in families}
    test_sets = {f.family: edited(test_pool, max(10, n_per_family // 4), f.family) for f in families}
    X, labels = _embed(library, {"clean": list(train_pool), **train_sets}, cache, progress)
    X_test, test_labels = _embed(library, {"clean": list(test_pool), **test_sets}, cache, progress)

    weights, biases, info = [], [], {"seed": seed, "pool_size": len(pool), "n_per_family": n_per_family,
                                     "held_out_auroc": {}}
    for family in families:
        y = labels == family.family
        model = fit_classifier(X, y, seed=seed, blocks=library.embedding_blocks)
        w, b = fold_classifier(model)
        weights.append(w)
        biases.append(b)
        positives = X_test[test_labels == family.family] @ w + b
        clean = X_test[test_labels == "clean"] @ w + b
        info["held_out_auroc"][family.family] = round(float(auroc(positives, clean)), 4)
    concepts = tuple(
        Concept(f"learned.{f.family}", f.phrase, "presence", parents=f.parents, synonyms=f.synonyms)
        for f in families
    )
    return LearnedDetectors(concepts, np.vstack(weights).astype(np.float32), np.asarray(biases, np.float32),
                            library.embedding_version, info)


def _embedding_library():
    from tellapart.concepts.library import ConceptLibrary
    from tellapart.concepts.semantics import SemanticSource

    return ConceptLibrary([SemanticSource()], learned=None)


def _embed(
    library, groups: dict[str, list[np.ndarray]], cache, progress: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings of every image, and the group each came from."""
    from tellapart.io import ImageSet

    sets = {name: ImageSet.from_spec(images, name=name) for name, images in groups.items()}
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=sum(len(v) for v in groups.values()), unit="img", desc="Embedding", leave=False)
    try:
        table = library.score_sets(sets, cache=cache, progress=bar.update if bar else None)
    finally:
        if bar is not None:
            bar.close()
    return table.embeddings.astype(np.float64), table.images["set"].to_numpy()


def fold_classifier(model) -> tuple[np.ndarray, float]:
    """Return a fitted ``stats.classifier`` model as one linear function of the raw embedding: (w, b)."""
    coef = model.model.coef_.ravel()
    direction = model.basis @ coef * model.weights / model.scaler.scale_
    bias = float(model.model.intercept_[0] - model.scaler.mean_ @ direction)
    return direction, bias
