"""The difference generator: image pools and edits whose effect we know exactly."""

from tellapart.synth.edits import darken, paste_rectangle
from tellapart.synth.pairs import make_pair, write_pair
from tellapart.synth.pools import bundled_pool

__all__ = ["bundled_pool", "darken", "make_pair", "paste_rectangle", "write_pair"]
