"""Learning from synthetic differences: detectors for edits, and the describer that names the cause."""

from tellapart.train.describer import TRAIN_PART, build_bank, train_describer, training_pools
from tellapart.train.detectors import LEARNED_FAMILIES, detector_pool, train_detectors

__all__ = ["LEARNED_FAMILIES", "TRAIN_PART", "build_bank", "detector_pool", "train_describer",
           "train_detectors", "training_pools"]
