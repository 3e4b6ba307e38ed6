"""Turning a tested hypothesis into a sentence a person can read and check."""

from __future__ import annotations

import math

from tellapart.concepts.base import Concept
from tellapart.stats.contract import MIN_VISIBLE_SHARE

# A magnitude concept's more/less text is either an adjective ("darker": "are darker") or a predicate
# starting with one of these verbs ("carry more rectangles").
PREDICATE_VERBS = frozenset({"have", "carry", "contain", "show"})
# Appended to a finding about recorded metadata (``concepts.metadata``): it tells the sets apart without
# being anything the images show, so a model or a reader may learn it in place of the disease.
SHORTCUT_NOTE = ": a possible shortcut (recorded with the images, not shown in them)"


def format_p(p: float | None, label: str = "q") -> str:
    """Return ``"q < 0.001"``, ``"q = 0.012"`` (two significant digits) or ``"q = n/a"``; ``label="p"``
    gives the same for a p-value."""
    if p is None or not math.isfinite(float(p)):
        return f"{label} = n/a"
    p = float(p)
    if p < 0.001:
        return f"{label} < 0.001"
    return f"{label} = {p:.2g}" if p < 0.1 else f"{label} = {p:.2f}"


def format_value(value: float, unit: str = "") -> str:
    """Return a typical value for a sentence: 3 significant digits, with its unit."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if unit == "%":
        return f"{value:.0%}"
    if unit == "log10 px":  # scores stored as log10(pixel count); people read pixel counts
        return f"{10 ** value:,.0f} px"
    if unit == "log ratio":  # scores stored as ln(width / height); people read "4:3"
        return f"{math.exp(value):.2f}:1"
    text = f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{text} {unit}".strip() if unit and unit != "%" else text


def finding_sentence(
    concept: Concept,
    direction: str,
    auroc: float,
    ci: tuple[float, float],
    q_value: float,
    *,
    median_a: float = float("nan"),
    median_b: float = float("nan"),
    share_a: float = float("nan"),
    share_b: float = float("nan"),
    p_label: str = "q",
    auroc_unadjusted: float = float("nan"),
) -> str:
    """Return the plain-language sentence for one finding, always from set A's point of view.

    ``direction`` is "a" when set A shows more of the concept, "b" when set B does; ``auroc`` and
    ``ci`` are for that stated direction (above 0.5 means the statement holds). A finite
    ``auroc_unadjusted`` means ``auroc`` was measured within strata of adjusting columns: both are named.
    A metadata concept's sentence ends with ``SHORTCUT_NOTE``.
    """
    sentence = _sentence(concept, direction, auroc, ci, q_value, median_a, median_b, share_a, share_b,
                         p_label, auroc_unadjusted)
    return sentence + SHORTCUT_NOTE if concept.category == "metadata" else sentence


def _sentence(
    concept: Concept,
    direction: str,
    auroc: float,
    ci: tuple[float, float],
    q_value: float,
    median_a: float,
    median_b: float,
    share_a: float,
    share_b: float,
    p_label: str,
    auroc_unadjusted: float,
) -> str:
    adjusted = "adjusted " if math.isfinite(auroc_unadjusted) else ""
    evidence = f"{adjusted}AUROC {auroc:.2f} [{ci[0]:.2f}, {ci[1]:.2f}], {format_p(q_value, p_label)}"
    if adjusted:
        evidence += f"; unadjusted AUROC {auroc_unadjusted:.2f}"
    if concept.kind == "presence" and max(share_a, share_b) < MIN_VISIBLE_SHARE:
        how = "higher" if direction == "a" else "lower"
        return (f"Set A images score {how} than set B images on \u201c{concept.phrase}\u201d, "
                f"though few images of either set show it outright "
                f"({share_a:.0%} vs {share_b:.0%}; {evidence})")
    if concept.kind == "presence":
        shares = ""
        if not (math.isnan(share_a) or math.isnan(share_b)):
            shares = f"{share_a:.0%} vs {share_b:.0%}; "
        return f"{claim(concept, direction, far=auroc >= 0.8)} ({shares}{evidence})"
    medians = (
        f"median {concept.phrase} {format_value(median_a, concept.unit)} vs "
        f"{format_value(median_b, concept.unit)}; "
    )
    return f"{claim(concept, direction)} ({medians}{evidence})"


def claim(concept: Concept, direction: str, *, far: bool = False) -> str:
    """Return the claim of a finding without its evidence: "Set A images contain a dog (far) more often
    than set B images", "Set A images are darker than set B images" (``direction`` "a": set A shows more)."""
    if concept.kind == "presence":
        how = ("far " if far else "") + ("more often" if direction == "a" else "less often")
        return f"Set A images {concept.phrase} {how} than set B images"
    adjective = concept.more if direction == "a" else concept.less
    if not adjective:
        adjective = f"{'higher' if direction == 'a' else 'lower'} in {concept.phrase}"
    verb = "" if adjective.split(" ", 1)[0] in PREDICATE_VERBS else "are "
    return f"Set A images {verb}{adjective} than set B images"
