"""Where: a concept source that can outline what it measured gets its regions drawn over the example images
of its significant findings (computed by describe, stored on the Result and in the JSON, drawn by the report
as polylines without running any model or pixel code)."""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import pytest
from skimage.measure import find_contours

import tellapart
from tellapart.concepts.base import Concept
from tellapart.concepts.image_stats import ImageStatsSource
from tellapart.concepts.library import ConceptLibrary
from tellapart.io.image import DecodedImage
from tellapart.report.html import render_html
from tellapart.synth import make_edited_pair


def _bright(pixels: np.ndarray) -> np.ndarray:
    return pixels[..., :3].mean(axis=2) >= 160


class BrightAreaSource:
    """A small real source: the share of the image that is bright, and the outline of that area."""

    name = "brightarea"

    def __init__(self) -> None:
        self.outlined = 0

    def concepts(self) -> list[Concept]:
        return [Concept("brightarea.share", "bright area", "magnitude", more="have a larger bright area",
                        less="have a smaller bright area", category="region")]

    def score(self, images: Sequence[DecodedImage]) -> np.ndarray:
        return np.array([[_bright(image.pixels).mean()] for image in images], dtype=np.float32)

    def outlines(self, image: DecodedImage, concept_ids: Sequence[str]) -> dict[str, list[np.ndarray]]:
        self.outlined += 1
        mask = np.pad(_bright(image.pixels), 1).astype(float)
        height, width = image.pixels.shape[:2]
        contours = [np.stack([(c[:, 1] - 0.5) / width, (c[:, 0] - 0.5) / height], axis=1)
                    for c in find_contours(mask, 0.5)]
        return {cid: [np.clip(c, 0, 1) for c in contours] for cid in concept_ids}


@pytest.fixture(scope="module")
def brightened(pool):
    """Set A: crops brightened by 70 levels; set B: other crops as they are."""
    set_a = [np.clip(image.astype(np.int16) + 70, 0, 255).astype(np.uint8) for image in pool[:30]]
    return set_a, pool[30:60]


def test_outlines_are_computed_stored_serialised_and_drawn(brightened, cache_dir, tmp_path):
    source = BrightAreaSource()
    library = ConceptLibrary([ImageStatsSource(), source], learned=None)
    result = tellapart.describe(*brightened, seed=0, library=library, describer=None, cache_dir=cache_dir,
                                progress=False)
    row = result.findings.set_index("concept").loc["brightarea.share"]
    assert row["significant"], result.findings[["concept", "q_value"]]
    examples = list(dict.fromkeys([*row["examples_a"], *row["examples_b"]]))
    outlines = result.outlines["brightarea.share"]
    assert set(outlines) == set(examples)
    assert source.outlined == len(examples)  # each example decoded and outlined once
    assert list(result.outlines) == ["brightarea.share"]  # only concepts whose source outlines them
    drawn = [c for contours in outlines.values() for c in contours]
    assert drawn and all(len(c) >= 2 for c in drawn)
    points = np.array([p for c in drawn for p in c])
    assert points.min() >= 0 and points.max() <= 1 and np.allclose(points, np.round(points, 3))

    document = json.loads(result.to_json())
    assert document["outlines"]["brightarea.share"] == outlines

    page = render_html(result)
    card = page[page.index("have a larger bright area"):]
    card = card[: card.index("</section>")]
    assert "Outlined: the region this was measured on" in card
    with_outline = [s for s in examples if outlines[s]]
    assert card.count('<svg class="outline"') == len(with_outline)
    assert card.count('class="line"') == sum(len(c) for c in outlines.values())
    # The report draws what describe stored: it runs no concept source.
    before = source.outlined
    result.to_html(tmp_path / "report.html")
    assert source.outlined == before


def test_region_source_outlines_its_significant_findings(pool, cache_dir, library):
    # A vignette darkens the periphery: the body, the bright structures and the lightness by region move.
    pair = make_edited_pair(pool, [("vignette", 1.0)], 30, 30, seed=3)
    result = tellapart.describe(pair.set_a, pair.set_b, seed=0, cache_dir=cache_dir, library=library,
                                describer=None, progress=False)
    regions = result.findings[result.findings["significant"] & (result.findings["category"] == "region")]
    assert len(regions), result.findings[["concept", "q_value"]]
    for row in regions.itertuples():
        assert set(result.outlines.get(row.concept, {})) == set(dict.fromkeys([*row.examples_a,
                                                                               *row.examples_b]))
    assert '<svg class="outline"' in render_html(result)
