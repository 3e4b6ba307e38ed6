"""Difference families: an edit with one strength knob and the ground truth that names it.

Every family takes a ``strength`` in (0, 1]: 1 is a blatant edit, about 0.1 one a careful observer barely
notices. What a strength means in the edit's own unit is in each family's ``knob`` text (e.g. "blur sigma
= 0.4 + 3.6 s px"). The ground truth is the concept id(s) of tellapart's library that name the difference,
the direction ("a": the edited set A shows more of it; "b": less) and a reference sentence. Families no
concept of today's library names (triangle, text, logo, rotation, zoom) still carry honest truth ids
(``learned.triangle``, ``learned.text``...): no method scored on today's library can find them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from tellapart.synth import edits

OPENCLIPART_DIR = Path("/usr/share/openclipart/png")


@dataclass(frozen=True)
class Difference:
    """One known difference between set A and set B.

    Attributes:
        family: the family's name (or ``"category"`` for real category pairs).
        concepts: concept ids that name it; any of them counts as the right answer.
        direction: "a" when set A shows more of it, "b" when set B does.
        sentence: a reference sentence, e.g. "Set A images are blurrier".
        strength: the family's strength knob (None for real category pairs).
    """

    family: str
    concepts: tuple[str, ...]
    direction: str
    sentence: str
    strength: float | None = None

    def to_dict(self) -> dict:
        """Return the JSON-ready form used in truth.json."""
        return {
            "family": self.family,
            "concepts": list(self.concepts),
            "direction": self.direction,
            "sentence": self.sentence,
            "strength": self.strength,
        }


@dataclass(frozen=True)
class Family:
    """An edit with a strength knob in (0, 1] and the ground truth it creates."""

    name: str
    concepts: tuple[str, ...]
    direction: str
    sentence: str
    knob: str
    edit: Callable[[np.ndarray, np.random.Generator, float], np.ndarray] = field(repr=False)
    note: str = ""

    def apply(self, img: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
        """Return a new image: ``img`` (RGB uint8) edited at ``strength`` (ValueError outside (0, 1])."""
        check_strength(strength)
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError(f"images must be H x W x 3 uint8 RGB arrays, got {img.dtype} {img.shape}")
        return self.edit(img, rng, float(strength))

    def difference(self, strength: float) -> Difference:
        """Return the ground truth of this family applied at ``strength``."""
        check_strength(strength)
        return Difference(self.name, self.concepts, self.direction, self.sentence, float(strength))


def check_strength(strength: float) -> None:
    """Raise ValueError unless 0 < strength <= 1."""
    if not (isinstance(strength, (int, float)) and 0 < strength <= 1):
        raise ValueError(f"strength must be in (0, 1], got {strength!r}")


def _side(img: np.ndarray, fraction: float) -> int:
    """A length of ``fraction`` of the image's shorter side, at least 4 px."""
    return max(4, int(round(min(img.shape[:2]) * fraction)))


def _shape_size(s: float) -> float:
    return 0.05 + 0.2 * s


@lru_cache(maxsize=1)
def clipart_stickers() -> tuple[np.ndarray, ...]:
    """Return up to 40 small clip-art images (RGBA) of openclipart's signs_and_symbols; () if absent."""
    from PIL import Image

    folder = OPENCLIPART_DIR / "signs_and_symbols"
    if not folder.is_dir():
        return ()
    stickers = []
    for path in sorted(folder.rglob("*.png"))[:40]:
        try:
            with Image.open(path) as im:
                im.thumbnail((128, 128))
                stickers.append(np.asarray(im.convert("RGBA")))
        except OSError:
            continue
    return tuple(stickers)


def _logo(img: np.ndarray, rng: np.random.Generator, s: float, position: str) -> np.ndarray:
    stickers = clipart_stickers()
    sticker = (
        stickers[int(rng.integers(len(stickers)))] if stickers else edits.emblem(96, int(rng.integers(8)))
    )
    return edits.paste_image(img, rng, sticker, _side(img, 0.1 + 0.25 * s), position)


