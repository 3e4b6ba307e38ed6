"""Build src/tellapart/data/imagenet_hierarchy.json from the ImageNet-1k class list and WordNet 3.0.

Usage (from the repository root; needs Debian's ``wordnet-base``, nothing is downloaded)::

    python scripts/build_imagenet_hierarchy.py [--wordnet /usr/share/wordnet/data.noun]

Every ImageNet class is a WordNet noun synset ("n01440764" = noun synset at byte offset 01440764). The
script walks the hypernym ("@") and instance-hypernym ("@i") pointers of all 1000 classes and keeps, as
concept nodes, the 1000 classes themselves plus every ancestor that covers at least two classes and that a
person would name (see STOPLIST). Ancestors that cover exactly the same classes as a more specific kept node
add nothing but another hypothesis to test, so they are folded into it (their lemmas become synonyms).

The output is deterministic (sorted everywhere, no timestamps) and is committed with the package.

Note on the class list: ``imagenet_class_index.json`` as published with Keras was copied into
``imagenet_classes.json``; four class names in the copy used were partly translated ("lampu shade",
"kursi rocking", "studio latihan", "meja lampu") and were restored to the Keras names (lampshade,
rocking_chair, studio_couch, table_lamp). Every name now equals a lemma of its WordNet synset, which this
script checks.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLASSES_PATH = ROOT / "src" / "tellapart" / "data" / "imagenet_classes.json"
OUTPUT_PATH = ROOT / "src" / "tellapart" / "data" / "imagenet_hierarchy.json"
DEFAULT_WORDNET = Path("/usr/share/wordnet/data.noun")

# Synsets too abstract to be a useful answer to "what do these images show?". Most sit at the top of the
# noun hierarchy and cover hundreds of unrelated classes ("contain a physical entity" tells nobody anything);
# the rest are grab-bags no user would type ("instrumentality", "commodity", "covering").
# `artifact` is deliberately NOT here: man-made vs natural content is one of the most useful coarse contrasts
# between two image sets, so it is kept, under the name "man-made object" (see NAME_OVERRIDES).
# `animal`, `organism` (shown as "living thing"), `device`, `container`, `structure` are kept too.
STOPLIST = {
    "n00001740",  # entity
    "n00001930",  # physical entity
    "n00002137",  # abstraction, abstract entity
    "n00002684",  # object, physical object
    "n00003553",  # whole, unit
    "n00007347",  # causal agent, cause, causal agency
    "n00019128",  # natural object (fruit, seeds, mountains: nothing in common a person would name)
    "n00019613",  # substance (the "matter of a particular kind" sense)
    "n00020090",  # substance (the "material" sense)
    "n00020827",  # matter
    "n00022903",  # article (a separate "thing")
    "n00031921",  # relation
    "n00033020",  # communication
    "n03076708",  # commodity, trade good, good
    "n03093574",  # consumer goods
    "n03122748",  # covering (clothes, roofs, lids and armour together)
    "n03257877",  # durables, durable goods
    "n03575240",  # instrumentality: artifact minus a few structures and clothes, a word no user would type
    "n03892891",  # part, portion (of an artifact)
    "n03932203",  # piece
    "n04377057",  # system
    "n13809207",  # part, portion, component part
    "n14778436",  # agent (a chemical or drug "agent")
    "n15046900",  # solid (only splits the food classes along physics-minded lines)
}

# Readable names where WordNet's first lemma misleads in this tool's setting.
NAME_OVERRIDES = {
    # In imaging, "artifact" means a defect (JPEG artefacts); the synset means a man-made object.
    "n00021939": "man-made object",
    # "contain an organism" reads as microbiology.
    "n00004475": "living thing",
}

# Synsets that people mean by one word but WordNet splits into senses; each group becomes one node named by
# the first synset's (overridden) name. food: "food, nutrient" (dishes, drinks) and "food, solid food"
# (fruit, vegetables, bread).
MERGE_GROUPS = [
    ("n00021265", "n07555863"),  # food, nutrient + food, solid food
]

# Names that take no article in "contain ..." (mass nouns and plural-only nouns); everything else is a count
# noun and gets "a"/"an".
MASS_NOUNS = {
    # internal nodes
    "food", "produce", "clothing", "equipment", "electronic equipment", "game equipment", "sports equipment",
    "golf equipment", "photographic equipment", "furniture", "footwear", "tableware", "crockery", "armor",
    "body armor", "hosiery", "neckwear", "outerwear", "attire", "fabric", "baked goods", "bread", "starches",
    "ware", "white goods", "makeup", "gear", "alcohol", "snack food",
    # classes
    "hay", "wool", "velvet", "dough", "guacamole", "consomme", "espresso", "ice cream", "mashed potato",
    "carbonara", "chocolate sauce", "red wine", "eggnog", "broccoli", "cauliflower", "corn", "rapeseed",
    "toilet tissue", "thatch", "chain mail", "face powder", "hair spray", "lotion", "sunscreen", "perfume",
    # plural-only
    "binoculars", "sunglasses", "swimming trunks", "parallel bars",
}

# WordNet edges that would make a concept say something false about an image: "wheeled vehicle" is also a
# "container" in WordNet (it carries things), which would count every car as "contains a container"; and
# "alcohol" is a "drug of abuse", which would make a glass of red wine "contain a drug".
DROPPED_EDGES = {
    ("n04576211", "n03094503"),  # wheeled vehicle -> container
    ("n07884567", "n03248958"),  # alcohol -> drug of abuse
}

MIN_CLASSES = 2


def parse_wordnet(path: Path) -> dict[str, dict]:
    """Return {wnid: {"lemmas": [...], "hypernyms": [...]}} for every noun synset in data.noun."""
    synsets: dict[str, dict] = {}
    with open(path, encoding="latin-1") as f:
        for line in f:
            if line.startswith("  "):  # licence header
                continue
            fields = line.split(" | ", 1)[0].split()
            offset, n_words = fields[0], int(fields[3], 16)
            lemmas = [fields[4 + 2 * i] for i in range(n_words)]
            pos = 4 + 2 * n_words
            n_pointers = int(fields[pos])
            hypernyms = []
            for i in range(n_pointers):
                symbol, target, target_pos = fields[pos + 1 + 4 * i : pos + 4 + 4 * i]
                if symbol in ("@", "@i") and target_pos == "n":
                    hypernyms.append("n" + target)
            wnid = "n" + offset
            hypernyms = [h for h in hypernyms if (wnid, h) not in DROPPED_EDGES]
            synsets[wnid] = {"lemmas": lemmas, "hypernyms": sorted(hypernyms)}
    return synsets


def closure(wnid: str, synsets: dict[str, dict], memo: dict[str, frozenset[str]]) -> frozenset[str]:
    """Return the wnid itself plus all its hypernyms, transitively."""
    if wnid not in memo:
        result = {wnid}
        for parent in synsets[wnid]["hypernyms"]:
            result |= closure(parent, synsets, memo)
        memo[wnid] = frozenset(result)
    return memo[wnid]


def readable(lemma: str) -> str:
    """WordNet lemma -> words: underscores to spaces, adjective markers dropped."""
    return re.sub(r"\(.*\)$", "", lemma).replace("_", " ")


def slugify(name: str) -> str:
    """Return a lower-case identifier made of letters, digits and underscores."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def article_for(name: str) -> str:
    """Return "a", "an" or "" (mass and plural-only nouns) for "contain <article> <name>"."""
    if name.lower() in MASS_NOUNS:
        return ""
    lower = name.lower()
    if re.match(r"(eu|uni|use|one|ewe|u[bklst]i)", lower) and not lower.startswith(("unin", "umb")):
        return "a"
    if lower.startswith(("hour", "honest", "heir")):
        return "an"
    return "an" if lower[0] in "aeiou" else "a"


