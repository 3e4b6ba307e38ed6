"""A real OpenAI-compatible chat server for tests, with a tiny deterministic language model behind it.

``LLMServer`` is a ``ThreadingHTTPServer`` on 127.0.0.1 (port 0: the system picks a free one) serving
``GET /v1/models`` and ``POST /v1/chat/completions`` with OpenAI's response schema. Its ``mode`` makes it
misbehave the ways real servers do (slow, HTTP 500, not JSON, no choices, an empty answer, a refusal,
a key required); every request it receives is kept in ``requests`` (path, headers, JSON body).

``TinyBigramModel`` reads the prompt and writes hypotheses from it: the words that describe the typical
set-A images more than the set-B ones, each extended by the word that most often follows it there (a
bigram model over the prompt's own text), and the measured findings' nouns in a template.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL_ID = "tiny-bigram-1"
# Words that carry no visual content in the prompt's descriptions and findings.
_STOP = frozenset("""
a an the and or of in on at to for with from by as is are be than vs set sets image images shows stands out
median more less often higher lower contain contains carry have has show look looks their its into
auroc none measured typical most one other part share number largest structure structures body
""".split())
_WORD = re.compile(r"[a-z][a-z'-]{2,}")


class TinyBigramModel:
    """A deterministic text generator whose output depends on the prompt's content."""

    def generate(self, messages: list[dict[str, str]]) -> list[str]:
        """Return hypotheses (phrases) written from the last user message."""
        prompt = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
        asked = re.search(r"Propose (\d+) hypotheses", prompt)
        n = int(asked.group(1)) if asked else 5
        sections = _sections(prompt)
        a_words = _words(sections.get("A", ""))
        b_words = set(_words(sections.get("B", "")))
        counts = Counter(w for w in a_words if w not in _STOP)
        bigrams = Counter(zip(a_words, a_words[1:], strict=False))
        order = {w: i for i, w in reversed(list(enumerate(a_words)))}
        distinctive = sorted((w for w in counts if w not in b_words), key=lambda w: (-counts[w], order[w]))
        phrases = []
        for word in distinctive:
            followers = [(c, -order.get(nxt, 0), nxt) for (first, nxt), c in bigrams.items()
                         if first == word and nxt not in _STOP]
            phrases.append(f"{word} {max(followers)[2]}" if followers else word)
        for finding in sections.get("findings", "").splitlines():
            nouns = [w for w in _words(finding) if w not in _STOP]
            if nouns:
                phrases.append(f"close-up of {nouns[-1]}")
        unique = list(dict.fromkeys(phrases))
        return unique[:n]


def _sections(prompt: str) -> dict[str, str]:
    """The prompt's findings list and its set-A and set-B image descriptions."""
    parts: dict[str, list[str]] = {}
    current = None
    for line in prompt.splitlines():
        if line.startswith("Strongest measured differences"):
            current = "findings"
        elif line.startswith("Most typical set-A"):
            current = "A"
        elif line.startswith("Most typical set-B"):
            current = "B"
        elif not line.startswith("- "):
            current = None
        elif current:
            parts.setdefault(current, []).append(line[2:])
    return {name: "\n".join(lines) for name, lines in parts.items()}


def _words(text: str) -> list[str]:
    # Drop the "image A1:" labels so they are not taken for content.
    return _WORD.findall(re.sub(r"image [AB]\d+:", " ", text).lower())


class LLMServer(ThreadingHTTPServer):
    """The server; start it with ``start()`` and stop it with ``stop()``.

    Attributes:
        mode: how it answers: "json" (the model's phrases as JSON), "fenced" (JSON in a code block after a
            sentence), "bullets" (a numbered list), "noisy" (the phrases plus duplicates, a long one, one
            naming a set, one with a control character), "slow" (sleeps ``delay`` s first), "error500",
            "not_json", "no_choices", "empty", "refuse", "nested" (100,000 open brackets), "cut_short"
            (hangs up mid-answer), "redirect" (307 elsewhere), "no_models" (no /v1/models), "needs_key"
            (401 without a Bearer key).
        delay: seconds the "slow" mode sleeps.
        requests: every request received: dicts with ``method``, ``path``, ``headers``, ``body``.
    """

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.model = TinyBigramModel()
        self.mode = "json"
        self.delay = 0.0
        self.requests: list[dict[str, Any]] = []
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The server's base URL, without ``/v1``."""
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> LLMServer:
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def handle_error(self, request, client_address) -> None:
        pass  # a client that gave up (the timeout test) closes its socket under a sleeping handler


