"""The benchmark's pairs of image sets, each with its known answer.

Sections: synthetic tiers ``easy`` / ``medium`` / ``hard``, ``real`` category pairs from data no one here
made, ``real-hard`` (the same category pairs made as hard as the hard tier: set A mixes in set B's
category and both sets are diluted with a third pool), ``null`` pairs (same distribution on both sides),
and on the hard tier a purity sweep (100% -> 0%) and a concentration sweep. Everything is deterministic
for the seed.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tellapart.io.decode import UnreadableImage
from tellapart.synth.families import FAMILY_NAMES, Difference
from tellapart.synth.pairs import make_edited_pair
from tellapart.synth.pools import (
    OPENCLIPART_DIR,
    PoolUnavailable,
    bundled_pool,
    fashion_mnist_pool,
    lfw_pool,
    openclipart_files,
    openclipart_pool,
    textile_files,
    textile_pool,
)
from tellapart.synth.tiers import TIER_SPECS, TIERS, TierSpec

REAL_HARD = "real-hard"  # real category pairs at the hard tier's purity and concentration
MULTI = "multi"  # the section of multi-edit pairs
# Tints count as one kind when drawing families (a random hue each time), so 7 hues do not crowd out the rest.
KINDS = tuple(n for n in FAMILY_NAMES if not n.startswith("tint_")) + ("tint",)
HUES = tuple(n.removeprefix("tint_") for n in FAMILY_NAMES if n.startswith("tint_"))
# Every bundled photo and textile the benchmark draws is of this part (``synth.pools.PARTS``): none of its
# source photos is seen by ``tellapart train``, which draws from the "train" part.
BENCH_PART = "bench"


PURITY_SWEEP = (1.0, 0.75, 0.5, 0.25, 0.0)
CONCENTRATION_SWEEP = (1.0, 0.75, 0.5, 0.25)


@dataclass(frozen=True)
class SuiteConfig:
    """The size of a suite.

    Attributes:
        name: "quick", "full" or anything for a custom run.
        n_per_set: images per set in synthetic and null pairs.
        pairs_per_tier: synthetic pairs per tier.
        null_pairs: synthetic null pairs (purity 0), plus one real null pair per real data source.
        sweep_pairs: pairs per point of each sweep.
        real_pairs: real category pairs per data source (at most the number defined).
        real_per_set: images per set in real pairs.
        pool_size: size of the bundled base pool.
        real_hard_draws: mixes drawn of each real category pair for the ``real-hard`` section.
    """

    name: str
    n_per_set: int
    pairs_per_tier: int
    null_pairs: int
    sweep_pairs: int
    real_pairs: int
    real_per_set: int
    pool_size: int
    real_hard_draws: int = 1

    def __post_init__(self) -> None:
        if self.n_per_set < 10 or self.real_per_set < 10:
            raise ValueError("sets need at least 10 images each (5 for discovery, 5 for validation)")
        for name in ("pairs_per_tier", "null_pairs", "sweep_pairs", "real_pairs", "real_hard_draws"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.pool_size < 2 * self.n_per_set:
            raise ValueError(f"pool_size {self.pool_size} is smaller than two sets of {self.n_per_set}")


SUITES = {
    # 40 images per set: tellapart tests on a held-out half, and at 24 per set (12 per half) even strong
    # edits rarely reached significance.
    "quick": SuiteConfig(
        "quick",
        n_per_set=40,
        pairs_per_tier=5,
        null_pairs=6,
        sweep_pairs=1,
        real_pairs=1,
        real_per_set=30,
        pool_size=200,
    ),
    "full": SuiteConfig(
        "full",
        n_per_set=100,
        pairs_per_tier=50,
        null_pairs=50,
        sweep_pairs=10,
        real_pairs=3,
        real_per_set=100,
        pool_size=600,
        real_hard_draws=4,
    ),
}


@dataclass
class BenchPair:
    """One pair of image sets with its known answer.

    ``section`` is a tier, "multi", "real", "real-hard", "null", "sweep_purity" or "sweep_concentration";
    ``x`` the swept value.
    """

    name: str
    section: str
    set_a: list[np.ndarray]
    set_b: list[np.ndarray]
    differences: list[Difference]
    info: dict = field(default_factory=dict)
    x: float | None = None


def get_suite(suite: str | SuiteConfig) -> SuiteConfig:
    """Return the config of a named suite ("quick", "full") or the config given; ValueError if unknown."""
    if isinstance(suite, SuiteConfig):
        return suite
    if suite not in SUITES:
        raise ValueError(f"unknown suite {suite!r}; use one of {', '.join(SUITES)}")
    return SUITES[suite]


def _draw(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(bounds[0] if bounds[0] == bounds[1] else rng.uniform(*bounds))


def _family_name(kind: str, rng: np.random.Generator, hues: tuple[str, ...] = HUES) -> str:
    return f"tint_{hues[int(rng.integers(len(hues)))]}" if kind == "tint" else kind


class PairFactory:
    """Builds every pair of a suite from shared pools (made once, lazily).

    ``families`` restricts synthetic pairs to edits from these family names (None: all of them).
    """

    def __init__(self, config: SuiteConfig, seed: int, families: list[str] | None = None) -> None:
        self.config = config
        self.seed = seed
        unknown = sorted(set(families or ()) - set(FAMILY_NAMES))
        if unknown:
            raise ValueError(f"unknown families {unknown}; use any of {list(FAMILY_NAMES)}")
        allowed = set(families or FAMILY_NAMES)
        self.hues = tuple(h for h in HUES if f"tint_{h}" in allowed)
        self.allowed_kinds = tuple(k for k in KINDS if k in allowed or (k == "tint" and self.hues))
        if not self.allowed_kinds:
            raise ValueError("no families left to draw pairs from")
        self.notes: list[str] = []
        self._base: list[np.ndarray] | None = None
        self._dilution: list[np.ndarray] | None = None
        self._real_dilution: list[np.ndarray] | None = None

    @property
    def base(self) -> list[np.ndarray]:
        """The bundled colour photographs' crops (of the bench part) every synthetic pair is drawn from."""
        if self._base is None:
            self._base = bundled_pool(
                self.config.pool_size, seed=self.seed, min_side=128, max_side=224, include_gray=False,
                part=BENCH_PART,
            )
        return self._base

    @property
    def dilution(self) -> list[np.ndarray]:
        """The third pool that dilutes both sets of synthetic pairs."""
        if self._dilution is None:
            self._dilution = self._diluting_pool(2 * self.config.n_per_set, self.seed + 1)
        return self._dilution

    @property
    def real_dilution(self) -> list[np.ndarray]:
        """The pool that dilutes both sets of ``real-hard`` pairs (drawn apart, so the synthetic pairs do
        not depend on the real pairs' size)."""
        if self._real_dilution is None:
            self._real_dilution = self._diluting_pool(2 * self.config.real_per_set, self.seed + 5)
        return self._real_dilution

    def _diluting_pool(self, need: int, seed: int) -> list[np.ndarray]:
        """Textiles when installed, else grey-inclusive crops of the bundled photos."""
        try:
            available = len(textile_files("nominal", BENCH_PART))
            return textile_pool("nominal", min(need, available), seed=seed, part=BENCH_PART)
        except PoolUnavailable as error:
            self.notes.append(f"dilution pool: {error}; used bundled crops instead")
            return bundled_pool(need, seed=seed, min_side=128, max_side=224, part=BENCH_PART)

    def synthetic(
        self,
        section: str,
        spec: TierSpec,
        index: int,
        kinds: list[str],
        purity: float | None = None,
        concentration: float | None = None,
        x: float | None = None,
        n_edits: int | None = None,
    ) -> BenchPair:
        """One synthetic pair; ``purity``/``concentration``/``n_edits`` override the tier's draw."""
        rng = np.random.default_rng([self.seed, zlib.crc32(section.encode()), index])
        if n_edits is None:
            n_edits = 2 if rng.random() < spec.two_edit_share else 1
        names = [_family_name(kinds[(index * 2 + j) % len(kinds)], rng, self.hues) for j in range(n_edits)]
        names = list(dict.fromkeys(names))  # a family drawn twice is one edit
        edits = [(name, _draw(rng, spec.strength)) for name in names]
        purity = _draw(rng, spec.purity) if purity is None else purity
        concentration = _draw(rng, spec.concentration) if concentration is None else concentration
        pair = make_edited_pair(
            self.base,
            edits,
            self.config.n_per_set,
            self.config.n_per_set,
            seed=int(rng.integers(2**31)),
            purity=purity,
            concentration=concentration,
            dilution=self.dilution if concentration < 1 else None,
        )
        label = "+".join(names) if pair.differences else "null"
        return BenchPair(
            f"{section}-{index:03d}-{label}", section, pair.set_a, pair.set_b, pair.differences, pair.truth, x
        )

    def kinds(self, section: str) -> list[str]:
        """The family kinds in a seeded random order (pairs cycle through them)."""
        rng = np.random.default_rng([self.seed, zlib.crc32(section.encode()), 7])
        return [self.allowed_kinds[i] for i in rng.permutation(len(self.allowed_kinds))]


