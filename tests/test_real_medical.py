"""Real images with a known structural difference (``benchmarks/medical_pairs.py``): tellapart names the
structure a biologist would, and says nothing about two halves of one pool.

- The optic disc: crops of scikit-image's fundus photograph holding the disc (a large bright round
  structure) vs crops of the same fundus without it.
- Nuclei: stroma crops of scikit-image's immunohistochemistry slide with many haematoxylin-stained nuclei
  vs few (counted by colour deconvolution, not by tellapart).

What counts as naming the truth is ``benchmarks/real_medical.py``'s ``ACCEPTED`` table: a region concept with
the right direction among the top three significant findings. Without region concepts (before issue 12) the
top findings are pixel statistics and ImageNet classes, and these tests fail.

Hypotheses are ordered without the learned describer (by held-out strength, named structures before pixel
statistics): the shipped describer was trained before region concepts existed (issue 12, part 5) and puts
"brighter" above "the optic disc"; the last test records that and passes unexpectedly once it is retrained.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import tellapart

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import medical_pairs  # noqa: E402
from real_medical import ACCEPTED, names_truth  # noqa: E402

from tellapart.stats.reportable import WITHHELD_OFF_DOMAIN  # noqa: E402

N = 30  # images per set
SEED = 0


def _describe(case: str, library, cache_dir: str, describer: str | None = None) -> tellapart.Result:
    built = medical_pairs.build_case(case, N, SEED)
    return tellapart.describe(built.a, built.b, seed=SEED, library=library, describer=describer,
                              cache_dir=cache_dir, progress=False)


def _top(result: tellapart.Result) -> list[tuple[str, str]]:
    return [(row["concept"], row["direction"]) for _, row in result.significant.head(3).iterrows()]


@pytest.mark.slow
@pytest.mark.parametrize("case", ["retina_disc", "ihc_nuclei"])
def test_true_structure_is_among_the_top_three(case: str, library, cache_dir) -> None:
    result = _describe(case, library, cache_dir)
    top = _top(result)
    assert any(names_truth({"concept": c, "direction": d}, ACCEPTED[case]) for c, d in top), (
        f"{case}: top three significant findings {top}; the truth is one of {ACCEPTED[case]}")
    # A fundus photograph and a stained slide are not photos of everyday things: no ImageNet name, edit
    # detector or people model among the findings (both images are held out of the domain model's training).
    assert result.domain.photo_like is False, result.domain.text
    assert not result.findings["category"].isin(WITHHELD_OFF_DOMAIN).any()


@pytest.mark.slow
@pytest.mark.parametrize("case", ["retina_null", "ihc_null"])
def test_halves_of_one_pool_report_nothing(case: str, library, cache_dir) -> None:
    assert ACCEPTED[case] is None
    result = _describe(case, library, cache_dir)
    assert result.significant.empty, f"{case}: reported {_top(result)} on two halves of one pool"


@pytest.mark.slow
def test_shipped_describer_names_the_optic_disc(library, cache_dir) -> None:
    """With the split design the shipped describer ranked 'brighter' and 'higher-contrast' above the optic
    disc (an xfail until the max-T default: tested on every image, the disc's bright area is in the top
    three)."""
    top = _top(_describe("retina_disc", library, cache_dir, describer="shipped"))
    assert any(names_truth({"concept": c, "direction": d}, ACCEPTED["retina_disc"]) for c, d in top), top
