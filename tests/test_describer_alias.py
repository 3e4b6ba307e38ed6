"""The learned describer reads COCO objects, poses, faces, text and the OpenCV cascades as detectors
(``KIND_ALIASES``).

What the aliases do to the benchmark is measured by ``benchmarks/describer_alias.py`` (too slow for a test).
"""

from __future__ import annotations

import pandas as pd

from tellapart.stats.describer import KIND_ALIASES, KINDS, concept_kinds


def test_new_categories_read_as_detectors_and_others_stay_other():
    """object/pose/face/text/cascade -> "detector" (the cascades were "detector" when the shipped describer
    was trained); a category nothing names stays "other"; no aliases: "other"."""
    categories = ["object", "pose", "face", "text", "cascade", "region", "stats"]
    table = pd.DataFrame({"category": categories, "general": False})
    assert [KINDS[k] for k in concept_kinds(table)[:, 0]] == ["detector"] * 5 + ["other", "stats"]
    assert [KINDS[k] for k in concept_kinds(table, aliases={})[:, 0]] == ["other"] * 6 + ["stats"]
    assert set(KIND_ALIASES.values()) <= set(KINDS)
