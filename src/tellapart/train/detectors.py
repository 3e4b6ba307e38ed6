"""Train linear detectors on the backbone's embedding for synthetic edit families.

For each family, images of a base pool are edited at random strengths (positives); the same pool unedited
and the other families' edits (up to ``OTHER_NEGATIVES``, drawn evenly across families) are the
negatives, so a detector answers "this edit", not "any edit". The classifier is the one tellapart uses to
ask "is there any difference at all?" (``stats.classifier``: standardised, per-stage weighted, L2 logistic
regression with its strength chosen by cross-validation), folded into one weight vector per detector. A
fifth of the pool is held out: each detector's AUROC on held-out edited vs unedited images is recorded with
the weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from tellapart.concepts.base import Concept
from tellapart.concepts.learned import LearnedDetectors, detector_id
from tellapart.stats.auroc import auroc
from tellapart.stats.classifier import fit_classifier


@dataclass(frozen=True)
class LearnedFamily:
    """A synth family to learn, and the concept its detector becomes."""

    family: str
    phrase: str
    parents: tuple[str, ...] = ()
    synonyms: tuple[str, ...] = ()


# Each tint hue of ``synth.edits.TINTS``: how it is named, and its "-ish" adjective.
TINT_WORDS = {
    "red": ("red", "reddish"), "orange": ("orange", "orangey"), "yellow": ("yellow", "yellowish"),
    "green": ("green", "greenish"), "cyan": ("cyan", "cyan-ish"), "blue": ("blue", "bluish"),
    "purple": ("purple or magenta", "purplish"),
}

# One detector per synth edit family (``tellapart.synth.families.FAMILY_NAMES``). Where a hand-written
# concept names the same difference (``shape.rectangle``, ``stats.sharpness``...), it is the detector's
# parent: the benchmark then gives partial credit, and the phrases say what was done to the image, so a
# reader can tell "carry a pasted rectangle" (learned) from "carry a rectangle" (the shape detector).
LEARNED_FAMILIES = (
    LearnedFamily("rectangle", "carry a pasted solid rectangle", ("shape.rectangle",),
                  ("rectangle", "square", "box", "patch", "block", "pasted rectangle")),
    LearnedFamily("circle", "carry a pasted solid disc", ("shape.circle",),
                  ("circle", "disc", "dot", "round marker", "blob")),
    LearnedFamily("triangle", "carry a triangle", ("shape.any",), ("triangle", "triangular shape")),
    LearnedFamily("line", "carry a straight bar or line", ("shape.line",),
                  ("line", "bar", "stripe", "stroke", "scratch")),
    LearnedFamily("text", "carry overlaid text", ("learned.overlay",),
                  ("text", "writing", "caption", "letters", "words", "label")),
    LearnedFamily("logo", "carry a small logo or clip-art", ("learned.overlay",),
                  ("logo", "sticker", "clip art", "emblem", "icon")),
    LearnedFamily("brightness_up", "look brightened (lifted towards white)", ("stats.brightness",),
                  ("brighter", "brightened", "overexposed", "lighter", "washed out")),
    LearnedFamily("brightness_down", "look darkened", ("stats.brightness",),
                  ("darker", "darkened", "underexposed", "dim", "dark")),
    LearnedFamily("contrast_up", "have boosted contrast", ("stats.contrast",),
                  ("more contrast", "higher contrast", "punchy", "harsh contrast")),
    LearnedFamily("contrast_down", "have flattened, low contrast", ("stats.contrast",),
                  ("less contrast", "lower contrast", "flat", "washed out", "hazy")),
    LearnedFamily("saturation_up", "have boosted colour saturation", ("stats.saturation",),
                  ("more saturated", "vivid colours", "oversaturated", "vibrant")),
    LearnedFamily("saturation_down", "look desaturated (faded colours)", ("stats.saturation",),
                  ("less saturated", "faded colours", "muted colours", "desaturated", "pale")),
    LearnedFamily("grayscale", "were converted to grayscale", ("stats.grayscale",),
                  ("grayscale", "greyscale", "black and white", "monochrome", "no colour")),
    LearnedFamily("blur", "are blurred", ("stats.sharpness",),
                  ("blurry", "blurred", "out of focus", "soft", "smoothed")),
    LearnedFamily("noise", "carry added grain or noise", ("stats.noise",),
                  ("noisy", "grainy", "grain", "speckle", "sensor noise")),
    LearnedFamily("jpeg", "show heavy JPEG compression", ("stats.jpeg_blockiness",),
                  ("jpeg artefacts", "compression artifacts", "blocky", "low quality", "compressed")),
    LearnedFamily("downscale", "were shrunk and enlarged back (lost resolution)", ("stats.sharpness",),
                  ("low resolution", "upscaled", "pixelated", "lost detail", "downsampled")),
    LearnedFamily("border", "have a painted frame or border", ("stats.border",),
                  ("border", "frame", "margin", "padding", "outline")),
    LearnedFamily("vignette", "have darkened corners (vignetting)", ("stats.vignetting",),
                  ("vignette", "vignetting", "dark corners", "dark edges", "light falloff")),
    LearnedFamily("rotation", "are rotated", (), ("rotated", "tilted", "turned", "skewed")),
    LearnedFamily("zoom", "are zoomed in (cropped closer)", (), ("zoomed", "cropped", "close-up")),
    *(
        LearnedFamily(f"tint_{hue}", f"are tinted {name}", (f"stats.{hue}_tint",),
                      (f"{hue} tint", f"{hue} cast", f"{hue} colour cast", ish, f"tinted {hue}"))
        for hue, (name, ish) in TINT_WORDS.items()
    ),
)
DETECTOR_POOL_SIZE = 400  # base images of the detectors of `tellapart train`
STRENGTHS = (0.4, 1.0)  # edits are drawn at strengths in this range, so detectors see subtle ones too
HELD_OUT = 0.2
# At most this many other families' edits are negatives of each detector (as many as four families give).
OTHER_NEGATIVES = 480


def train_detectors(
    pool: Sequence[np.ndarray],
    families: Sequence[LearnedFamily] = LEARNED_FAMILIES,
    n_per_family: int = 120,
    seed: int = 0,
    library=None,
    cache=None,
    progress: bool = True,
    ray: str | None = None,
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
        ray: embed the images the cache lacks on this Ray cluster (an address or "auto"; needs ``cache``).
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
    X, labels = _embed(library, {"clean": list(train_pool), **train_sets}, cache, progress, ray)
    X_test, test_labels = _embed(library, {"clean": list(test_pool), **test_sets}, cache, progress, ray)

    weights, biases, info = [], [], {"seed": seed, "pool_size": len(pool), "n_per_family": n_per_family,
                                     "held_out_auroc": {}}
    for index, family in enumerate(families):
        rows = _training_rows(labels, family.family, np.random.default_rng([seed, index]))
        y = labels[rows] == family.family
        # One BLAS thread: these small fits ran 30-100x slower with two threads competing with the model's
        # idle worker threads on a busy 2-core machine (and one thread makes the weights reproducible).
        with threadpool_limits(limits=1, user_api="blas"):
            model = fit_classifier(X[rows], y, seed=seed, blocks=library.embedding_blocks)
        w, b = fold_classifier(model)
        weights.append(w)
        biases.append(b)
        positives = X_test[test_labels == family.family] @ w + b
        clean = X_test[test_labels == "clean"] @ w + b
        info["held_out_auroc"][family.family] = round(float(auroc(positives, clean)), 4)
    concepts = tuple(
        Concept(detector_id(f.family), f.phrase, "presence", parents=f.parents, synonyms=f.synonyms,
                category="learned")
        for f in families
    )
    return LearnedDetectors(concepts, np.vstack(weights).astype(np.float32), np.asarray(biases, np.float32),
                            library.embedding_version, info)


def detector_pool(seed: int, size: int = DETECTOR_POOL_SIZE) -> list[np.ndarray]:
    """The default base images of the detectors: crops (96-256 px, grey photos included) of the bundled
    photos' training part, so no photo the benchmark edits is trained on; seeded with ``seed + 1``."""
    from tellapart.synth.pools import bundled_pool
    from tellapart.train.describer import TRAIN_PART

    return bundled_pool(size, seed=seed + 1, part=TRAIN_PART)


