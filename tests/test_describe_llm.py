"""`describe(llm=...)` / `--llm`: a language model's proposals join a run without breaking its contract."""

from __future__ import annotations

import socket

import pytest
from test_imagetext import VOCABULARY, _sets, train_clip

from tellapart import describe
from tellapart.cli import main
from tellapart.concepts.library import ConceptLibrary
from tellapart.propose import PROPOSAL_ALPHA_SHARE
from tellapart.stats import split_discovery_validation

pytestmark = pytest.mark.usefixtures("no_proxy")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_clip(tmp_path_factory.mktemp("trained") / "clip")


def _run(trained, tmp_path, **kwargs):
    a, b = _sets(16)
    return describe(a, b, model=trained, vocabulary=VOCABULARY, library=ConceptLibrary([], learned=None),
                    describer=None, cache_dir=tmp_path, progress=False, **kwargs)


def test_proposals_are_scored_and_tested_on_the_validation_half(trained, chat_server, tmp_path):
    chat_server.mode = "json"
    plain = _run(trained, tmp_path)
    proposed = _run(trained, tmp_path, llm=chat_server.url)
    new = proposed.findings[proposed.findings["concept"].str.endswith(".proposed")]
    assert len(new) >= 1
    # Scored by the image-text model, measured on the validation half only, counted in the family size.
    validation = split_discovery_validation(proposed.images["set"].to_numpy(), seed=0)
    held_out = set(proposed.images["source"][validation])
    for row in new.itertuples():
        assert set(row.examples_a) | set(row.examples_b) <= held_out
    assert proposed.n_tested == plain.n_tested + len(new)
    assert any("proposed" in note and "validation half" in note for note in proposed.notes)
    # The request saw the discovery half's findings and images only: no finding names the set itself.
    sent = chat_server.requests[-1]["body"]["messages"][-1]["content"]
    assert "closer matches" in sent or "similarity" in sent
    # The library's family gives up the proposals' share of alpha: its q-values are stated on alpha.
    library_rows = proposed.findings[~proposed.findings["concept"].str.endswith(".proposed")]
    shared = plain.findings.set_index("concept")["q_value"]
    for row in library_rows.itertuples():
        if row.concept in shared.index and shared[row.concept] < 0.5:
            assert row.q_value >= shared[row.concept] - 1e-12
    assert 0 < PROPOSAL_ALPHA_SHARE < 1
    significant = proposed.findings["significant"].to_numpy()
    assert not (significant[1:] & ~significant[:-1]).any()  # significant findings first


def test_a_server_that_fails_costs_a_note_not_the_run(trained, tmp_path):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = _run(trained, tmp_path, llm=f"http://127.0.0.1:{port}", llm_timeout=2)
    assert not result.findings["concept"].str.endswith(".proposed").any()
    assert any(note.startswith("Language model:") and f"127.0.0.1:{port}" in note for note in result.notes)
    assert result.significant.iloc[0]["phrase"] in ("similarity to \u201cred\u201d",
                                                    "similarity to \u201cblue\u201d")


def test_without_an_image_text_model_proposals_are_matched(chat_server, tmp_path, pool):
    from tellapart.concepts.image_stats import ImageStatsSource
    from tellapart.synth.edits import darken

    chat_server.mode = "json"
    a = [darken(image, 0.5) for image in pool[:12]]
    result = describe(a, pool[12:24], library=ConceptLibrary([ImageStatsSource()], learned=None),
                      describer=None, cache_dir=tmp_path, progress=False, llm=chat_server.url)
    note = next(note for note in result.notes if note.startswith("Language model"))
    assert "matched to the nearest concept" in note and "->" in note
    assert not result.findings["concept"].str.endswith(".proposed").any()


@pytest.mark.parametrize("extra, message", [
    (["--llm", "ftp://example.org"], "--llm"),
    (["--llm", "http://127.0.0.1:9", "--adjust-for", "site"], "--adjust-for"),
    (["--llm", "http://127.0.0.1:9", "--llm-timeout", "0"], "--llm-timeout"),
    (["--llm", "http://127.0.0.1:9", "--llm-phrases", "0"], "--llm-phrases"),
])
def test_cli_checks_the_llm_options_before_reading_images(extra, message, tmp_path, capsys):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with pytest.raises(SystemExit) as stopped:
        main(["describe", str(tmp_path / "a"), str(tmp_path / "b"), "--quiet", *extra])
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err
