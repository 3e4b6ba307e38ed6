"""The typed core: one field list for the DataFrame, the JSON and the README; declared concept categories;
degraded inputs recorded in the result; the import rules between the package's parts."""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import tellapart
from tellapart import stats
from tellapart.concepts.base import CATEGORIES, Concept
from tellapart.concepts.image_stats import ImageStatsSource
from tellapart.concepts.library import ConceptLibrary
from tellapart.io.image import DecodedImage
from tellapart.schema import (
    DOMAIN_FIELDS,
    FINDING_COLUMNS,
    OVERALL_FIELDS,
    SIGNAL_COLUMNS,
    Domain,
    Finding,
    Overall,
    json_schema,
)
from tellapart.stats.describer import KINDS, concept_kinds

ROOT = Path(__file__).resolve().parents[1]


def test_finding_and_overall_fields_are_the_one_list_of_columns_json_and_readme():
    assert FINDING_COLUMNS == [f.name for f in fields(Finding)]
    assert OVERALL_FIELDS == [f.name for f in fields(Overall)]
    schema = json_schema()
    assert list(schema["properties"]["findings"]["items"]["properties"]) == FINDING_COLUMNS
    assert list(schema["properties"]["overall"]["properties"]) == OVERALL_FIELDS
    finding = schema["properties"]["findings"]["items"]["properties"]
    assert all(spec["description"] for spec in finding.values())
    # The README lists the same fields, in the same order (it is checked here, not kept by hand).
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## JSON output"):]
    per_finding = section[section.index("Per finding:"):section.index("\n\n", section.index("Per finding:"))]
    named = re.findall(r"`(\w+)`", per_finding)
    assert [name for name in named if name in FINDING_COLUMNS] == FINDING_COLUMNS
    overall = section[section.index("`overall` (null"):]
    overall = overall[:overall.index("\n\n")]
    assert [name for name in re.findall(r"`(\w+)`", overall) if name in OVERALL_FIELDS] == OVERALL_FIELDS
    # Signals: a finding's fields and a reason; the domain decision: its own fields, in order.
    assert SIGNAL_COLUMNS == FINDING_COLUMNS + ["reason"]
    assert list(schema["properties"]["signals"]["items"]["properties"]) == SIGNAL_COLUMNS
    assert DOMAIN_FIELDS == [f.name for f in fields(Domain)]
    assert list(schema["properties"]["domain"]["properties"]) == DOMAIN_FIELDS
    signal = section[section.index("Per signal:"):]
    assert "`reason`" in signal[:signal.index("\n\n")]
    domain = section[section.index("`domain` (null"):]
    domain = domain[:domain.index("\n\n")]
    assert [name for name in re.findall(r"`(\w+)`", domain) if name in DOMAIN_FIELDS] == DOMAIN_FIELDS
    top = section[section.index("Top level:"):]
    top = top[:top.index("\n\n")]
    assert set(re.findall(r"`(\w+)`", top)) >= set(schema["properties"])


def test_a_concept_declares_a_known_category():
    with pytest.raises(TypeError):
        Concept("new.thing", "show a thing", "presence")  # no category: refused, not silently "other"
    with pytest.raises(ValueError, match="category"):
        Concept("new.thing", "show a thing", "presence", category="gadget")
    concept = Concept("new.thing", "show a thing", "presence", category="detector")
    assert concept.priority == CATEGORIES["detector"]


class CornerMarkSource:
    """A new source whose ids share no prefix with any other: the pure white share of the top-left corner."""

    name = "cornermark"

    def concepts(self) -> list[Concept]:
        return [Concept("cornermark.white", "carry a white corner mark", "presence", threshold=0.5,
                        category="detector")]

    def score(self, images: Sequence[DecodedImage]) -> np.ndarray:
        out = np.empty((len(images), 1), dtype=np.float32)
        for i, image in enumerate(images):
            corner = image.pixels[: max(1, image.pixels.shape[0] // 8), : max(1, image.pixels.shape[1] // 8)]
            out[i, 0] = float(np.all(corner >= 250, axis=2).mean())
        return out


def test_a_new_source_is_ranked_by_its_declared_kind(pool):
    library = ConceptLibrary([ImageStatsSource(), CornerMarkSource()], learned=None)
    table = library.concept_table()
    assert library.priority()["cornermark.white"] == 0 < library.priority()["stats.brightness"]
    kinds = concept_kinds(table.loc[["cornermark.white", "stats.brightness"]])
    assert [KINDS[k] for k in kinds[:, 0]] == ["detector", "stats"]

    marked = []
    for image in pool[:40]:
        image = image.copy()
        image[: image.shape[0] // 8, : image.shape[1] // 8] = 255
        marked.append(image)
    matrix = library.score_sets({"a": tellapart.ImageSet.from_spec(marked),
                                 "b": tellapart.ImageSet.from_spec(pool[40:80])})
    assert matrix.concepts.loc["cornermark.white", "category"] == "detector"
    assert matrix.concepts.loc["cornermark.white", "source"] == "cornermark"
    # Two equally strong findings: the declared detector is named before the pixel statistic.
    scores = pd.DataFrame({"stats.brightness": matrix.scores["cornermark.white"],
                           "cornermark.white": matrix.scores["cornermark.white"]})
    tested = stats.test_concepts(scores, matrix.groups, seed=0, priority=library.priority())
    assert list(tested["concept"][:2]) == ["cornermark.white", "stats.brightness"]
    assert tested["significant"][:2].all()


def _jpeg_with_broken_exif(pixels: np.ndarray, path: Path) -> None:
    """A JPEG whose EXIF block has no TIFF header: its orientation cannot be read."""
    Image.fromarray(pixels).save(path, "JPEG", quality=90, exif=b"Exif\x00\x00XX*\x00" + bytes(20))


def test_a_degraded_image_is_recorded_in_the_result_json_and_report(pool, tmp_path):
    folders = {label: tmp_path / label for label in ("a", "b")}
    for label, images in (("a", pool[:12]), ("b", pool[12:24])):
        folders[label].mkdir()
        for i, image in enumerate(images):
            Image.fromarray(image).save(folders[label] / f"{i}.png")
    _jpeg_with_broken_exif(pool[30], folders["a"] / "broken-exif.jpg")
    library = ConceptLibrary([ImageStatsSource()], learned=None)
    for run in ("cold", "warm"):  # a degraded image is never cached, so a warm run lists it too
        result = tellapart.describe(folders["a"], folders["b"], library=library, describer=None,
                                    cache_dir=tmp_path / "cache", progress=False)
        assert list(result.degraded["source"]) == [str(folders["a"] / "broken-exif.jpg")], run
        assert "used as stored" in result.degraded["what"][0] and result.degraded["set"][0] == "a"
    assert result.n_a == 13  # used, not skipped
    document = json.loads(result.to_json())
    assert document["degraded"] == [{"set": "a", "source": str(folders["a"] / "broken-exif.jpg"),
                                     "what": result.degraded["what"][0]}]
    page = result.to_html(tmp_path / "report.html").read_text()
    assert "Used with a caveat (1)" in page and "broken-exif.jpg" in page


def test_import_rules_hold():
    spec = importlib.util.spec_from_file_location("import_graph", ROOT / "scripts" / "import_graph.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    edges = module.graph(None)
    assert module.broken_rules(edges) == []
    assert not edges.get(("schema", "report"), {}).get("module")  # the core loads no presentation code
    assert ("train", "bench") not in edges