def synthetic_pairs(factory: PairFactory) -> Iterator[BenchPair]:
    """The tiers, the multi-edit pairs, the null pairs and the two sweeps on the hard tier."""
    config = factory.config
    for tier in TIERS:
        kinds = factory.kinds(tier)
        for i in range(config.pairs_per_tier):
            yield factory.synthetic(tier, TIER_SPECS[tier], i, kinds)
    # Multi-edit pairs: medium-tier edits, two or three per pair (recall and precision of the findings).
    kinds = factory.kinds(MULTI)
    for i in range(config.pairs_per_tier):
        yield factory.synthetic(MULTI, TIER_SPECS["medium"], i, kinds, n_edits=2 + i % 2)
    for i in range(config.null_pairs):
        spec = TIER_SPECS["hard"]
        yield factory.synthetic("null", spec, i, factory.kinds("null"), purity=0.0, n_edits=1)
    hard = TIER_SPECS["hard"]
    for purity in PURITY_SWEEP:
        kinds = factory.kinds("sweep")
        for i in range(config.sweep_pairs):
            yield factory.synthetic(
                "sweep_purity", hard, i, kinds, purity=purity, concentration=1.0, x=purity, n_edits=1
            )
    for concentration in CONCENTRATION_SWEEP:
        kinds = factory.kinds("sweep")
        for i in range(config.sweep_pairs):
            yield factory.synthetic(
                "sweep_concentration",
                hard,
                i,
                kinds,
                purity=1.0,
                concentration=concentration,
                x=concentration,
                n_edits=1,
            )


