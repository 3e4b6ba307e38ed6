"""Propose new hypotheses with a language model behind any OpenAI-compatible chat endpoint.

No pixels here: numbers and text go in, short phrases come out. Given the strongest findings of the
discovery half (``discovery_findings``) and short descriptions of the discovery half's most A-like and
most B-like images (``a_likeness``, ``most_typical``, ``describe_image``), a language model served by vLLM,
Ollama, a llama.cpp server or a hosted API (``ChatClient``: ``POST {url}/v1/chat/completions``, stdlib
``urllib`` only) is asked for short, visual, checkable phrases ("people sitting cross-legged").
``propose_hypotheses`` returns them as ``Proposals``; it never raises for a server that is down, slow,
wrong or unwilling: ``Proposals.note`` then says in one line what failed, at which URL and what to do, and
the caller carries on without proposals.

A proposal is a hypothesis like any other: it must be tested on images that did not inspire it, and the
correction must count it. With an image-text model the phrases become concepts of their own (its
``ImageTextSource`` scores any phrase); without one, ``match_proposals`` maps each phrase to the nearest
library concept with the bundled sentence model (``concepts.text_match``).

The key is read from ``TELLAPART_LLM_KEY``, else ``OPENAI_API_KEY``, and sent only as a Bearer token; it is
never logged or put in a message, and redirects are not followed (urllib would resend it).

How a run uses it, keeping the statistical contract (both designs)::

    validation = split_discovery_validation(groups, seed)          # the halves the overall test uses
    proposals = propose_from_discovery(url, scores, groups, ~validation, reportable_concepts)
    columns = ...  # image-text scores of proposals.phrases, or the ids match_proposals finds
    library_family = test_concepts(..., alpha=alpha * (1 - PROPOSAL_ALPHA_SHARE))   # then scale_q_values
    proposal_family = validate_proposals(scores_with_columns, groups, validation, ids, alpha=alpha)

The proposals see only discovery images; they are tested only on validation images, as a family with
``PROPOSAL_ALPHA_SHARE`` of alpha (Holm), the library's family with the rest, so by the union bound the
chance of any false finding in the run stays within alpha when the library's family controls it too
(max-T, Holm); with Benjamini-Hochberg it is the false discovery rate that stays within alpha (at most the
library's FDR plus the proposals' family-wise error).
"""

from __future__ import annotations

import http.client
import json
import math
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tellapart.concepts.base import Concept
from tellapart.io.printable import printable
from tellapart.phrasing import claim, format_value
from tellapart.stats.auroc import auroc
from tellapart.stats.contract import STRENGTH_BIN, test_hypotheses_on_all
from tellapart.stats.split import check_groups
from tellapart.stats.tests import mann_whitney_matrix

if TYPE_CHECKING:
    from tellapart.concepts.cache import ScoreCache
    from tellapart.concepts.library import ConceptLibrary
    from tellapart.concepts.text_match import TextEncoder

__all__ = [
    "ChatClient",
    "KEY_VARIABLES",
    "ProposerError",
    "Proposals",
    "a_likeness",
    "api_key_from_env",
    "build_messages",
    "clean_phrases",
    "describe_image",
    "discovery_findings",
    "match_proposals",
    "most_typical",
    "parse_hypotheses",
    "propose_from_discovery",
    "propose_hypotheses",
    "PROPOSAL_ALPHA_SHARE",
    "scale_q_values",
    "validate_proposals",
]

# Where the key comes from, first found wins: our own name, so a user can keep a different key for tellapart,
# then the name every OpenAI client reads. OpenAI's own key goes only to OpenAI (``OPENAI_HOSTS``): a user who
# has it set and points --llm at a colleague's vLLM server must not hand it over unasked.
KEY_VARIABLES = ("TELLAPART_LLM_KEY", "OPENAI_API_KEY")
OPENAI_HOSTS = ("api.openai.com",)
# Seconds to wait for the server per connection step (connect, each read). A small local model answers a
# prompt of this size in a few seconds on a CPU; a large one on a busy server may need a minute; a run
# that stalls longer than that should go on without proposals rather than hang.
DEFAULT_TIMEOUT = 60.0
# Phrases asked for: each is a test in the proposals' own family (Holm, ``validate_proposals``), so every
# extra phrase raises the bar for the others; ten leaves room for the ones that match nothing or repeat the
# library, and a model's tenth idea is rarely better than its fifth.
DEFAULT_N = 10
# A proposal is a noun phrase; anything longer is a sentence or an explanation, not a checkable concept.
MAX_PHRASE_CHARS = 80
# Findings and images shown to the model: enough to show the pattern, few enough for a small context window
# (about 1,500 tokens of prompt in all).
MAX_FINDINGS = 8
N_TYPICAL = 4
# Tokens the answer may take: N phrases of up to 80 characters in JSON is under 400 tokens; the rest is room
# for a model that writes a sentence before its JSON.
MAX_TOKENS = 800
# Bytes read from any answer: a chat reply of this task is a few kB; more is a wrong endpoint or a runaway.
MAX_RESPONSE_BYTES = 1_000_000
# Characters of a reply searched for phrases: N phrases in JSON take under 2,000; a longer reply is prose
# around them, and an unbounded one could make the search slow.
MAX_REPLY_CHARS = 20_000
# Places in a reply where a JSON value may start that are tried: a reply with its JSON after more brackets
# than this is prose, not an answer to this prompt.
MAX_JSON_STARTS = 200
# Characters of a server's error message or odd reply quoted in a note.
QUOTE_CHARS = 160
# Characters of one image's description in the prompt: five concepts and three values with their numbers.
DESCRIPTION_CHARS = 400
# Robust |z| (vs the reference images' median, in MADs) from which a magnitude is worth naming in an
# image's description: about the outer 13% of a normal distribution, so an image gets a few, not dozens.
NOTABLE_Z = 1.5
# The share of alpha spent on proposals when a run asks a language model (``validate_proposals``); the
# library's family is tested at alpha * (1 - share). Proposals are tested on the validation half only, so
# they need larger effects than the library's concepts tested on every image: with about 300 effectively
# independent library concepts (two-sided max-T) and 10 proposals (one-sided Holm) at alpha 0.05, a share
# of 0.25 raises the library's critical z by 2% (3.77 -> 3.84) and leaves the proposals a critical z of
# 4.28 in units of the full sample (0.5: 4.5% and 3.97; 0.1: 0.7% and 4.65): a user adding a language model
# loses next to nothing of what the library finds, and a strong proposal can still be confirmed.
PROPOSAL_ALPHA_SHARE = 0.25
# Categories left out of an image's description: recorded, not seen (a scanner's name is no visual cue).
_UNSEEN_CATEGORIES = frozenset({"metadata"})

