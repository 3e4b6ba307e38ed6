"""The WordNet hierarchy over the 1000 ImageNet classes, as shipped in ``tellapart/data``.

The data files are made by ``scripts/build_imagenet_hierarchy.py`` from WordNet 3.0; this module only reads
them. Node ids are WordNet ids (``"n02084071"``); functions also accept the semantic concept ids built from
them (``"semantic.dog"``) and answer in the same form they were asked in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

CONCEPT_PREFIX = "semantic."


@dataclass(frozen=True)
class Node:
    """One concept node: an ImageNet class or a nameable WordNet ancestor of at least two classes.

    Attributes:
        id: WordNet id, e.g. ``"n02084071"``.
        name: readable, unique name, e.g. ``"dog"``, ``"crane (device)"``.
        slug: the name as an identifier, e.g. ``"dog"``; the concept id is ``"semantic." + slug``.
        article: ``"a"``, ``"an"`` or ``""`` (mass and plural-only nouns) for "contain <article> <name>".
        lemmas: WordNet's words for it (synonyms), underscores replaced by spaces.
        parents: ids of the nearest more general nodes.
        class_index: the ImageNet output index if the node is a class, else None.
        classes: ImageNet output indices of every class under the node (itself included).
    """

    id: str
    name: str
    slug: str
    article: str
    lemmas: tuple[str, ...]
    parents: tuple[str, ...]
    class_index: int | None
    classes: tuple[int, ...]

    @property
    def concept_id(self) -> str:
        """The id of the semantic concept built from this node, e.g. ``"semantic.dog"``."""
        return CONCEPT_PREFIX + self.slug


class Hierarchy:
    """The loaded hierarchy: nodes by WordNet id and by concept id, with ancestor queries."""

    def __init__(self, nodes: list[Node]):
        self.nodes = nodes
        self.by_id = {node.id: node for node in nodes}
        self.by_concept_id = {node.concept_id: node for node in nodes}
        self._ancestors: dict[str, frozenset[str]] = {}

    def node(self, node_id: str) -> Node:
        """Return the node for a WordNet id or a semantic concept id; raises KeyError if there is none."""
        node = self.by_id.get(node_id) or self.by_concept_id.get(node_id)
        if node is None:
            raise KeyError(f"{node_id!r} is not a node of the ImageNet hierarchy")
        return node

    def ancestor_ids(self, wnid: str) -> frozenset[str]:
        """Return the WordNet ids of every node above ``wnid`` (not including itself)."""
        if wnid not in self._ancestors:
            found: set[str] = set()
            for parent in self.by_id[wnid].parents:
                found.add(parent)
                found |= self.ancestor_ids(parent)
            self._ancestors[wnid] = frozenset(found)
        return self._ancestors[wnid]


def _read_data(filename: str) -> str:
    return resources.files("tellapart").joinpath("data", filename).read_text(encoding="utf-8")


def hierarchy_file() -> Path:
    """Return the path of the shipped hierarchy file (``tellapart/data/imagenet_hierarchy.json``)."""
    return Path(str(resources.files("tellapart").joinpath("data", "imagenet_hierarchy.json")))


@lru_cache(maxsize=1)
def load_hierarchy() -> Hierarchy:
    """Return the shipped hierarchy (read once per process)."""
    text = _read_data("imagenet_hierarchy.json")
    nodes = [
        Node(
            id=raw["id"],
            name=raw["name"],
            slug=raw["slug"],
            article=raw["article"],
            lemmas=tuple(raw["lemmas"]),
            parents=tuple(raw["parents"]),
            class_index=raw["class_index"],
            classes=tuple(raw["classes"]),
        )
        for raw in json.loads(text)["nodes"]
    ]
    return Hierarchy(nodes)


@lru_cache(maxsize=1)
def imagenet_classes() -> tuple[tuple[str, str], ...]:
    """Return the 1000 ImageNet classes in model output order as (wnid, name) pairs."""
    text = _read_data("imagenet_classes.json")
    return tuple((wnid, name) for wnid, name in json.loads(text))


def ancestors(node_id: str) -> tuple[str, ...]:
    """Return every more general node of ``node_id``, nearest first, in the form it was given.

    ``ancestors("semantic.beagle")`` starts ``("semantic.hound", "semantic.hunting_dog", "semantic.dog",``;
    ``ancestors("n02088364")`` returns WordNet ids. Raises KeyError for ids outside the hierarchy.
    """
    hierarchy = load_hierarchy()
    node = hierarchy.node(node_id)
    found = [hierarchy.by_id[a] for a in hierarchy.ancestor_ids(node.id)]
    # More specific ancestors cover fewer classes; ties broken by id so the order is stable.
    found.sort(key=lambda n: (len(n.classes), n.id))
    as_concepts = node_id.startswith(CONCEPT_PREFIX)
    return tuple(n.concept_id if as_concepts else n.id for n in found)


def is_related(id_a: str, id_b: str) -> bool:
    """Return True if the two ids are the same node or one is an ancestor of the other.

    Accepts WordNet ids and semantic concept ids, mixed; ids outside the hierarchy (e.g. ``"stats.blur"``)
    are related only to themselves.
    """
    if id_a == id_b:
        return True
    hierarchy = load_hierarchy()
    try:
        a, b = hierarchy.node(id_a), hierarchy.node(id_b)
    except KeyError:
        return False
    return a.id == b.id or a.id in hierarchy.ancestor_ids(b.id) or b.id in hierarchy.ancestor_ids(a.id)