def _diff(concepts: tuple[str, ...], direction: str, sentence: str) -> Difference:
    return Difference("category", concepts, direction, sentence)


FOOTWEAR = (
    "semantic.footwear",
    "semantic.shoe",
    "semantic.running_shoe",
    "semantic.sandal",
    "semantic.cowboy_boot",
    "semantic.clog",
    "semantic.loafer",
)
GARMENTS = (
    "semantic.garment",
    "semantic.clothing",
    "semantic.jersey",
    "semantic.sweater",
    "semantic.coat",
    "semantic.jean",
    "semantic.sweatshirt",
    "semantic.cardigan",
    "semantic.trench_coat",
)
BAGS = ("semantic.bag", "semantic.purse", "semantic.mailbag", "semantic.backpack", "semantic.container")

# (data source, name, pool for A, pool for B, the answer). Pools are callables (n, seed) -> images.
Real = tuple[str, str, Callable[[int, int], list], Callable[[int, int], list], list[Difference]]


def _fashion(label: str) -> Callable[[int, int], list]:
    return lambda n, seed: fashion_mnist_pool(label, n, seed)


def _clipart(category: str) -> Callable[[int, int], list]:
    return lambda n, seed: openclipart_pool(category, n, seed, part=BENCH_PART)


def _textile(kind: str) -> Callable[[int, int], list]:
    return lambda n, seed: textile_pool(kind, n, seed, part=BENCH_PART)


