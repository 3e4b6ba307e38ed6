"""The region source measures structures a person can point at, on real images that ship with scikit-image."""

import numpy as np
import pytest
import skimage.data
from PIL import Image

from tellapart.concepts.base import ConceptSource
from tellapart.concepts.regions import SPECS, RegionSource, measure_regions
from tellapart.io.image import DecodedImage


def _rgb(array: np.ndarray) -> np.ndarray:
    return np.repeat(array[..., None], 3, axis=2) if array.ndim == 2 else array


def _decoded(pixels: np.ndarray, name: str = "x") -> DecodedImage:
    return DecodedImage(key=name, source=name, pixels=pixels, original_size=pixels.shape[1::-1])


def _resized(pixels: np.ndarray, factor: float) -> np.ndarray:
    image = Image.fromarray(pixels)
    return np.asarray(image.resize((round(image.width * factor), round(image.height * factor)),
                                   Image.Resampling.LANCZOS))


def test_source_declares_one_magnitude_region_concept_per_measure():
    source = RegionSource()
    assert isinstance(source, ConceptSource)
    concepts = source.concepts()
    assert [c.id for c in concepts] == [f"region.{s.name}" for s in SPECS]
    assert len({c.id for c in concepts}) == len(concepts)
    assert {c.category for c in concepts} == {"region"} and {c.kind for c in concepts} == {"magnitude"}
    assert all(c.more and c.less and c.more != c.less for c in concepts)


def test_counts_the_coins():
    # skimage's coins photo holds 24 coins, brighter than the tray they lie on.
    values = measure_regions(_rgb(skimage.data.coins())).values
    assert 21 <= values["bright_count"] <= 27
    assert values["body_area"] == 1.0 and np.isnan(values["body_solidity"])  # no background: the whole frame


def test_finds_the_fundus_on_black_and_a_mass_only_where_symmetry_breaks():
    retina = skimage.data.retina()
    values = measure_regions(retina).values
    assert 0.6 < values["body_area"] < 0.95  # the round fundus, not its black surround
    half = retina[:, : retina.shape[1] // 2]
    mirrored = measure_regions(np.hstack([half, half[:, ::-1]])).values
    assert mirrored["asymmetry"] < 0.02 and mirrored["mass_area"] < 0.005
    assert values["asymmetry"] > 5 * mirrored["asymmetry"]  # the optic disc sits on one side
    assert values["mass_area"] > 0.01


def test_a_lobed_silhouette_is_less_solid_and_round_than_a_coin():
    horse = measure_regions(_rgb((skimage.data.horse() * 255).astype(np.uint8))).values
    coin = measure_regions(_rgb(skimage.data.coins()[180:250, 20:90])).values
    assert horse["dark_largest_solidity"] < 0.7 < coin["bright_largest_solidity"]
    assert horse["dark_largest_circularity"] < 0.45 < coin["bright_largest_circularity"]


def test_stained_nuclei_are_dark_stained_spots():
    # Immunohistochemistry: hematoxylin-stained nuclei are small dark spots of a colour unlike the tissue.
    tissue = measure_regions(skimage.data.immunohistochemistry()).values
    assert tissue["spots_stained"] >= 5 and tissue["spots_stained"] <= tissue["spots_count"]
    flat = measure_regions(np.full((128, 128, 3), 200, dtype=np.uint8)).values
    assert flat["spots_count"] == 0 and flat["dark_count"] == 0 and np.isnan(flat["dark_largest_area"])


@pytest.mark.parametrize("factor", [0.5, 2.0])
def test_measures_do_not_depend_on_image_size(factor):
    retina = _resized(skimage.data.retina(), 0.25)
    base = measure_regions(retina).values
    other = measure_regions(_resized(retina, factor)).values
    for name in ("body_area", "bright_largest_area", "asymmetry", "brightness_top_bottom"):
        assert other[name] == pytest.approx(base[name], abs=0.03), name


def test_outlines_trace_the_measured_region():
    source = RegionSource()
    horse = _decoded(_rgb((skimage.data.horse() * 255).astype(np.uint8)))
    wanted = ["region.dark_largest_solidity", "region.mass_area", "stats.brightness"]
    outlines = source.outlines(horse, wanted)
    assert set(outlines) == {"region.dark_largest_solidity", "region.mass_area"}
    contours = outlines["region.dark_largest_solidity"]
    assert contours and all(c.ndim == 2 and c.shape[1] == 2 for c in contours)
    xy = np.concatenate(contours)
    assert xy.min() >= 0 and xy.max() <= 1
    outer = max(contours, key=len)
    x, y = outer[:, 0], outer[:, 1]
    area = 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))  # shoelace
    measured = measure_regions(horse.pixels).values["dark_largest_area"]
    assert area == pytest.approx(measured, rel=0.25)  # body is the whole frame: shares are of the image


def test_score_matrix_row_matches_measure():
    image = _decoded(skimage.data.immunohistochemistry()[:200, :200])
    row = RegionSource().score([image])[0]
    values = measure_regions(image.pixels).values
    expected = np.array([values[s.name] for s in SPECS], dtype=np.float32)
    np.testing.assert_array_equal(row, expected)