def build(classes: list[tuple[str, str]], synsets: dict[str, dict]) -> dict:
    """Return the hierarchy document (see module docstring) for the given class list."""
    check_classes(classes, synsets)
    memo: dict[str, frozenset[str]] = {}
    class_of = {wnid: i for i, (wnid, _) in enumerate(classes)}
    representative = {member: group[0] for group in MERGE_GROUPS for member in group}

    def rep(wnid: str) -> str:
        return representative.get(wnid, wnid)

    covers: dict[str, set[int]] = {}
    for wnid, index in class_of.items():
        for ancestor in closure(wnid, synsets, memo):
            covers.setdefault(rep(ancestor), set()).add(index)

    chosen = {
        wnid
        for wnid, idx in covers.items()
        if wnid in class_of or (len(idx) >= MIN_CLASSES and wnid not in STOPLIST)
    }
    folded = fold_identical(chosen, covers, class_of, synsets, memo, rep)
    chosen -= set(folded)

    def chosen_ancestors(wnid: str) -> set[str]:
        members = [m for m, r in representative.items() if r == wnid] or [wnid]
        found = set()
        for member in members:
            found |= {rep(a) for a in closure(member, synsets, memo)}
        found = {folded.get(a, a) for a in found}
        return (found & chosen) - {wnid}

    ancestors = {wnid: chosen_ancestors(wnid) for wnid in chosen}
    names = assign_names(chosen, covers, synsets, ancestors)

    nodes = []
    internal = sorted(w for w in chosen if w not in class_of)
    for wnid in internal + [w for w, _ in classes]:
        parents = {
            a for a in ancestors[wnid] if not any(a in ancestors[b] for b in ancestors[wnid] if b != a)
        }
        aliases = sorted({m for m, r in representative.items() if r == wnid and m != wnid})
        aliases += sorted(f for f, target in folded.items() if target == wnid)
        lemmas = []
        for member in [wnid, *aliases]:
            lemmas += [readable(x) for x in synsets[member]["lemmas"] if readable(x) not in lemmas]
        nodes.append(
            {
                "id": wnid,
                "name": names[wnid],
                "slug": slugify(names[wnid]),
                "article": article_for(names[wnid]),
                "lemmas": list(dict.fromkeys(lemmas)),
                "parents": sorted(parents),
                "aliases": aliases,
                "class_index": class_of.get(wnid),
                "classes": sorted(covers[wnid]),
            }
        )
    slugs = [n["slug"] for n in nodes]
    assert len(set(slugs)) == len(slugs), "slugs must be unique"
    return {
        "source": "WordNet 3.0 (Debian wordnet-base, data.noun) over the ImageNet-1k class list",
        "min_classes": MIN_CLASSES,
        "n_classes": len(classes),
        "nodes": nodes,
    }