def _lfw(faces: bool) -> Callable[[int, int], list]:
    return lambda n, seed: lfw_pool(faces, n, seed)


# Photos of people and of an everyday object that install with scikit-image: (name, crop box
# (top, left, bottom, right) as fractions of the photo). The astronaut is upper body, the cameraman full
# figure; the cup is the coffee photo's cup. They are "train" photos of ``synth.pools``, but what training
# learns from them is synthetic edits, never people or cups.
PERSON_PHOTOS = (("astronaut", (0.0, 0.0, 1.0, 0.75)), ("camera", (0.0, 0.0, 1.0, 1.0)))
CUP_PHOTO = ("coffee", (0.05, 0.1, 0.95, 0.9))
# The same photo beside the cup (the red saucer's rim on the wooden table): every cup mosaic holds one.
TABLE_PHOTOS = (("coffee", (0.45, 0.0, 1.0, 0.3)), ("coffee", (0.25, 0.72, 1.0, 1.0)))
# A mosaic without a cup holds a crop of the cup blurred with this sigma (a share of the tile's side) in its
# place: the cup's colours (a red cup alone made set A redder, AUROC 1.0), no cup.
CUP_BLUR = 0.12
MOSAIC_TILE = 128  # px per tile of a 2 x 2 mosaic (256 px): each tile reaches the COCO detector at 256 px


def _photo(name: str, box: tuple[float, float, float, float]) -> np.ndarray:
    import skimage.data

    photo = getattr(skimage.data, name)()
    height, width = photo.shape[:2]
    top, left, bottom, right = box
    return photo[round(top * height):round(bottom * height), round(left * width):round(right * width)]