def _shape_families(colour: str, position: str) -> list[Family]:
    where = "" if position == "random" else f" near the {position.replace('_', '-')}"
    return [
        Family(
            "rectangle",
            ("shape.rectangle",),
            "a",
            f"Set A images carry a solid rectangle{where}",
            "side = (0.05 + 0.2 s) x shorter image side",
            lambda im, r, s: edits.paste_rectangle(im, r, _side(im, _shape_size(s)), colour, position),
        ),
        Family(
            "circle",
            ("shape.circle",),
            "a",
            f"Set A images carry a solid circle{where}",
            "diameter = (0.05 + 0.2 s) x shorter image side",
            lambda im, r, s: edits.paste_circle(im, r, _side(im, _shape_size(s)), colour, position),
        ),
        Family(
            "triangle",
            ("learned.triangle",),
            "a",
            f"Set A images carry a solid triangle{where}",
            "base = height = (0.05 + 0.2 s) x shorter image side",
            lambda im, r, s: edits.paste_triangle(im, r, _side(im, _shape_size(s)), colour, position),
            note="no triangle concept in the library yet",
        ),
        Family(
            "line",
            ("shape.line",),
            "a",
            f"Set A images carry a straight line{where}",
            "length = (0.2 + 0.5 s) x shorter side, 2-4 px thick",
            lambda im, r, s: edits.draw_line(
                im, r, _side(im, 0.2 + 0.5 * s), 2 + int(round(2 * s)), colour, position
            ),
        ),
        Family(
            "text",
            ("learned.text",),
            "a",
            f"Set A images carry a short text{where}",
            "text height = (0.05 + 0.12 s) x shorter side",
            lambda im, r, s: edits.draw_text(im, r, _side(im, 0.05 + 0.12 * s), colour, position),
            note="no text concept in the library yet",
        ),
        Family(
            "logo",
            ("learned.logo",),
            "a",
            f"Set A images carry a small logo{where}",
            "logo side = (0.1 + 0.25 s) x shorter side",
            lambda im, r, s: _logo(im, r, s, position),
            note=(
                "openclipart signs_and_symbols clip-art"
                if clipart_stickers()
                else "procedural emblem (openclipart-png is not installed)"
            ),
        ),
    ]