class _Handler(BaseHTTPRequestHandler):
    server: LLMServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args) -> None:  # noqa: A002 (the base class's name)
        pass

    def _record(self, body: Any) -> None:
        self.server.requests.append({"method": self.command, "path": self.path,
                                     "headers": dict(self.headers.items()), "body": body})

    def _send(self, status: int, payload: Any, content_type: str = "application/json") -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self._record(None)
        if self.path.rstrip("/") != "/v1/models" or self.server.mode == "no_models":
            self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return
        self._send(200, {"object": "list", "data": [
            {"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "tests"},
            {"id": "tiny-other", "object": "model", "created": 0, "owned_by": "tests"},
        ]})

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length", 0))
        try:
            body = json.loads(self.rfile.read(length) or b"null")
        except json.JSONDecodeError:
            body = None
        self._record(body)
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send(404, {"error": {"message": f"no route {self.path}"}})
            return
        mode = self.server.mode
        if mode == "needs_key" and not self.headers.get("Authorization", "").startswith("Bearer "):
            self._send(401, {"error": {"message": "Incorrect API key provided",
                                       "type": "invalid_request_error", "code": "invalid_api_key"}})
            return
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            self._send(400, {"error": {"message": "'messages' is required", "type": "invalid_request_error"}})
            return
        if mode == "redirect":
            self.send_response(307)
            self.send_header("Location", "http://elsewhere.invalid/v1/chat/completions")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if mode == "slow":
            time.sleep(self.server.delay)
        if mode == "error500":
            self._send(500, {"error": {"message": "CUDA out of memory while loading the model",
                                       "type": "server_error", "code": 500}})
            return
        if mode == "not_json":
            self._send(200, b"<html><body>502 Bad Gateway</body></html>", "text/html")
            return
        if mode == "cut_short":  # promises more bytes than it sends, then hangs up
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b'{"id": "chatcmpl-')
            self.wfile.flush()
            self.close_connection = True
            return
        if mode == "no_choices":
            self._send(200, {"id": "chatcmpl-0", "object": "chat.completion", "created": 0,
                             "model": body.get("model")})
            return
        phrases = self.server.model.generate(body["messages"])
        content = {
            "json": lambda: json.dumps({"hypotheses": phrases}),
            "slow": lambda: json.dumps({"hypotheses": phrases}),
            "needs_key": lambda: json.dumps({"hypotheses": phrases}),
            "fenced": lambda: "Here are my hypotheses:\n```json\n" + json.dumps({"hypotheses": phrases},
                                                                                 indent=2) + "\n```\n",
            "bullets": lambda: "Hypotheses:\n" + "\n".join(f"{i}. {p}" for i, p in enumerate(phrases, 1)),
            "noisy": lambda: json.dumps({"hypotheses": [
                phrases[0], phrases[0].upper(), f"  {phrases[-1]}. ", "", "x" * 120, "set A has more dogs",
                "bad\x1b[31mred", *phrases[1:],
            ]}),
            "empty": lambda: "",
            "refuse": lambda: "I'm sorry, but I can't help with that request.",
            "nested": lambda: "[" * 100_000,
        }[mode]()
        self._send(200, {
            "id": "chatcmpl-tiny", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model"), "system_fingerprint": "tiny",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                         "logprobs": None, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": sum(len(str(m.get("content", "")).split()) for m in body["messages"]),
                      "completion_tokens": len(content.split()), "total_tokens": 0},
        })