def check_classes(classes: list[tuple[str, str]], synsets: dict[str, dict]) -> None:
    """Fail unless the class list has 1000 unique WordNet wnids whose names are lemmas of their synsets."""
    assert len(classes) == 1000 and len({w for w, _ in classes}) == 1000
    for wnid, name in classes:
        lemmas = [x.lower() for x in synsets[wnid]["lemmas"]]
        assert name.lower() in lemmas, f"{wnid} {name!r} is not a lemma of its synset {lemmas}"


def fold_identical(
    chosen: set[str],
    covers: dict[str, set[int]],
    class_of: dict[str, int],
    synsets: dict[str, dict],
    memo: dict[str, frozenset[str]],
    rep,
) -> dict[str, str]:
    """Return {ancestor: node it folds into} for internal nodes covering the same classes as a descendant.

    The most specific node of an identical-coverage chain is kept ("vertebrate" over "chordate"), as the
    specific word is usually the one people use.
    """
    by_classes: dict[frozenset[int], list[str]] = {}
    for wnid in chosen:
        by_classes.setdefault(frozenset(covers[wnid]), []).append(wnid)
    folded = {}
    for group in by_classes.values():
        if len(group) < 2:
            continue
        # The most specific node is the one whose ancestor set contains all the others.
        depth = {w: len(closure(w, synsets, memo)) for w in group}
        keep = max(sorted(group), key=lambda w: (w in class_of, depth[w]))
        keep_ancestors = {rep(a) for a in closure(keep, synsets, memo)}
        for wnid in group:
            if wnid != keep and wnid in keep_ancestors and wnid not in class_of:
                folded[wnid] = keep
    return folded


def assign_names(
    chosen: Iterable[str],
    covers: dict[str, set[int]],
    synsets: dict[str, dict],
    ancestors: dict[str, set[str]],
) -> dict[str, str]:
    """Return a unique readable name per node: its first lemma, else a disambiguated form.

    When first lemmas collide, the plain word goes to the node covering more classes, then to the node with
    fewer other lemmas to fall back on ("cardigan" the sweater, "Cardigan Welsh corgi" the dog). The others
    take their first lemma that is still free, else "word (nearest parent's word)".
    """

    def candidates(wnid: str) -> list[str]:
        words = [readable(x) for x in synsets[wnid]["lemmas"]]
        return [NAME_OVERRIDES[wnid], *words] if wnid in NAME_OVERRIDES else words

    order = sorted(chosen, key=lambda w: (-len(covers[w]), len(candidates(w)), w))
    names: dict[str, str] = {}
    taken: set[str] = set()
    for wnid in order:
        words = candidates(wnid)
        name = next((c for c in words if slugify(c) not in taken), None)
        if name is None:
            parent = min(ancestors[wnid], key=lambda a: (len(covers[a]), a), default=None)
            parent_word = names.get(parent) or (readable(synsets[parent]["lemmas"][0]) if parent else wnid)
            name = f"{words[0]} ({parent_word})"
            if slugify(name) in taken:
                name = f"{words[0]} ({wnid})"
        names[wnid] = name
        taken.add(slugify(name))
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wordnet", type=Path, default=DEFAULT_WORDNET, help="path to WordNet 3.0 data.noun")
    parser.add_argument("--output", type=Path, default=OUTPUT_PATH)
    args = parser.parse_args()
    classes = [tuple(pair) for pair in json.loads(CLASSES_PATH.read_text())]
    document = build(classes, parse_wordnet(args.wordnet))
    lines = ",\n".join(json.dumps(node, ensure_ascii=False) for node in document["nodes"])
    header = {k: v for k, v in document.items() if k != "nodes"}
    text = json.dumps(header)[:-1] + ', "nodes": [\n' + lines + "\n]}\n"
    args.output.write_text(text)
    internal = sum(1 for n in document["nodes"] if n["class_index"] is None)
    print(f"wrote {args.output}: {internal} internal nodes + {len(classes)} classes")


if __name__ == "__main__":
    main()
