"""Learning from synthetic differences: detectors for edits, and the describer that names the cause."""

from tellapart.train.describer import build_bank, train_describer, training_pools
from tellapart.train.detectors import LEARNED_FAMILIES, train_detectors

__all__ = ["LEARNED_FAMILIES", "build_bank", "train_describer", "train_detectors", "training_pools"]
