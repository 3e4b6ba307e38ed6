"""How hard a synthetic difference is: the tiers both the benchmark and the describer's curriculum draw from.

They live with the difference generator, not in ``bench``, so training (``train.describer``'s curriculum
stages) and the benchmark (``bench.suites``) read the same tiers without training importing the benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TierSpec:
    """How pairs of one synthetic tier are drawn: ranges are sampled uniformly per pair."""

    strength: tuple[float, float]
    purity: tuple[float, float]
    concentration: tuple[float, float]
    two_edit_share: float  # share of pairs that carry two simultaneous differences


TIERS = ("easy", "medium", "hard")
TIER_SPECS = {
    "easy": TierSpec((0.7, 1.0), (1.0, 1.0), (1.0, 1.0), 0.0),
    "medium": TierSpec((0.35, 0.7), (0.6, 0.9), (0.8, 1.0), 0.0),
    "hard": TierSpec((0.1, 0.35), (0.3, 0.6), (0.5, 0.8), 0.5),
}