def _tile(image: np.ndarray, rng: np.random.Generator, side: int, gray: bool) -> np.ndarray:
    """A random 75-100% crop of ``image``, mirrored half the time, resized to side x side, RGB uint8 (grey
    when ``gray``, so no colour tells the tiles apart)."""
    import cv2

    image = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image[..., :3]
    height, width = image.shape[:2]
    f = rng.uniform(0.75, 1.0)
    h, w = max(1, round(f * height)), max(1, round(f * width))
    y, x = rng.integers(0, height - h + 1), rng.integers(0, width - w + 1)
    tile = cv2.resize(image[y:y + h, x:x + w], (side, side), interpolation=cv2.INTER_AREA)
    tile = tile[:, ::-1] if rng.random() < 0.5 else tile
    if gray:
        tile = np.repeat(cv2.cvtColor(np.ascontiguousarray(tile), cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    return np.ascontiguousarray(tile)


def photo_mosaics(
    content: str, n_content: int, n: int, seed: int, side: int = MOSAIC_TILE, grid: int = 2
) -> list[np.ndarray]:
    """Return ``n`` grid x grid mosaics of real photos, ``n_content`` tiles of which show ``content`` and
    the rest do not, in random places; deterministic for ``seed``.

    ``"person"``: grey crops of scikit-image's astronaut and cameraman among grey lfw_subset non-face
    crops; ``"cup"``: colour crops of the coffee photo's cup among colour crops of the benchmark's bundled
    photos, with one crop of the table beside the cup (``TABLE_PHOTOS``) in every mosaic and, in a mosaic
    without a cup, a crop of the cup blurred past recognition (``CUP_BLUR``) in its place.
    Mosaics with 3 vs 1 people make a "more people" pair, with 1 vs 0 cups a "with a cup" pair.
    """
    import cv2

    if content not in ("person", "cup") or not 0 <= n_content <= grid * grid:
        raise ValueError(f"need content person|cup and at most {grid * grid} tiles, got {content!r}, "
                         f"{n_content}")
    rng = np.random.default_rng([seed, zlib.crc32(content.encode()), n_content])
    if content == "person":
        sources, fillers, gray = [_photo(*p) for p in PERSON_PHOTOS], lfw_pool(False), True
    else:
        sources, fillers, gray = [_photo(*CUP_PHOTO)], bundled_pool(60, seed, part=BENCH_PART), False
    mosaics = []
    for _ in range(n):
        tiles = [_tile(sources[rng.integers(len(sources))], rng, side, gray) for _ in range(n_content)]
        if content == "cup":
            tiles.append(_tile(_photo(*TABLE_PHOTOS[rng.integers(len(TABLE_PHOTOS))]), rng, side, gray))
            if n_content == 0:  # the cup's colours in its place, blurred past recognition
                tiles.append(cv2.GaussianBlur(_tile(sources[0], rng, side, gray), (0, 0), CUP_BLUR * side))
        tiles += [_tile(fillers[rng.integers(len(fillers))], rng, side, gray)
                  for _ in range(grid * grid - len(tiles))]
        tiles = [tiles[i] for i in rng.permutation(grid * grid)]
        mosaics.append(np.vstack([np.hstack(tiles[r * grid:(r + 1) * grid]) for r in range(grid)]))
    return mosaics


def _mosaics(content: str, n_content: int) -> Callable[[int, int], list]:
    return lambda n, seed: photo_mosaics(content, n_content, n, seed)


# Standing vs sitting, from openclipart drawings the pose model (``concepts.poses``) labels confidently. No
# photo of a sitting person installs here (scikit-image, scikit-learn and lfw_subset hold none; lfw is
# faces only), so the pair is clip-art. All 7,098 distinct openclipart drawings were scored at 160 px
# (2026-12-01): 7 score sitting >= 0.7 and, by eye, 5 of them sit (a yoga pose, a seated girl, a seated
# outline, a seated silhouette, a pictogram in a ring on a grey tile) and 2 do not (a running icon, a
# weightlifter's squat). ``SITTING_DRAWINGS`` are the 4 that sit, less the pictogram (its grey tile alone
# would tell the sets apart). Every other drawing of a sitting person seen in the people category (a man
# in an office chair, a woman reading on the floor, a group on chairs) scores below 0.2: its knees or hips
# are not found.
SITTING_DRAWINGS = (
    "people/yoga_architetto_francesc_01.png",
    "unsorted/ragazza_seduta.png",
    "plants/human_humain_umano_sed_r.png",
    "shapes/shadow_babe_robert_seitz_01.png",
)
# Standing figures are the people category's drawings that score standing >= 0.8 and sitting < 0.1: 22
# of its 400 files; by eye 21 of the 22 stand, and the other, a ballet dancer in mid-leap, is left out.
STANDING_CATEGORY = "people"
NOT_STANDING = ("ballerina_architetto_fra_01.png",)
CONFIDENT_STANDING = 0.8
# Each image of the pair is one drawing at a random 70-100% of the image's side (``POSE_SIDE`` px, grey,
# on white), placed at random and mirrored half the time, kept only if the pose model still labels it
# confidently (sitting or standing >= ``CONFIDENT_POSE`` and the other < ``UNSURE_POSE``); on the
# drawings (seed 0, 100 images per set) 100 of 173 sitting and 100 of 178 standing placements were kept.
POSE_SIDE = 160
CONFIDENT_POSE = 0.7
UNSURE_POSE = 0.1
POSES = ("standing", "sitting")


def _drawing(path: Path, side: int) -> np.ndarray:
    """Return an openclipart PNG as RGB uint8 on white, its longer side ``side`` px (tellapart's own
    decoder: oversized files are refused from their header)."""
    import cv2

    from tellapart.io.decode import decode_bytes

    pixels = decode_bytes(path.read_bytes(), str(path), key="").pixels
    scale = side / max(pixels.shape[:2])
    size = (max(1, round(pixels.shape[1] * scale)), max(1, round(pixels.shape[0] * scale)))
    return cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)


def _pose_scores(pixels: np.ndarray) -> dict[str, float]:
    """Return the pose model's scores for one RGB image, by concept id (``pose.standing``, ...)."""
    from tellapart.concepts.poses import CONCEPTS, PoseSource

    return {c.id: float(v) for c, v in zip(CONCEPTS, PoseSource().scores_for(pixels), strict=True)}


def _confident(pixels: np.ndarray, pose: str, threshold: float = CONFIDENT_POSE) -> bool:
    """Return whether the pose model scores ``pixels`` ``pose`` at ``threshold`` or above and the other
    pose below ``UNSURE_POSE`` (one pass of the model for both)."""
    other = POSES[1 - POSES.index(pose)]
    scores = _pose_scores(pixels)
    return scores[f"pose.{pose}"] >= threshold and scores[f"pose.{other}"] < UNSURE_POSE


@functools.cache
def pose_drawings(pose: str) -> tuple[np.ndarray, ...]:
    """Return the openclipart drawings of people ``pose`` ("standing" or "sitting"), ``POSE_SIDE`` px RGB:
    ``SITTING_DRAWINGS``, or the ``STANDING_CATEGORY`` drawings scoring standing >= ``CONFIDENT_STANDING``
    and sitting < ``UNSURE_POSE`` (sorted by file name, less ``NOT_STANDING``), each kept only while the
    pose model labels it so.

    Raises PoolUnavailable when ``openclipart-png`` is not installed, ValueError for an unknown pose.
    """
    if pose not in POSES:
        raise ValueError(f"pose must be one of {POSES}, got {pose!r}")
    files = openclipart_files(STANDING_CATEGORY)  # raises PoolUnavailable without openclipart-png
    if pose == "sitting":
        files = [OPENCLIPART_DIR / name for name in SITTING_DRAWINGS]
    else:
        files = [path for path in files if path.name not in NOT_STANDING]
    drawings = []
    for path in files:
        try:
            image = _drawing(path, POSE_SIDE)
        except (OSError, UnreadableImage):
            continue
        if _confident(image, pose, CONFIDENT_POSE if pose == "sitting" else CONFIDENT_STANDING):
            drawings.append(image)
    return tuple(drawings)


def _placed(drawing: np.ndarray, rng: np.random.Generator, side: int) -> np.ndarray:
    """``drawing`` grey, at a random 70-100% of ``side``, at a random place on a white side x side image,
    mirrored half the time."""
    import cv2

    scale = rng.uniform(0.7, 1.0) * side / max(drawing.shape[:2])
    width, height = max(1, round(drawing.shape[1] * scale)), max(1, round(drawing.shape[0] * scale))
    figure = cv2.resize(drawing, (width, height), interpolation=cv2.INTER_AREA)
    figure = cv2.cvtColor(figure, cv2.COLOR_RGB2GRAY)
    figure = figure[:, ::-1] if rng.random() < 0.5 else figure
    out = np.full((side, side), 255, np.uint8)
    top, left = rng.integers(0, side - height + 1), rng.integers(0, side - width + 1)
    out[top:top + height, left:left + width] = figure
    return np.repeat(out[..., None], 3, axis=2)


def pose_figures(pose: str, n: int, seed: int, side: int = POSE_SIDE) -> list[np.ndarray]:
    """Return ``n`` images of one person ``pose`` ("standing" or "sitting"): ``pose_drawings`` placed at
    random (``_placed``), each kept only if the pose model labels it confidently as ``pose``
    (``CONFIDENT_POSE``, the other pose < ``UNSURE_POSE``); deterministic for ``seed``.

    Raises PoolUnavailable without ``openclipart-png``; ValueError if 20 tries per image keep too few.
    """
    drawings = pose_drawings(pose)
    rng = np.random.default_rng([seed, zlib.crc32(pose.encode())])
    images: list[np.ndarray] = []
    for _ in range(20 * n):
        if len(images) == n:
            break
        candidate = _placed(drawings[rng.integers(len(drawings))], rng, side)
        if _confident(candidate, pose):
            images.append(candidate)
    if len(images) == n:
        return images
    raise ValueError(f"only {len(images)} of {n} placements of the {pose} drawings stayed confident")


def _poses(pose: str) -> Callable[[int, int], list]:
    return lambda n, seed: pose_figures(pose, n, seed)


PEOPLE = ("object.person.count", "object.count", "object.person.area", "face.count", "detector.face_count")
CUPS = ("object.cup", "object.cup.count", "semantic.cup", "semantic.coffee_mug", "semantic.espresso",
        "semantic.measuring_cup", "object.count")

REAL_PAIRS: list[Real] = [
    (
        "lfw",
        "faces-vs-nonfaces",
        _lfw(True),
        _lfw(False),
        [
            _diff(
                ("detector.face", "detector.frontal_face", "semantic.person", "face.count"), "a",
                "Set A images show faces",
            )
        ],
    ),
    (
        "fashion-mnist",
        "sneaker-vs-shirt",
        _fashion("sneaker"),
        _fashion("shirt"),
        [_diff(FOOTWEAR, "a", "Set A images show shoes"), _diff(GARMENTS, "b", "Set B images show garments")],
    ),
    (
        "fashion-mnist",
        "bag-vs-sandal",
        _fashion("bag"),
        _fashion("sandal"),
        [_diff(BAGS, "a", "Set A images show bags"), _diff(FOOTWEAR, "b", "Set B images show sandals")],
    ),
    (
        "fashion-mnist",
        "trouser-vs-pullover",
        _fashion("trouser"),
        _fashion("pullover"),
        [
            _diff(("semantic.jean",), "a", "Set A images show trousers"),
            _diff(
                ("semantic.sweater", "semantic.sweatshirt", "semantic.cardigan"),
                "b",
                "Set B images show pullovers",
            ),
        ],
    ),
    (
        "openclipart",
        "animals-vs-transportation",
        _clipart("animals"),
        _clipart("transportation"),
        [
            _diff(("semantic.animal",), "a", "Set A images show animals"),
            _diff(("semantic.conveyance", "semantic.vehicle"), "b", "Set B images show vehicles"),
        ],
    ),
    (
        "openclipart",
        "food-vs-people",
        _clipart("food"),
        _clipart("people"),
        [
            _diff(("semantic.food",), "a", "Set A images show food"),
            _diff(("semantic.person", "detector.face", "object.person", "face.count"), "b",
                  "Set B images show people"),
        ],
    ),
    (
        "openclipart",
        "animals-vs-buildings",
        _clipart("animals"),
        _clipart("buildings"),
        [
            _diff(("semantic.animal",), "a", "Set A images show animals"),
            _diff(("semantic.building", "semantic.structure"), "b", "Set B images show buildings"),
        ],
    ),
    (
        "textiles",
        "local-defect-vs-nominal",
        _textile("local"),
        _textile("nominal"),
        [_diff(("learned.defect",), "a", "Set A textiles show a local defect")],
    ),
    (
        "textiles",
        "global-defect-vs-nominal",
        _textile("global"),
        _textile("nominal"),
        [_diff(("learned.defect",), "a", "Set A textiles show a global defect")],
    ),
    (
        "people",
        "more-vs-fewer-people",
        _mosaics("person", 3),
        _mosaics("person", 1),
        [_diff(PEOPLE, "a", "Set A images contain more people")],
    ),
    (
        "people",
        "with-vs-without-a-cup",
        _mosaics("cup", 1),
        _mosaics("cup", 0),
        [_diff(CUPS, "a", "Set A images contain a cup")],
    ),
    (
        "poses",
        "standing-vs-sitting",
        _poses("standing"),
        _poses("sitting"),
        [
            _diff(("pose.standing",), "a", "Set A images show a person standing"),
            _diff(("pose.sitting",), "b", "Set B images show a person sitting"),
        ],
    ),
]
# One null pair per source: two disjoint draws from the same pool.
REAL_NULLS = [
    ("fashion-mnist", "sneaker-vs-sneaker", _fashion("sneaker")),
    ("openclipart", "animals-vs-animals", _clipart("animals")),
    ("textiles", "nominal-vs-nominal", _textile("nominal")),
    ("people", "one-person-vs-one-person", _mosaics("person", 1)),
]


def real_pairs(
    config: SuiteConfig, seed: int, notes: list[str], dilution: Callable[[], list] | None = None
) -> Iterator[BenchPair]:
    """Real category pairs (at most ``config.real_pairs`` per source), each also at the hard tier when
    ``dilution`` (the pool that dilutes both sets) is given, and one real null pair per source.

    A hard-tier mix that needs more of set B's category than its pool holds is drawn with half the
    images per set (``info["n_per_set"]``).

    Sources whose package is missing are skipped with a line in ``notes``.
    """
    n = config.real_per_set
    used: dict[str, int] = {}
    unavailable: set[str] = set()
    for source, name, pool_a, pool_b, truth in REAL_PAIRS:
        if source in unavailable or used.get(source, 0) >= config.real_pairs:
            continue
        try:
            a, b = pool_a(n, seed), pool_b(n, seed + 1)
        except PoolUnavailable as error:
            unavailable.add(source)
            notes.append(f"skipped {source} pairs: {error}")
            continue
        except ValueError as error:  # a category smaller than the sets asked for
            notes.append(f"skipped {source} {name}: {error}")
            continue
        used[source] = used.get(source, 0) + 1
        info = {"source": source, "pair": name}
        yield BenchPair(f"real-{source}-{name}", "real", a, b, truth, info)
        for draw in range(config.real_hard_draws if dilution is not None else 0):
            try:
                a, b, mix = _real_hard_sets(name, pool_a, pool_b, (n, n // 2), seed, draw, dilution())
            except ValueError as error:
                notes.append(f"skipped {source} {name} at the hard tier: {error}")
                break
            yield BenchPair(f"{REAL_HARD}-{source}-{name}-{draw}", REAL_HARD, a, b, truth, {**info, **mix})
    if config.null_pairs == 0 or config.real_pairs == 0:
        return
    for source, name, pool in REAL_NULLS:
        if source in unavailable:
            continue
        try:
            both = pool(2 * n, seed + 2)
        except (PoolUnavailable, ValueError) as error:
            notes.append(f"skipped {source} null pair: {error}")
            continue
        yield BenchPair(
            f"null-{source}-{name}", "null", both[:n], both[n:], [], {"source": source, "pair": name}
        )


def _real_hard_sets(
    name: str,
    pool_a: Callable[[int, int], list],
    pool_b: Callable[[int, int], list],
    sizes: tuple[int, ...],
    seed: int,
    draw: int,
    dilution: list,
) -> tuple[list, list, dict]:
    """Mix ``draw`` of a real category pair made as hard as the hard tier, with its purity and concentration.

    Of each set, a share ``concentration`` (drawn from the hard tier's range) comes from the two
    categories and the rest from ``dilution``. In set A a share ``purity`` of those is A's category and
    the rest B's; set B holds only B's category. Both true differences still hold, more weakly: A shows
    its category more often, B shows its own more often. The sets have the first of ``sizes`` images each
    that the pools can fill (mixing needs more of B's category than a plain pair); ValueError when none.
    """
    spec = TIER_SPECS["hard"]
    rng = np.random.default_rng([seed, zlib.crc32(name.encode()), 11, draw])
    purity, concentration = _draw(rng, spec.purity), _draw(rng, spec.concentration)
    error = ValueError("no set size to draw")
    for n in sizes:
        n_content = max(2, round(concentration * n))
        n_from_a = max(1, round(purity * n_content))
        n_diluting = n - n_content
        if 2 * n_diluting > len(dilution):
            error = ValueError(f"the dilution pool has {len(dilution)} images, {2 * n_diluting} needed")
            continue
        try:
            from_a = pool_a(n_from_a, seed + 3 + 2 * draw)
            from_b = pool_b(2 * n_content - n_from_a, seed + 4 + 2 * draw)
        except ValueError as too_small:
            error = too_small
            continue
        diluting = [dilution[i] for i in rng.permutation(len(dilution))[: 2 * n_diluting]]
        set_a = from_a + from_b[: n_content - n_from_a] + diluting[:n_diluting]
        set_b = from_b[n_content - n_from_a:] + diluting[n_diluting:]
        mix = {"purity": round(purity, 3), "concentration": round(concentration, 3), "n_per_set": n}
        return set_a, set_b, mix
    raise error