_SET_NAMES = re.compile(r"\b(?:set|group)\s*[ab]\b|\bset[ab]\b", re.IGNORECASE)
_REFUSAL = re.compile(
    r"\b(?:I\s*(?:can(?:'|no|\u2019)?t|cannot|won(?:'|\u2019)t|am\s+(?:not\s+able|unable)|'m\s+(?:not\s+able|"
    r"unable|sorry))|sorry|as\s+an\s+ai|unable\s+to\s+(?:help|assist|comply))\b",
    re.IGNORECASE,
)
_LIST_ITEM = re.compile(r"^\s*(?:[-*\u2022\u2013]|\d{1,3}[.)])\s+(.+?)\s*$")
_FENCE = re.compile(r"```[a-zA-Z]*\s*\n?(.*?)```", re.DOTALL)


class ProposerError(RuntimeError):
    """The language model could not propose: the one-line message says what failed, at which URL, and
    what to do."""


@dataclass(frozen=True)
class Proposals:
    """What the language model proposed.

    Attributes:
        phrases: the validated phrases (``clean_phrases``), at most the number asked for; empty on failure.
        note: "" on success; otherwise the one-line reason there are none (what failed, at which URL, what
            to do), for the caller to record and carry on.
        model: the model that answered ("" when none did).
        raw: the model's reply as received (for a report's appendix; "" when there was none).
    """

    phrases: list[str] = field(default_factory=list)
    note: str = ""
    model: str = ""
    raw: str = ""

    @property
    def ok(self) -> bool:
        """True when the model answered with at least one usable phrase."""
        return not self.note and bool(self.phrases)


def api_key_from_env(environ: Mapping[str, str] | None = None, url: str | None = None) -> str | None:
    """Return the API key for the endpoint at ``url`` from ``environ`` (default ``os.environ``), or None (a
    local server needs none): ``TELLAPART_LLM_KEY`` for any endpoint, else ``OPENAI_API_KEY`` when ``url``
    is OpenAI's own (``OPENAI_HOSTS``; any endpoint when ``url`` is None)."""
    environ = os.environ if environ is None else environ
    host = (urllib.parse.urlsplit(url).hostname or "") if url else None
    for name in KEY_VARIABLES:
        value = environ.get(name, "").strip()
        if value and (name != "OPENAI_API_KEY" or host is None or host in OPENAI_HOSTS):
            return value
    return None


