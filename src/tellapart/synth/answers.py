"""The ground truth of a synthetic difference as answers: which learned-detector findings state it.

Shared by the benchmark's scoring (``bench.scoring`` gives such a finding full credit) and the describer's
training (``train.describer`` counts it as a true answer), so neither imports the other.
"""

from __future__ import annotations

import functools

from tellapart.concepts.learned import detector_id
from tellapart.synth.families import FAMILY_NAMES, Difference, get_family

DETECTOR_FAMILIES = frozenset(detector_id(family) for family in FAMILY_NAMES)


@functools.cache
def detector_answers(truth: Difference) -> frozenset[tuple[str, str]]:
    """Return the learned-detector findings (id, direction) that state ``truth``.

    The detector of synth family F says "set A looks more F-edited" (direction "a") or "set B does" ("b");
    that states F's own answer (its concept ids and direction) or its opposite. It states ``truth`` when
    F's answer shares a concept id with it, in the same direction or (found in set B) the opposite one.
    """
    answers = set()
    for family in FAMILY_NAMES:
        said = get_family(family).difference(1.0)
        if family == truth.family or set(said.concepts) & set(truth.concepts):
            answers.add((detector_id(family), "a" if said.direction == truth.direction else "b"))
    return frozenset(answers)
