"""Held-out splitting: every image goes to exactly one of a discovery half and a validation half."""

from __future__ import annotations

import numpy as np

GROUPS = ("a", "b")


def check_groups(groups: np.ndarray | list[str]) -> np.ndarray:
    """Return ``groups`` as a 1-D array of str, after checking that every label is ``"a"`` or ``"b"``."""
    labels = np.asarray(groups).astype(str)
    if labels.ndim != 1:
        raise ValueError(f"groups must be one-dimensional, got shape {labels.shape}")
    unknown = sorted(set(np.unique(labels)) - set(GROUPS))
    if unknown:
        raise ValueError(f"group labels must be 'a' or 'b', found {unknown[:5]}")
    return labels


def split_discovery_validation(groups: np.ndarray | list[str], seed: int) -> np.ndarray:
    """Split images into discovery and validation halves, separately within each group.

    Each group is shuffled with its own seeded stream, so the split of set A does not change when set B
    gains or loses images. Within a group of ``n`` images, ``ceil(n / 2)`` go to validation and
    ``floor(n / 2)`` to discovery.

    Returns:
        A boolean mask of ``len(groups)``: True = validation, False = discovery.
    """
    labels = check_groups(groups)
    validation = np.zeros(labels.shape[0], dtype=bool)
    for stream, label in enumerate(GROUPS):
        members = np.flatnonzero(labels == label)
        rng = np.random.default_rng([seed, stream])
        shuffled = rng.permutation(members)
        validation[shuffled[: (members.size + 1) // 2]] = True
    return validation