def _training_rows(labels: np.ndarray, family: str, rng: np.random.Generator) -> np.ndarray:
    """Rows one detector is fitted on: its family's edits, every unedited image, and other families' edits.

    Of the other families' edits at most ``OTHER_NEGATIVES`` are used, drawn evenly across the families:
    with many families, all of them would cost far more to fit (more rows than embedding dimensions) and
    drown the unedited images among the negatives.
    """
    keep = (labels == family) | (labels == "clean")
    others = [name for name in dict.fromkeys(labels) if name not in (family, "clean")]
    per_family = -(-OTHER_NEGATIVES // max(1, len(others)))
    for name in others:
        candidates = np.flatnonzero(labels == name)
        if len(candidates) > per_family:
            candidates = rng.choice(candidates, per_family, replace=False)
        keep[candidates] = True
    return np.flatnonzero(keep)


def _embedding_library():
    from tellapart.concepts.library import ConceptLibrary
    from tellapart.concepts.semantics import SemanticSource

    return ConceptLibrary([SemanticSource()], learned=None)


def _embed(
    library, groups: dict[str, list[np.ndarray]], cache, progress: bool, ray: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings of every image, and the group each came from."""
    from tellapart.concepts.distributed import score_sets
    from tellapart.io import ImageSet

    sets = {name: ImageSet.from_spec(images, name=name) for name, images in groups.items()}
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=sum(len(v) for v in groups.values()), unit="img", desc="Embedding", leave=False)
    try:
        table = score_sets(library, sets, cache, ray=ray, bar=bar)
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
