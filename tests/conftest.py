"""Shared real-image fixtures: sets derived from the bundled scikit-image / scikit-learn photographs."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def pool() -> list[np.ndarray]:
    """120 distinct random crops (96-256 px) of the bundled sample photographs."""
    from tellapart.synth import bundled_pool

    return bundled_pool(120, seed=0)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> str:
    """One score cache for the whole test session, so each image is scored once."""
    return str(tmp_path_factory.mktemp("score-cache"))


@pytest.fixture(scope="session")
def library():
    """The default offline concept library (models load lazily, once per session)."""
    from tellapart.concepts.library import ConceptLibrary

    return ConceptLibrary()


def _count_scored(source):
    """Make a real concept source count the images it scores (in ``source.scored``); return it."""
    original = source.score
    source.scored = 0

    def score(images):
        source.scored += len(images)
        return original(images)

    source.score = score
    return source


@pytest.fixture
def count_scored():
    """A function that makes a real concept source count the images it scores (``source.scored``)."""
    return _count_scored


@pytest.fixture
def no_proxy(monkeypatch):
    """Requests go straight to 127.0.0.1: a proxy named in the environment would not reach it."""
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def chat_server():
    """A real local OpenAI-compatible chat server with a tiny model behind it (``tests/llm_server.py``),
    one per test module."""
    from llm_server import LLMServer

    running = LLMServer().start()
    yield running
    running.stop()