def _base_url(url: str) -> str:
    """The endpoint's ``.../v1`` base: a URL given with or without ``/v1`` (or with a full
    ``/v1/chat/completions``) works. Raises ProposerError for anything not http(s)."""
    text = (url or "").strip()
    parsed = urllib.parse.urlsplit(text)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ProposerError(f"the language model URL {printable(text)!r} is not an http(s) URL: give the "
                            "server's address, e.g. http://localhost:11434/v1 (Ollama) or "
                            "http://localhost:8000/v1 (vLLM)")
    path = parsed.path.rstrip("/")
    for suffix in ("/chat/completions", "/completions", "/models"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
    if not path.endswith("/v1"):
        path += "/v1"
    return urllib.parse.urlunsplit((parsed.scheme, parsed.netloc, path, "", ""))


class ChatClient:
    """A small client for an OpenAI-compatible chat endpoint (stdlib ``urllib`` only).

    Parameters:
        url: the server, with or without ``/v1`` (``http://localhost:11434``, ``http://host:8000/v1``).
        model: the model to ask; None asks ``GET /v1/models`` and takes the first one listed.
        api_key: sent as ``Authorization: Bearer ...`` when given; default ``api_key_from_env()``.
        timeout: seconds to wait per connection step (``DEFAULT_TIMEOUT``).
        seed: sent with every request; with temperature 0, servers that honour it answer the same way
            every time.

    Every failure raises ``ProposerError`` with a one-line message naming the URL; the key is never part
    of a message or of ``repr``.
    """

    def __init__(
        self,
        url: str,
        *,
        model: str | None = None,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        seed: int = 0,
    ) -> None:
        if not (isinstance(timeout, int | float) and math.isfinite(timeout) and timeout > 0):
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        self.url = _base_url(url)
        self.model = model.strip() if model and model.strip() else None
        self._api_key = api_key if api_key is not None else api_key_from_env(url=self.url)
        self.timeout = float(timeout)
        self.seed = int(seed)

    def __repr__(self) -> str:
        key = "set" if self._api_key else "none"
        return f"ChatClient(url={self.url!r}, model={self.model!r}, key={key}, timeout={self.timeout:g})"

    def models(self) -> list[str]:
        """Return the model ids the server lists at ``GET /v1/models`` (in its order)."""
        answer = self._request("GET", "/models")
        data = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(data, list):
            raise ProposerError(f"the language model server at {self.url} did not list its models "
                                "(no 'data' in its /models answer): name one with --llm-model")
        return [str(m["id"]) for m in data if isinstance(m, dict) and m.get("id")]

    def resolve_model(self) -> str:
        """Return the model to ask: the one given, else the first the server lists (kept for next time)."""
        if self.model is None:
            listed = self.models()
            if not listed:
                raise ProposerError(f"the language model server at {self.url} lists no models: load one, "
                                    "or name it with --llm-model")
            self.model = listed[0]
        return self.model

    def chat(self, messages: Sequence[Mapping[str, str]], *, max_tokens: int = MAX_TOKENS) -> str:
        """Send ``messages`` (``{"role", "content"}`` dicts) at temperature 0 with the seed; return the text
        of the first choice's message. Raises ProposerError when there is none."""
        model = self.resolve_model()
        body = {"model": model, "messages": [dict(m) for m in messages], "temperature": 0,
                "seed": self.seed, "max_tokens": int(max_tokens), "stream": False}
        answer = self._request("POST", "/chat/completions", body)
        choices = answer.get("choices") if isinstance(answer, dict) else None
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise ProposerError(f"the answer from {self.url}/chat/completions has no 'choices' "
                                f"({_quote(json.dumps(answer))}): is this an OpenAI-compatible chat "
                                "endpoint?")
        message = choices[0].get("message")
        content = message.get("content") if isinstance(message, dict) else None
        if content is None and isinstance(choices[0].get("text"), str):  # completion-style servers
            content = choices[0]["text"]
        if not isinstance(content, str) or not content.strip():
            reason = choices[0].get("finish_reason")
            why = f" (finish_reason {reason!r})" if reason else ""
            raise ProposerError(f"model {model!r} at {self.url} returned an empty answer{why}: try another "
                                "model with --llm-model")
        return content

    def _request(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        """Send one request and return the decoded JSON answer; every failure is a ProposerError."""
        url = self.url + path
        headers = {"Accept": "application/json", "User-Agent": "tellapart"}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            # Built per request: the proxy settings (http_proxy, no_proxy) are read from the environment now.
            opener = urllib.request.build_opener(_NoRedirect)
            with opener.open(request, timeout=self.timeout) as response:
                raw = response.read(MAX_RESPONSE_BYTES + 1)
                promised = response.headers.get("Content-Length", "")
        except urllib.error.HTTPError as error:
            raise ProposerError(self._http_message(url, error)) from None
        except urllib.error.URLError as error:
            raise ProposerError(self._connection_message(url, error.reason)) from None
        except OSError as error:  # a timeout while reading the answer, a reset connection
            raise ProposerError(self._connection_message(url, error)) from None
        except http.client.HTTPException as error:  # a malformed status line, an answer cut short
            raise ProposerError(f"the answer from {url} was not valid HTTP ({type(error).__name__}): is "
                                "this an OpenAI-compatible endpoint?") from None
        if promised.isdigit() and len(raw) < int(promised):
            raise ProposerError(f"the answer from {url} was cut short ({len(raw):,} of {int(promised):,} "
                                "bytes): the server may have stopped; try again")
        if len(raw) > MAX_RESPONSE_BYTES:
            raise ProposerError(f"the answer from {url} is larger than {MAX_RESPONSE_BYTES:,} bytes: is this "
                                "an OpenAI-compatible endpoint?")
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            text = raw.decode("utf-8", "replace")
            raise ProposerError(f"the answer from {url} is not JSON ({_quote(text)}): is this an "
                                "OpenAI-compatible endpoint (vLLM, Ollama, llama.cpp server)?") from None

    def _http_message(self, url: str, error: urllib.error.HTTPError) -> str:
        try:
            text = error.read(MAX_RESPONSE_BYTES).decode("utf-8", "replace")
        except OSError:
            text = ""
        said = _server_message(text) or error.reason or ""
        if 300 <= error.code < 400:
            target = _quote(str(error.headers.get("Location", "")))
            hint = f"give the URL it points to ({target}): redirects are not followed, so a key stays here"
        elif error.code in (401, 403):
            hint = f"set the key in {KEY_VARIABLES[0]} (or {KEY_VARIABLES[1]})"
        elif error.code == 404:
            hint = "check the URL and the model name (--llm-model)"
        elif error.code == 429:
            hint = "the server is busy or the quota is used up; try again later"
        elif error.code >= 500:
            hint = "the server failed; check its log, or try again later"
        else:
            hint = "check the URL and the model name (--llm-model)"
        return f"the language model at {url} answered HTTP {error.code}: {_quote(str(said))}; {hint}"

    def _connection_message(self, url: str, reason: Any) -> str:
        if isinstance(reason, TimeoutError) or "timed out" in str(reason):
            return (f"the language model at {url} did not answer within {self.timeout:g} s: it may be "
                    "loading or overloaded; try again, or allow it longer (--llm-timeout)")
        if isinstance(reason, ConnectionRefusedError) or "refused" in str(reason).lower():
            return (f"could not connect to the language model at {url} (connection refused): is the server "
                    "running, and on that port?")
        return f"could not reach the language model at {url} ({_quote(str(reason))}): check the URL"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse redirects: urllib would resend the Authorization header to wherever they point."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001 (urllib's signature)
        return None  # urllib then raises the 3xx as an HTTPError



def _server_message(text: str) -> str:
    """The message in an error body: OpenAI's ``{"error": {"message": ...}}``, ``{"error": "..."}``,
    ``{"message"|"detail": ...}``, or the text itself."""
    try:
        body = json.loads(text)
    except json.JSONDecodeError:
        return text.strip()
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        for value in (error, body.get("message"), body.get("detail")):
            if isinstance(value, str) and value:
                return value
    return text.strip()


def _quote(text: str, limit: int = QUOTE_CHARS) -> str:
    """``text`` on one line, made safe for a terminal and cut to ``limit`` characters."""
    flat = " ".join(printable(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


# ---------------------------------------------------------------------------------------------------------
# What the model is shown: discovery findings and typical images


def discovery_findings(
    scores: pd.DataFrame,
    groups: Sequence[str] | np.ndarray,
    discovery: np.ndarray,
    concepts: Mapping[str, Concept],
    *,
    top: int = MAX_FINDINGS,
) -> pd.DataFrame:
    """Return the ``top`` concepts that best tell A from B on the discovery images alone.

    Only the rows where ``discovery`` is True are used (labels included), so whatever is proposed from
    them can be tested on the other rows. Concepts of a category nobody sees (``metadata``) are skipped,
    and only ``concepts`` are looked at (pass those that may be reported in the run). Concepts about equally
    strong are taken in the order a person names them (``Concept.priority``).

    Returns:
        A DataFrame with the columns of ``Result.findings`` that the prompt reads: ``concept``, ``phrase``,
        ``kind``, ``category``, ``direction`` ("a" when set A scores higher), ``auroc`` (in that direction,
        on discovery images) and ``text`` (a short sentence), strongest first.
    """
    labels = check_groups(groups)
    discovery = np.asarray(discovery, dtype=bool)
    if discovery.shape != labels.shape or len(labels) != len(scores):
        raise ValueError(f"need one group and one discovery flag per row of scores ({len(scores)}), got "
                         f"{len(labels)} and {discovery.size}")
    ids = [cid for cid in scores.columns
           if cid in concepts and concepts[cid].category not in _UNSEEN_CATEGORIES]
    values = scores[ids].to_numpy(dtype=np.float64)
    auc, _ = mann_whitney_matrix(values[discovery & (labels == "a")], values[discovery & (labels == "b")])
    strength = np.where(np.isfinite(auc), np.abs(auc - 0.5), -1.0)
    # About equally strong (one bin of the contract's STRENGTH_BIN) -> the concept a person names first.
    priority = np.array([concepts[cid].priority for cid in ids])
    order = np.lexsort((-strength, priority, -np.round(strength / STRENGTH_BIN)))
    order = [i for i in order[:top] if strength[i] > 0]
    records = []
    for i in order:
        concept = concepts[ids[i]]
        direction = "a" if auc[i] > 0.5 else "b"
        effect = float(auc[i] if direction == "a" else 1 - auc[i])
        records.append({"concept": concept.id, "phrase": concept.phrase, "kind": concept.kind,
                        "category": concept.category, "direction": direction, "auroc": effect,
                        "text": _finding_line(concept, direction, effect)})
    return pd.DataFrame.from_records(
        records, columns=["concept", "phrase", "kind", "category", "direction", "auroc", "text"])


def _finding_line(concept: Concept, direction: str, effect: float) -> str:
    return f"{claim(concept, direction)} (AUROC {effect:.2f})"


def a_likeness(scores: pd.DataFrame, findings: pd.DataFrame, rows: np.ndarray | None = None) -> np.ndarray:
    """Return how A-like each image (row of ``scores``) is by the given findings.

    Each finding's scores are standardised by their median and MAD over ``rows`` (a bool mask, default all;
    pass the discovery mask), signed by the finding's ``direction`` and averaged, NaN counting 0. Any other
    per-image score (e.g. a classifier's out-of-fold A-probability) can take its place in ``most_typical``.

    Returns:
        float64, one value per row of ``scores``: higher is more like set A.
    """
    rows = np.ones(len(scores), dtype=bool) if rows is None else np.asarray(rows, dtype=bool)
    total = np.zeros(len(scores))
    used = 0
    for concept, direction in zip(findings["concept"], findings["direction"], strict=True):
        if concept not in scores.columns:
            continue
        values = scores[concept].to_numpy(dtype=np.float64)
        z = _robust_z(values, values[rows])
        total += np.nan_to_num(z if direction == "a" else -z)
        used += 1
    return total / max(used, 1)


def most_typical(
    likeness: np.ndarray,
    groups: Sequence[str] | np.ndarray,
    rows: np.ndarray | None = None,
    n: int = N_TYPICAL,
) -> tuple[np.ndarray, np.ndarray]:
    """Return the ``n`` most A-like set-A images and the ``n`` most B-like set-B images.

    ``likeness`` is any "A-likeness" per image (``a_likeness``, a classifier's out-of-fold score); only
    images where ``rows`` is True are candidates (pass the discovery mask). NaN never counts as typical.

    Returns:
        ``(a_rows, b_rows)``: integer row indices, most typical first.
    """
    labels = check_groups(groups)
    likeness = np.asarray(likeness, dtype=np.float64)
    if likeness.shape != labels.shape:
        raise ValueError(f"need one likeness per image ({len(labels)}), got shape {likeness.shape}")
    rows = np.ones(len(labels), dtype=bool) if rows is None else np.asarray(rows, dtype=bool)
    usable = rows & np.isfinite(likeness)
    a_rows = np.flatnonzero(usable & (labels == "a"))
    b_rows = np.flatnonzero(usable & (labels == "b"))
    a_rows = a_rows[np.argsort(-likeness[a_rows], kind="stable")][:n]
    b_rows = b_rows[np.argsort(likeness[b_rows], kind="stable")][:n]
    return a_rows, b_rows


def describe_image(
    scores: pd.DataFrame,
    row: int,
    concepts: Mapping[str, Concept],
    *,
    reference: np.ndarray | None = None,
    max_presence: int = 5,
    max_magnitude: int = 3,
) -> str:
    """Return a short description of one image (row ``row`` of ``scores``) from its concept scores.

    It names what the image shows (presence concepts at or above their threshold; the rarest among the
    ``reference`` images first, so "contain a dog" comes before what nearly every image shows, specific
    concepts before their more general parents) and what stands out in it (magnitudes at least
    ``NOTABLE_Z`` robust standard deviations from the ``reference`` images' median, furthest first, with
    the values, unless the value and the median read the same once formatted; an image-text model's
    phrases only when the image matches them unusually well).
    ``reference`` is a bool mask of the rows to compare with (default all; pass the
    discovery mask). Recorded metadata is left out: it is not seen.

    Returns:
        One line, e.g. ``"shows: contain a dog, contain grass; stands out: darker (brightness 0.21 vs
        median 0.48)"``, or ``"nothing stands out"``.
    """
    reference = np.ones(len(scores), dtype=bool) if reference is None else np.asarray(reference, dtype=bool)
    image = scores.iloc[row]
    parents = {p for c in concepts.values() for p in c.parents}
    shown, notable = [], []
    for cid, value in image.items():
        concept = concepts.get(cid)
        if concept is None or concept.category in _UNSEEN_CATEGORIES or not np.isfinite(value):
            continue
        column = scores[cid].to_numpy(dtype=np.float64)[reference]
        column = column[np.isfinite(column)]
        if concept.kind == "presence":
            if value >= concept.threshold:
                share = float(np.mean(column >= concept.threshold)) if column.size else 1.0
                shown.append((cid in parents, share, -float(value), concept.phrase))
            continue
        if column.size < 2:
            continue
        median = float(np.median(column))
        z = float(_robust_z(np.array([value]), column)[0])
        if concept.category == "phrase":  # an image-text similarity: only a close match says something
            if np.isfinite(z) and z >= NOTABLE_Z:
                notable.append((-z, f"\u201c{concept.phrase}\u201d (image-text similarity {value:.3g} vs "
                                    f"median {median:.3g})"))
            continue
        if not (np.isfinite(z) and abs(z) >= NOTABLE_Z):
            continue
        shown_value = format_value(float(value), concept.unit)
        shown_median = format_value(median, concept.unit)
        # A column mostly at one value (a count of spots, an area share) has a tiny spread, so a trace reads
        # far from its median; when the two read the same ("0% vs median 0%") nothing stands out.
        if shown_value != shown_median:
            word = concept.more if z > 0 else concept.less
            word = word or f"{'high' if z > 0 else 'low'} {concept.phrase}"
            notable.append((-abs(z), f"{word} ({concept.phrase} {shown_value} vs median {shown_median})"))
    parts = []
    if shown:
        parts.append("shows: " + ", ".join(p for *_, p in sorted(shown)[:max_presence]))
    if notable:
        parts.append("stands out: " + ", ".join(text for _, text in sorted(notable)[:max_magnitude]))
    return "; ".join(parts) if parts else "nothing stands out"


def _robust_z(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``(values - median) / (1.4826 MAD)`` of the finite ``reference``; the standard deviation stands in
    for a MAD of 0 (a column mostly at one value); all NaN when the reference does not vary."""
    reference = reference[np.isfinite(reference)]
    if reference.size < 2:
        return np.full(values.shape, np.nan)
    median = np.median(reference)
    scale = 1.4826 * np.median(np.abs(reference - median))
    if not scale > 0:
        scale = float(np.std(reference))
    if not scale > 0:
        return np.full(values.shape, np.nan)
    return (values - median) / scale


# ---------------------------------------------------------------------------------------------------------
# The prompt and the answer


_SYSTEM = (
    "You help a scientist find how two sets of images differ. You propose hypotheses that will each be "
    "tested by software on held-out images, so every hypothesis must be a short noun phrase naming "
    "something visible in an image (an object, person, action, scene, attribute, style or photographic "
    "condition), e.g. \"people sitting cross-legged\" or \"snow on the ground\". No sentences, no "
    "explanations, no comparisons, and never the words 'set A' or 'set B'. Answer with JSON only."
)


def build_messages(
    findings: pd.DataFrame,
    a_like: Sequence[str],
    b_like: Sequence[str],
    *,
    n: int = DEFAULT_N,
    max_findings: int = MAX_FINDINGS,
) -> list[dict[str, str]]:
    """Return the chat messages (system, user) asking for ``n`` phrases.

    ``findings`` is a DataFrame with ``text`` (or ``phrase``, ``direction`` and ``auroc``) per finding,
    strongest first (``discovery_findings``, or ``Result.findings`` of images the proposals will not be
    tested on); ``a_like``/``b_like`` are descriptions of typical set-A / set-B images (``describe_image``).
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    lines = [
        f"Set A and set B are two sets of images. Propose {n} hypotheses: visual properties that images of "
        "one set show more often than images of the other, which the measurements below do not already "
        "name exactly. Look for what the measurements hint at (objects, people and what they do, scenes, "
        "styles) rather than repeating them.",
        "",
        "Strongest measured differences (on part of the images; AUROC 0.5 = none, 1 = complete):",
    ]
    shown = findings.head(max_findings)
    for row in shown.itertuples(index=False):
        text = getattr(row, "text", "") or (
            f"{getattr(row, 'phrase', '')}: higher in set {str(getattr(row, 'direction', 'a')).upper()} "
            f"(AUROC {float(getattr(row, 'auroc', float('nan'))):.2f})")
        lines.append(f"- {_quote(str(text))}")
    if not len(shown):
        lines.append("- (none measured)")
    for label, descriptions in (("A", a_like), ("B", b_like)):
        lines += ["", f"Most typical set-{label} images, as measured:"]
        items = [f"- image {label}{i}: {_quote(str(d), DESCRIPTION_CHARS)}"
                 for i, d in enumerate(descriptions, 1)]
        lines += items or ["- (none)"]
    lines += [
        "",
        'Reply with JSON only, exactly in this form: {"hypotheses": ["phrase 1", "phrase 2", ...]} '
        f"with {n} short noun phrases (at most {MAX_PHRASE_CHARS} characters each), most likely first.",
    ]
    return [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": "\n".join(lines)}]


def parse_hypotheses(text: str) -> list[str]:
    """Return the phrases in a model's reply, as written (``clean_phrases`` validates them).

    Tolerant of what models do: JSON anywhere in the text (``{"hypotheses": [...]}``, any key holding a
    list of strings, or a bare list), inside a fenced code block or not; else a bulleted or numbered
    list. Returns [] when the reply holds none (a refusal, prose).
    """
    text = text[:MAX_REPLY_CHARS]
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    for candidate in candidates:
        found = _json_phrases(candidate)
        if found is not None:
            return found
    items = []
    for line in text.splitlines():
        match = _LIST_ITEM.match(line)
        if match:
            items.append(match.group(1).strip().strip("*_`").strip())
    return items


def _json_phrases(text: str) -> list[str] | None:
    """Phrases from the first JSON object or array in ``text`` that holds a list of strings, else None."""
    decoder = json.JSONDecoder()
    starts = [i for i, ch in enumerate(text[:MAX_REPLY_CHARS]) if ch in "{["]
    for start in starts[:MAX_JSON_STARTS]:
        try:
            value, _ = decoder.raw_decode(text, start)
        except (json.JSONDecodeError, RecursionError):  # RecursionError: "[[[[..." nested too deep
            continue
        found = _strings_in(value)
        if found is not None:
            return found
    return None


def _strings_in(value: Any) -> list[str] | None:
    if isinstance(value, list):
        strings = [v for v in value if isinstance(v, str)]
        # A list of {"phrase": ...} objects is a common variant.
        strings += [str(v.get("phrase") or v.get("hypothesis") or v.get("text") or "") for v in value
                    if isinstance(v, dict)]
        return strings if any(s.strip() for s in strings) else None
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: str(k).lower() not in ("hypotheses", "phrases", "hypothesis"))
        for key in keys:
            found = _strings_in(value[key])
            if found is not None:
                return found
    return None


def clean_phrases(phrases: Iterable[str], *, existing: Iterable[str] = (), n: int | None = None) -> list[str]:
    """Return the usable phrases, in order: whitespace collapsed, wrapping quotes and a final full stop
    removed; dropped when empty, longer than ``MAX_PHRASE_CHARS``, holding a character a terminal would not
    print, naming a set ("set A"), or repeating (case-insensitive) an earlier phrase or one of ``existing``
    (the library's phrases); at most ``n``."""
    seen = {" ".join(str(e).lower().split()) for e in existing}
    kept: list[str] = []
    for phrase in phrases:
        if not isinstance(phrase, str):
            continue
        text = " ".join(phrase.split()).strip("\"'\u201c\u201d\u2018\u2019`").rstrip(".;,").strip()
        key = text.lower()
        if (not text or len(text) > MAX_PHRASE_CHARS or not text.isprintable() or _SET_NAMES.search(text)
                or key in seen):
            continue
        seen.add(key)
        kept.append(text)
        if n is not None and len(kept) >= n:
            break
    return kept


def propose_hypotheses(
    url: str | ChatClient,
    findings: pd.DataFrame,
    a_like: Sequence[str],
    b_like: Sequence[str],
    *,
    n: int = DEFAULT_N,
    existing: Iterable[str] = (),
    model: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    seed: int = 0,
) -> Proposals:
    """Ask the language model at ``url`` (or a ready ``ChatClient``) for ``n`` new hypotheses.

    ``findings``, ``a_like`` and ``b_like`` as in ``build_messages`` (from images the proposals will not be
    tested on); ``existing`` are phrases the library already tests (not proposed again); ``model``,
    ``timeout`` and ``seed`` as in ``ChatClient`` (ignored when a client is given).

    Returns:
        ``Proposals``: the validated phrases and an empty note; or, when the server is unreachable, slow,
        answers an error, something unparsable, or declines, no phrases and a one-line note saying what
        failed, at which URL and what to do. It never raises for what the server does.
    """
    messages = build_messages(findings, a_like, b_like, n=n)
    try:
        client = (url if isinstance(url, ChatClient)
                  else ChatClient(url, model=model, timeout=timeout, seed=seed))
        reply = client.chat(messages)
    except ProposerError as error:
        return Proposals(note=str(error))
    where = f"model {client.model!r} at {client.url}"
    raw = parse_hypotheses(reply)
    phrases = clean_phrases(raw, existing=existing, n=n)
    if phrases:
        return Proposals(phrases=phrases, model=client.model or "", raw=reply)
    if not raw and _REFUSAL.search(reply):
        note = (f"{where} declined to propose hypotheses ({_quote(reply)}); try another model with "
                "--llm-model")
    elif not raw:
        note = (f"{where} answered without a list of phrases ({_quote(reply)}); try a model that follows "
                "instructions (--llm-model)")
    else:
        note = (f"{where} proposed nothing usable: all {len(raw)} phrases were empty, too long, named a set "
                "or repeated existing concepts")
    return Proposals(note=note, model=client.model or "", raw=reply)


def propose_from_discovery(
    url: str | ChatClient,
    scores: pd.DataFrame,
    groups: Sequence[str] | np.ndarray,
    discovery: np.ndarray,
    concepts: Mapping[str, Concept],
    *,
    likeness: np.ndarray | None = None,
    n: int = DEFAULT_N,
    model: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    seed: int = 0,
) -> Proposals:
    """Propose hypotheses from the discovery images of a run: the whole proposer in one call.

    The ``MAX_FINDINGS`` strongest ``discovery_findings``, the ``N_TYPICAL`` most A-like set-A and most
    B-like set-B discovery images (by ``likeness``, default ``a_likeness`` of those findings) described by
    ``describe_image`` against the discovery images, and every phrase in ``concepts`` as ``existing``, go to
    ``propose_hypotheses``. Nothing of the other images (``discovery`` False) is read, so the proposals
    can be tested on them (``validate_proposals``).

    Returns:
        ``Proposals`` (never raises for what the server does; see ``propose_hypotheses``).
    """
    discovery = np.asarray(discovery, dtype=bool)
    findings = discovery_findings(scores, groups, discovery, concepts)
    if likeness is None:
        likeness = a_likeness(scores, findings, discovery)
    a_rows, b_rows = most_typical(likeness, groups, discovery)
    a_like = [describe_image(scores, i, concepts, reference=discovery) for i in a_rows]
    b_like = [describe_image(scores, i, concepts, reference=discovery) for i in b_rows]
    # A phrase concept's phrase is 'similarity to “X”'; its synonyms hold X itself, which must not come back.
    existing = [text for c in concepts.values() for text in (c.phrase, *c.synonyms)]
    return propose_hypotheses(url, findings, a_like, b_like, n=n, existing=existing, model=model,
                              timeout=timeout, seed=seed)


# ---------------------------------------------------------------------------------------------------------
# Without an image-text model: the nearest library concept


def match_proposals(
    phrases: Sequence[str],
    library: ConceptLibrary | Mapping[str, Concept] | Sequence[Concept],
    *,
    min_similarity: float = 0.0,
    encoder: TextEncoder | None = None,
    store: ScoreCache | None = None,
) -> list[tuple[str, str, float]]:
    """Return, for each phrase, the library concept nearest to it (``concepts.text_match.match_concepts``,
    the bundled sentence model; a ``ConceptLibrary``'s own encoder unless ``encoder`` is given).

    Returns:
        ``(phrase, concept_id, cosine_similarity)`` per phrase whose best similarity is at least
        ``min_similarity``, in the phrases' order.
    """
    from tellapart.concepts.text_match import TextEncoder, match_concepts

    if hasattr(library, "concepts") and isinstance(library.concepts, Mapping):
        encoder = encoder or library.text_encoder
        candidates = list(library.concepts.values())
    elif isinstance(library, Mapping):
        candidates = list(library.values())
    else:
        candidates = list(library)
    encoder = encoder or TextEncoder()  # one model load and one embedding of the concepts for all phrases
    matched = []
    for phrase in phrases:
        best = match_concepts(phrase, candidates, top_k=1, store=store, encoder=encoder)
        if best and best[0][1] >= min_similarity:
            matched.append((phrase, best[0][0].id, float(best[0][1])))
    return matched


# ---------------------------------------------------------------------------------------------------------
# Testing proposals on images that did not inspire them


def scale_q_values(tested: pd.DataFrame, share: float, alpha: float) -> pd.DataFrame:
    """Return a copy of a tested family (``stats.contract`` columns) corrected at ``alpha * share``, with its
    q-values stated on the run's ``alpha``: ``q / share`` (at most 1), ``significant`` = ``q < alpha``.

    A family tested at ``alpha * share`` rejects exactly where ``q < alpha * share``, i.e. where the scaled
    q is below ``alpha``; so families whose shares sum to 1 keep the run's error rate (union bound), and
    every q-value of the run reads against the same ``alpha``.
    """
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], got {share}")
    scaled = tested.copy()
    scaled["q_value"] = np.minimum(scaled["q_value"].to_numpy(dtype=np.float64) / share, 1.0)
    scaled["significant"] = scaled["q_value"] < alpha
    return scaled


def validate_proposals(
    scores: pd.DataFrame,
    groups: Sequence[str] | np.ndarray,
    validation: np.ndarray,
    concept_ids: Sequence[str],
    *,
    alpha: float = 0.05,
    share: float = PROPOSAL_ALPHA_SHARE,
    thresholds: Mapping[str, float] | None = None,
    priority: Mapping[str, int] | None = None,
) -> pd.DataFrame:
    """Test proposed hypotheses on the validation images, as a family of their own with ``share`` of alpha.

    ``concept_ids`` are columns of ``scores``: an image-text model's scores of the proposed phrases, or the
    library concepts they were matched to (``match_proposals``). Each one's direction is the one its
    discovery images show (rows where ``validation`` is False: the images the proposals were made from;
    two-sided when they show none); on the validation images it gets its AUROC, interval and one-sided
    rank-test p-value, Holm-corrected over ``concept_ids`` at ``alpha * share`` (``scale_q_values`` states
    the q-values on ``alpha``). Holm controls the family-wise error, so with the library's family tested at
    ``alpha * (1 - share)`` (max-T or Benjamini-Hochberg) the run's false findings stay within ``alpha``.

    Returns:
        The ``stats.contract`` table (one row per distinct id, ``discovery_auroc`` filled), with
        ``attrs``: ``n_screened``, ``n_discovery``, ``n_validation``, ``alpha_share``.
    """
    labels = check_groups(groups)
    validation = np.asarray(validation, dtype=bool)
    if validation.shape != labels.shape or len(labels) != len(scores):
        raise ValueError(f"need one group and one validation flag per row of scores ({len(scores)}), got "
                         f"{len(labels)} and {validation.size}")
    ids = list(dict.fromkeys(concept_ids))
    discovery = ~validation
    directions, shown = {}, {}
    missing = [cid for cid in ids if cid not in scores.columns]
    if missing:
        raise KeyError(f"proposed concept ids not in the score matrix: {missing}")
    for cid in ids:
        values = scores[cid].to_numpy(dtype=np.float64)
        a, b = values[discovery & (labels == "a")], values[discovery & (labels == "b")]
        a, b = a[np.isfinite(a)], b[np.isfinite(b)]
        effect = auroc(a, b) if a.size and b.size else float("nan")
        shown[cid] = effect
        if np.isfinite(effect) and effect != 0.5:
            directions[cid] = "a" if effect > 0.5 else "b"
    rows = np.flatnonzero(validation)
    tested = test_hypotheses_on_all(
        scores.iloc[rows], labels[rows], ids, alpha=alpha * share, directions=directions,
        thresholds=dict(thresholds or {}), correction="holm", priority=dict(priority or {}),
    )
    tested["discovery_auroc"] = [shown[cid] if d == "a" else 1 - shown[cid]
                                 for cid, d in zip(tested["concept"], tested["direction"], strict=True)]
    tested = scale_q_values(tested, share, alpha)
    tested.attrs.update(n_screened=len(ids), n_discovery=int(discovery.sum()), n_validation=len(rows),
                        alpha_share=share)
    return tested
