"""The difference generator: image pools, difference families with a strength knob, and pairs of image sets
whose difference is known exactly (purity, concentration, several differences at once, set sizes)."""

from tellapart.synth.edits import darken, paste_rectangle
from tellapart.synth.families import FAMILY_NAMES, Difference, Family, families, get_family
from tellapart.synth.pairs import SyntheticPair, make_edited_pair, make_pair, write_pair
from tellapart.synth.pools import (
    PoolUnavailable,
    bundled_pool,
    fashion_mnist_pool,
    folder_pool,
    lfw_pool,
    openclipart_categories,
    openclipart_pool,
    textile_pool,
)

__all__ = [
    "FAMILY_NAMES",
    "Difference",
    "Family",
    "PoolUnavailable",
    "SyntheticPair",
    "bundled_pool",
    "darken",
    "families",
    "fashion_mnist_pool",
    "folder_pool",
    "get_family",
    "lfw_pool",
    "make_edited_pair",
    "make_pair",
    "openclipart_categories",
    "openclipart_pool",
    "paste_rectangle",
    "textile_pool",
    "write_pair",
]
