"""The Concept type and the interface every concept source implements.

A concept is something an image can show more or less of ("contains a dog", "brightness"). A source
turns decoded images into one score per image per concept; all sources feed the same score matrix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

from tellapart.io.image import DecodedImage

Kind = Literal["presence", "magnitude"]


@dataclass(frozen=True)
class Concept:
    """A nameable property of an image.

    Attributes:
        id: stable identifier, ``"<source>.<name>"``, e.g. ``"stats.brightness"``, ``"semantic.dog"``.
        phrase: for presence concepts a verb phrase completing "Set A images ...", e.g.
            ``"contain a dog"``, ``"carry a small rectangle"``; for magnitude concepts the noun of the
            measured quantity, e.g. ``"brightness"``.
        kind: ``"presence"`` (the image shows it or not; the score is a probability-like number and
            ``threshold`` decides "shows it") or ``"magnitude"`` (a continuous quantity).
        parents: ids of more general concepts (``"semantic.dog"`` -> ``("semantic.canine",)``).
        more: magnitude only: adjective for "more of it", e.g. ``"brighter"``, or a predicate starting
            with have/carry/contain/show, e.g. ``"carry more rectangles"``.
        less: magnitude only: the same for "less of it", e.g. ``"darker"``.
        threshold: presence only: score at or above which an image counts as showing the concept.
        unit: how to print a typical value: ``""`` (plain number), ``"px"``, ``"%"``, ``"log10 px"``
            (the score is log10 of a pixel count) or ``"log ratio"`` (the score is ln of a ratio).
    """

    id: str
    phrase: str
    kind: Kind
    parents: tuple[str, ...] = ()
    more: str = ""
    less: str = ""
    threshold: float = 0.5
    unit: str = ""
    synonyms: tuple[str, ...] = field(default=())

    @property
    def source(self) -> str:
        """The name of the source this concept comes from (the part of the id before the first dot)."""
        return self.id.split(".", 1)[0]


class ConceptSource(Protocol):
    """A family of concepts scored together (one model pass or one set of pixel statistics).

    ``name`` and ``version`` key the score cache: bump ``version`` whenever scores would change.
    A source may set ``background = True`` (a model whose native code releases the GIL) to be run in a
    worker thread beside the other sources.
    """

    name: str
    version: str

    def concepts(self) -> list[Concept]:
        """Return the concepts this source scores, in the column order of ``score``."""
        ...

    def score(self, images: Sequence[DecodedImage]) -> np.ndarray:
        """Return a float32 array of shape (len(images), len(self.concepts()))."""
        ...