def _global_families() -> list[Family]:
    families = [
        Family(
            "brightness_up",
            ("stats.brightness",),
            "a",
            "Set A images are brighter",
            "each value moves 0.35 s of the way to white",
            lambda im, r, s: edits.brighten(im, 0.35 * s),
        ),
        Family(
            "brightness_down",
            ("stats.brightness",),
            "b",
            "Set A images are darker",
            "values x (1 - 0.55 s)",
            lambda im, r, s: edits.darken(im, 1 - 0.55 * s),
        ),
        Family(
            "contrast_up",
            ("stats.contrast",),
            "a",
            "Set A images have more contrast",
            "distance from mean grey x (1 + 0.8 s)",
            lambda im, r, s: edits.adjust_contrast(im, 1 + 0.8 * s),
        ),
        Family(
            "contrast_down",
            ("stats.contrast",),
            "b",
            "Set A images have less contrast",
            "distance from mean grey x (1 - 0.6 s)",
            lambda im, r, s: edits.adjust_contrast(im, 1 - 0.6 * s),
        ),
        Family(
            "saturation_up",
            ("stats.saturation", "stats.colourfulness"),
            "a",
            "Set A images are more saturated",
            "saturation x (1 + 1.2 s)",
            lambda im, r, s: edits.adjust_saturation(im, 1 + 1.2 * s),
        ),
        Family(
            "saturation_down",
            ("stats.saturation", "stats.colourfulness"),
            "b",
            "Set A images are less saturated",
            "saturation x (1 - 0.8 s)",
            lambda im, r, s: edits.adjust_saturation(im, 1 - 0.8 * s),
        ),
        Family(
            "grayscale",
            ("stats.grayscale",),
            "a",
            "Set A images are grayscale",
            # Partly desaturated images are not grayscale (that is saturation_down): this edit is all or
            # nothing, and purity makes it rarer.
            "all colour is removed, at any strength (make it subtler with purity)",
            lambda im, r, s: edits.adjust_saturation(im, 0.0),
        ),
        Family(
            "blur",
            ("stats.sharpness",),
            "b",
            "Set A images are blurrier",
            "Gaussian sigma = 0.4 + 3.6 s px",
            lambda im, r, s: edits.blur(im, 0.4 + 3.6 * s),
        ),
        Family(
            "noise",
            ("stats.noise",),
            "a",
            "Set A images are noisier",
            "Gaussian noise sigma = 2 + 23 s grey levels",
            lambda im, r, s: edits.add_noise(im, r, 2 + 23 * s),
        ),
        Family(
            "jpeg",
            ("stats.jpeg_blockiness",),
            "a",
            "Set A images show more JPEG artefacts",
            "JPEG quality = 60 - 55 s",
            lambda im, r, s: edits.jpeg(im, int(round(60 - 55 * s))),
        ),
        Family(
            "downscale",
            ("stats.sharpness",),
            "b",
            "Set A images have lost resolution (blurrier)",
            "shrunk by 1 + 5 s, enlarged back",
            lambda im, r, s: edits.down_up(im, 1 + 5 * s),
        ),
        Family(
            "border",
            ("stats.border",),
            "a",
            "Set A images have a uniform border",
            "frame width = (0.01 + 0.07 s) x shorter side",
            lambda im, r, s: edits.add_border(im, r, _side(im, 0.01 + 0.07 * s) // 2 + 1),
        ),
        Family(
            "vignette",
            ("stats.vignetting",),
            "a",
            "Set A images have dark corners (vignetting)",
            "corner darkening = 0.15 + 0.75 s",
            lambda im, r, s: edits.vignette(im, 0.15 + 0.75 * s),
        ),
        Family(
            "rotation",
            ("learned.rotation",),
            "a",
            "Set A images are rotated",
            "angle = +-(2 + 28 s) degrees",
            lambda im, r, s: edits.rotate(im, (2 + 28 * s) * (1 if r.integers(2) else -1)),
            note="no rotation concept in the library yet",
        ),
        Family(
            "zoom",
            ("learned.zoom",),
            "a",
            "Set A images are zoomed in (cropped)",
            "central 1 / (1 + s) of the image enlarged",
            lambda im, r, s: edits.zoom(im, 1 + s),
            note="no zoom concept in the library yet",
        ),
    ]
    for hue in edits.TINTS:
        families.append(
            Family(
                f"tint_{hue}",
                (f"stats.{hue}_tint",),
                "a",
                f"Set A images have a {hue} tint",
                "blend 0.05 + 0.35 s towards the hue",
                lambda im, r, s, hue=hue: edits.tint(im, hue, 0.05 + 0.35 * s),
            )
        )
    return families


def families(colour: str = "random", position: str = "random") -> dict[str, Family]:
    """Return every family by name; inserted objects use ``colour`` and ``position`` (see paste_rectangle)."""
    return {f.name: f for f in _shape_families(colour, position) + _global_families()}


FAMILY_NAMES = tuple(families())


def get_family(name: str, colour: str = "random", position: str = "random") -> Family:
    """Return the family called ``name``; raises ValueError naming the known ones if there is none."""
    if colour != "random" and colour not in edits.NAMED_COLOURS:
        raise ValueError(f"unknown colour {colour!r}; use 'random' or one of {sorted(edits.NAMED_COLOURS)}")
    if position not in ("random", "random_corner", *edits.CORNERS):
        raise ValueError(f"unknown position {position!r}; use 'random', 'random_corner' or {edits.CORNERS}")
    known = families(colour, position)
    if name not in known:
        raise ValueError(f"unknown difference family {name!r}; known families: {', '.join(sorted(known))}")
    return known[name]
