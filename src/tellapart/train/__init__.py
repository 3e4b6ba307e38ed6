"""Learning from synthetic differences: detectors for edits no hand-written concept names."""

from tellapart.train.detectors import LEARNED_FAMILIES, train_detectors

__all__ = ["LEARNED_FAMILIES", "train_detectors"]
