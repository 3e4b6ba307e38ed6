"""The hypothesis proposer against a real local OpenAI-compatible server with a tiny model behind it."""

from __future__ import annotations

import json
import socket
import time

import numpy as np
import pandas as pd
import pytest
from llm_server import MODEL_ID

import tellapart
from tellapart.concepts.base import Concept
from tellapart.concepts.image_stats import ImageStatsSource
from tellapart.concepts.library import ConceptLibrary
from tellapart.propose import (
    DESCRIPTION_CHARS,
    ChatClient,
    Proposals,
    ProposerError,
    a_likeness,
    api_key_from_env,
    clean_phrases,
    describe_image,
    discovery_findings,
    match_proposals,
    most_typical,
    parse_hypotheses,
    propose_from_discovery,
    propose_hypotheses,
    scale_q_values,
    validate_proposals,
)
from tellapart.stats import split_discovery_validation

FINDINGS = pd.DataFrame({
    "concept": ["stats.brightness", "semantic.dog"],
    "phrase": ["brightness", "contain a dog"],
    "direction": ["b", "a"],
    "auroc": [0.91, 0.74],
    "text": ["Set A images are darker than set B images (AUROC 0.91)",
             "Set A images contain a dog more often than set B images (AUROC 0.74)"],
})
A_LIKE = ["shows: contain a dog, snowy mountain slope; stands out: darker (brightness 0.2 vs median 0.5)",
          "shows: contain a dog, snowy mountain peak, wooden sledge"]
B_LIKE = ["shows: contain a beach, sandy shore; stands out: brighter (brightness 0.8 vs median 0.5)"]


pytestmark = pytest.mark.usefixtures("no_proxy")


@pytest.fixture
def llm(chat_server, monkeypatch):
    """The server reset to well-behaved answers, with no key in the environment."""
    chat_server.mode, chat_server.delay = "json", 0.0
    chat_server.requests.clear()
    for name in ("TELLAPART_LLM_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    return chat_server


def _propose(server, **kwargs) -> Proposals:
    return propose_hypotheses(server.url, FINDINGS, A_LIKE, B_LIKE, **kwargs)


def test_normal_reply_gives_phrases_written_from_the_prompt(llm):
    proposals = _propose(llm, n=4, existing=["contain a dog"])
    assert proposals.ok and proposals.note == "" and proposals.model == MODEL_ID
    # The tiny model wrote them from the set-A descriptions (words B's lack, with their next word).
    assert proposals.phrases[:2] == ["dog snowy", "snowy mountain"]
    assert len(proposals.phrases) <= 4
    chat = [r for r in llm.requests if r["path"] == "/v1/chat/completions"][-1]
    body = chat["body"]
    assert body["model"] == MODEL_ID and body["temperature"] == 0 and body["seed"] == 0
    prompt = body["messages"][-1]["content"]
    assert "Set A images are darker than set B images (AUROC 0.91)" in prompt
    assert "snowy mountain peak, wooden sledge" in prompt and "sandy shore" in prompt
    assert "Authorization" not in chat["headers"]


def test_same_request_same_answer(llm):
    assert _propose(llm).phrases == _propose(llm).phrases


def test_bearer_key_from_the_environment(llm, monkeypatch):
    llm.mode = "needs_key"
    failed = _propose(llm)
    assert failed.phrases == [] and "HTTP 401" in failed.note and "TELLAPART_LLM_KEY" in failed.note
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fallback")
    monkeypatch.setenv("TELLAPART_LLM_KEY", "sk-tellapart-secret")
    proposals = _propose(llm)
    assert proposals.ok
    assert llm.requests[-1]["headers"]["Authorization"] == "Bearer sk-tellapart-secret"
    client = ChatClient(llm.url)
    assert "sk-tellapart-secret" not in repr(client)
    monkeypatch.delenv("TELLAPART_LLM_KEY")
    assert api_key_from_env() == "sk-fallback"
    # OpenAI's own key goes to OpenAI only, never to another server the user names.
    assert api_key_from_env(url=llm.url) is None
    assert api_key_from_env(url="https://api.openai.com/v1") == "sk-fallback"
    assert _propose(llm).phrases == [] and "Authorization" not in llm.requests[-1]["headers"]


def test_model_named_and_url_forms(llm):
    proposals = _propose(llm, model="tiny-other")
    assert proposals.ok and llm.requests[-1]["body"]["model"] == "tiny-other"
    assert not any(r["path"] == "/v1/models" for r in llm.requests)  # a named model needs no listing
    for url in (llm.url, llm.url + "/", llm.url + "/v1", llm.url + "/v1/", llm.url + "/v1/chat/completions"):
        assert ChatClient(url).url == llm.url + "/v1"
    assert ChatClient(llm.url).models() == [MODEL_ID, "tiny-other"]


def test_fenced_and_listed_replies_are_parsed(llm):
    expected = _propose(llm).phrases
    for mode in ("fenced", "bullets"):
        llm.mode = mode
        assert _propose(llm).phrases == expected, mode


def test_phrases_are_validated(llm):
    well_formed = _propose(llm, n=20, existing=["Snowy Mountain"]).phrases
    llm.mode = "noisy"  # the same phrases plus a repeat in capitals, padding, "", too long, "set A", escapes
    phrases = _propose(llm, n=20, existing=["Snowy Mountain"]).phrases
    assert sorted(phrases) == sorted(well_formed) and len(phrases) == len(set(phrases))
    assert "snowy mountain" not in [p.lower() for p in phrases]  # an existing concept's phrase
    assert len(_propose(llm, n=2).phrases) == 2


def test_timeout_gives_a_note_in_about_the_timeout(llm):
    llm.mode, llm.delay = "slow", 5.0
    start = time.monotonic()
    proposals = _propose(llm, timeout=0.5)
    elapsed = time.monotonic() - start
    assert proposals.phrases == [] and elapsed < 2.0
    assert "did not answer within 0.5 s" in proposals.note and llm.url in proposals.note


@pytest.mark.parametrize(("mode", "expected"), [
    ("not_json", "is not JSON (<html><body>502 Bad Gateway</body></html>)"),
    ("no_choices", "has no 'choices'"),
    ("empty", "returned an empty answer (finish_reason 'stop')"),
    ("refuse", "declined to propose hypotheses (I'm sorry, but I can't help with that request.)"),
    ("error500", "answered HTTP 500: CUDA out of memory while loading the model; the server failed"),
    ("no_models", "answered HTTP 404: no route /v1/models; check the URL"),
    ("nested", "answered without a list of phrases ([[[[[["),
    ("redirect", "answered HTTP 307: Temporary Redirect; give the URL it points to (http://elsewhere.invalid"),
    ("cut_short", "was cut short (17 of 1,000 bytes): the server may have stopped"),
])
def test_bad_answers_give_a_clear_note(llm, mode, expected):
    llm.mode = mode
    proposals = _propose(llm)
    assert proposals.phrases == [] and not proposals.ok
    assert expected in proposals.note and llm.url + "/v1" in proposals.note
    assert "\n" not in proposals.note


def test_connection_refused_gives_a_clear_note():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proposals = propose_hypotheses(f"http://127.0.0.1:{port}", FINDINGS, A_LIKE, B_LIKE, model="m",
                                   timeout=5)
    assert proposals.phrases == []
    assert proposals.note == (f"could not connect to the language model at http://127.0.0.1:{port}/v1/chat/"
                              "completions (connection refused): is the server running, and on that port?")


def test_not_an_http_url():
    proposals = propose_hypotheses("file:///etc/passwd", FINDINGS, A_LIKE, B_LIKE)
    assert proposals.phrases == [] and "is not an http(s) URL" in proposals.note
    with pytest.raises(ProposerError, match="not an http"):
        ChatClient("localhost:8000")


def test_parser_tolerates_what_models_write():
    reply = 'Sure! {"hypotheses": ["a red car", "snow"]} Hope it helps.'
    assert parse_hypotheses(reply) == ["a red car", "snow"]
    assert parse_hypotheses('```\n["a", "b"]\n```') == ["a", "b"]
    assert parse_hypotheses('{"ideas": [{"phrase": "wet roads"}]}') == ["wet roads"]
    assert parse_hypotheses("1) people sitting\n2. **people standing**\n- dogs") == [
        "people sitting", "people standing", "dogs"]
    assert parse_hypotheses("I cannot do that.") == []
    assert clean_phrases([' "Dogs." ', "dogs", "a\u202eb", "set B cats", "x" * 81], n=5) == ["Dogs"]


def test_describe_image_names_what_shows_and_what_stands_out():
    concepts = {
        "phrase.snow": Concept("phrase.snow", "snow on the ground", "magnitude", category="phrase"),
        "stats.brightness": Concept("stats.brightness", "brightness", "magnitude", more="brighter",
                                    less="darker", category="stats"),
        "semantic.dog": Concept("semantic.dog", "contain a dog", "presence", category="semantic_category"),
        "meta.site": Concept("meta.site", "come from site 2", "presence", category="metadata"),
    }
    rng = np.random.default_rng(0)
    scores = pd.DataFrame({"phrase.snow": rng.normal(0.25, 0.01, 20),
                           "stats.brightness": rng.normal(0.5, 0.1, 20),
                           "semantic.dog": rng.uniform(0, 0.4, 20), "meta.site": np.ones(20)})
    scores.iloc[0] = [0.3, 0.1, 0.9, 1.0]
    assert describe_image(scores, 0, concepts) == (
        "shows: contain a dog; stands out: \u201csnow on the ground\u201d (image-text similarity 0.3 vs "
        "median 0.248), darker (brightness 0.1 vs median 0.498)")
    scores.iloc[1] = [0.2, 0.5, 0.1, 1.0]  # a poor image-text match is no description
    assert describe_image(scores, 1, concepts) == "nothing stands out"


def test_a_trace_on_a_column_mostly_at_zero_does_not_stand_out():
    # Most images cover none of the image with spots: a trace of 0.3% is many spreads from the median 0
    # but reads "0% vs median 0%"; 30% stands out.
    spots = Concept("region.spots_area", "share of the image covered by spots", "magnitude", more="spottier",
                    less="less spotty", unit="%", category="region")
    scores = pd.DataFrame({"region.spots_area": np.r_[0.003, 0.3, np.zeros(16), 0.001, 0.002]})
    reference = np.arange(20) != 1  # e.g. the discovery images
    assert describe_image(scores, 0, {spots.id: spots}, reference=reference) == "nothing stands out"
    assert describe_image(scores, 1, {spots.id: spots}, reference=reference) == (
        "stands out: spottier (share of the image covered by spots 30% vs median 0%)")


@pytest.fixture(scope="module")
def darkened(pool, library, cache_dir):
    """A real run: 12 darkened photo crops vs 12 others."""
    a = [(np.asarray(image, dtype=np.float32) * 0.45).astype(np.uint8) for image in pool[:12]]
    return tellapart.describe(a, pool[12:24], library=library, cache_dir=cache_dir, progress=False)


def test_discovery_images_described_and_proposed_from(darkened, llm):
    groups = darkened.images["set"].to_numpy()
    discovery = ~split_discovery_validation(groups, seed=0)
    findings = discovery_findings(darkened.scores, groups, discovery, darkened.concepts)
    assert "stats.brightness" in set(findings["concept"])
    brightness = findings.set_index("concept").loc["stats.brightness"]
    assert brightness["direction"] == "b" and brightness["text"].startswith("Set A images are darker")
    likeness = a_likeness(darkened.scores, findings, discovery)
    a_rows, b_rows = most_typical(likeness, groups, discovery, n=3)
    assert len(a_rows) == len(b_rows) == 3
    assert set(groups[a_rows]) == {"a"} and set(groups[b_rows]) == {"b"}
    assert not (set(a_rows) | set(b_rows)) - set(np.flatnonzero(discovery))
    assert likeness[a_rows].min() > likeness[b_rows].max()
    texts = [describe_image(darkened.scores, i, darkened.concepts, reference=discovery) for i in a_rows]
    for text in texts:
        assert text.startswith(("shows: ", "stands out: ")) and "\n" not in text and len(text) < 600
    assert any("look darkened" in t for t in texts) and any("vs median" in t for t in texts)
    b_texts = [describe_image(darkened.scores, i, darkened.concepts, reference=discovery) for i in b_rows]
    proposals = propose_hypotheses(
        llm.url, findings, texts, b_texts, existing=[c.phrase for c in darkened.concepts.values()])
    assert proposals.ok, proposals.note
    prompt = llm.requests[-1]["body"]["messages"][-1]["content"]
    # Each description reaches the model cut to DESCRIPTION_CHARS (with "..." when longer).
    assert texts[0][: DESCRIPTION_CHARS - 3] in prompt and findings["text"].iloc[0] in prompt
    words = set(" ".join(texts).lower().replace(",", " ").split())
    assert all(p.split()[0] in words or p.startswith("close-up of") for p in proposals.phrases)


def test_the_wiring_without_an_image_text_model(darkened, library, named, llm):
    """What describe does with --llm: propose from discovery, match to concepts, test on validation."""
    groups = darkened.images["set"].to_numpy()
    validation = split_discovery_validation(groups, seed=0)
    proposals = propose_from_discovery(llm.url, darkened.scores, groups, ~validation, darkened.concepts,
                                       n=5)
    assert proposals.ok and 0 < len(proposals.phrases) <= 5
    assert not set(proposals.phrases) & {c.phrase for c in darkened.concepts.values()}
    matches = match_proposals(proposals.phrases, named, encoder=library.text_encoder)
    assert [m[0] for m in matches] == proposals.phrases
    tested = validate_proposals(darkened.scores, groups, validation, [m[1] for m in matches])
    assert set(tested["concept"]) == {m[1] for m in matches}
    assert (tested["n_a"] + tested["n_b"] <= validation.sum()).all()
    assert tested["q_value"].between(0, 1).all()


@pytest.fixture(scope="module")
def named(library):
    """The library's concepts without the 1,378 ImageNet ones (their texts take a minute to embed on a busy
    CPU), "look darkened" and "have flattened, low contrast" included: near misses for "darker"."""
    return {cid: c for cid, c in library.concepts.items()
            if c.category not in ("semantic_class", "semantic_category")}


def test_match_proposals_maps_darker_to_brightness(library, named):
    matches = match_proposals(["darker images", "x"], named, min_similarity=0.5, encoder=library.text_encoder)
    assert matches[0][:2] == ("darker images", "stats.brightness") and matches[0][2] > 0.9
    assert [m[0] for m in matches] == ["darker images"]  # "x" is near nothing
    small = ConceptLibrary([ImageStatsSource()], learned=None)  # a library brings its own encoder
    assert match_proposals(["blurry photos"], small)[0][1] == "stats.sharpness"
    assert small.text_encoder.n_encoded > 0


def test_request_body_is_plain_json(llm):
    _propose(llm)
    body = llm.requests[-1]["body"]
    assert json.loads(json.dumps(body)) == body
    assert [m["role"] for m in body["messages"]] == ["system", "user"]


def _proposal_scores(rng, n_per_set, shift, k=10):
    groups = np.array(["a"] * n_per_set + ["b"] * n_per_set)
    values = rng.normal(size=(2 * n_per_set, k))
    values[groups == "a", 0] += shift
    return pd.DataFrame(values, columns=[f"phrase.p{i}" for i in range(k)]), groups


def test_validated_on_held_out_images_with_their_alpha_share():
    rng = np.random.default_rng(0)
    scores, groups = _proposal_scores(rng, 40, shift=1.5)
    validation = split_discovery_validation(groups, seed=0)
    tested = validate_proposals(scores, groups, validation, list(scores.columns), alpha=0.05, share=0.25)
    assert tested.attrs["n_validation"] == 40 and tested.attrs["alpha_share"] == 0.25
    top = tested.iloc[0]
    assert top["concept"] == "phrase.p0" and top["direction"] == "a" and top["significant"]
    assert top["n_a"] + top["n_b"] == 40 and top["discovery_auroc"] > 0.8
    holm = validate_proposals(scores, groups, validation, list(scores.columns), alpha=0.05, share=1.0)
    assert np.allclose(tested["q_value"], np.minimum(holm["q_value"] * 4, 1))
    assert (tested["significant"] == (tested["q_value"] < 0.05)).all()
    # Same-distribution sets: a false finding in at most about alpha * share of runs (here 0.0125).
    false = 0
    for _ in range(200):
        null, labels = _proposal_scores(rng, 20, shift=0.0)
        found = validate_proposals(null, labels, split_discovery_validation(labels, seed=0),
                                   list(null.columns), alpha=0.05, share=0.25)
        false += bool(found["significant"].any())
    assert false <= 8  # binomial(200, 0.0125): P(> 8) < 0.001
    assert scale_q_values(tested, 0.5, 0.05)["q_value"].max() <= 1
