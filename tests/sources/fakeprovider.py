"""A provider-compatible HTTP server on loopback that speaks Baidu's and Google Vision's APIs.

It runs in a thread of the test process (``http.server`` on 127.0.0.1, a free port) and
behaves like the real services as far as LabelLoop relies on them:

- ``POST /oauth/2.0/token?grant_type=client_credentials&client_id=…&client_secret=…``
  issues a new access token (``expires_in`` = ``token_ttl``) for the right key pair, else
  HTTP 401 ``{"error": "invalid_client"}``.
- ``POST /rest/2.0/image-classify/v2/advanced_general?access_token=…`` with the form
  field ``image`` (base64): error 110 for an unknown or revoked token, 111 for an expired
  one, 216200 for an empty image, 216201 for bytes that are not an image; otherwise the
  keywords registered for the image (by its SHA-256), or the default answer.
- ``POST /v1/images:annotate?key=…``: HTTP 400 "API key not valid" for a wrong key, else
  ``labelAnnotations`` registered for the image.

Tests script trouble with ``fail_next(api, *faults)`` (consumed in order, one per call):
``{"error_code": 18}`` (a Baidu error body), ``{"http": 429}`` (an HTTP status with a
Google-style error body), ``{"google_error": (3, "Bad image data.")}`` (a per-image error),
``{"sleep": seconds}`` (answer late, past the client's timeout), ``{"drop": True}`` (close
the connection without answering). ``image_faults[sha256] = fault`` applies to every call
for that image. ``calls`` counts recognition calls per (api, image sha256); ``token_calls``
counts issued tokens; ``requests`` keeps (api, time) of every call.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

BAIDU = "baidu"
GOOGLE = "google"
TOKEN = "token"

BAIDU_ERRORS = {
    17: "Open api daily request limit reached",
    18: "Open api qps request limit reached",
    110: "Access token invalid or no longer valid",
    111: "Access token expired",
    216200: "empty image",
    216201: "image format error",
    216202: "image size error",
}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class FakeProvider:
    baidu_api_key: str = "fake-baidu-api-key-0001"
    baidu_secret_key: str = "fake-baidu-secret-key-0002"
    google_api_key: str = "fake-google-api-key-0003"
    token_ttl: int = 2_592_000
    baidu_answers: dict[str, list[tuple[str, float, str]]] = field(default_factory=dict)
    google_answers: dict[str, list[tuple[str, str, float]]] = field(default_factory=dict)
    baidu_default: list[tuple[str, float, str]] = field(default_factory=lambda: [("图片", 0.5, "非自然图像-其他")])
    google_default: list[tuple[str, str, float]] = field(default_factory=list)
    image_faults: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    token_calls: int = 0
    requests: list[tuple[str, float]] = field(default_factory=list)
    raw_queries: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._faults: dict[str, deque[dict[str, Any]]] = {BAIDU: deque(), GOOGLE: deque(), TOKEN: deque()}
        self._tokens: dict[str, float] = {}  # token -> expiry (time.time())
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._counter = 0

    # --- control -----------------------------------------------------------------------------

    def start(self) -> FakeProvider:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                provider._handle(self)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-provider", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def fail_next(self, api: str, *faults: dict[str, Any]) -> None:
        with self._lock:
            self._faults[api].extend(faults)

    def revoke_tokens(self) -> None:
        """Every issued token becomes invalid (Baidu answers 110)."""
        with self._lock:
            self._tokens = {token: -1.0 for token in self._tokens}

    def expire_tokens(self) -> None:
        """Every issued token expires (Baidu answers 111)."""
        with self._lock:
            self._tokens = {token: 0.0 for token in self._tokens}

    @property
    def issued_tokens(self) -> list[str]:
        return list(self._tokens)

    def total_calls(self, api: str) -> int:
        return sum(n for (kind, _), n in self.calls.items() if kind == api)

    # --- the APIs -----------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        with self._lock:
            self.raw_queries.append(parts.query)
        if parts.path == "/oauth/2.0/token":
            self._token(handler, query)
        elif parts.path == "/rest/2.0/image-classify/v2/advanced_general":
            self._baidu(handler, query, body)
        elif parts.path == "/v1/images:annotate":
            self._google(handler, query, body)
        else:
            self._send(handler, 404, {"error": "not found"})

    def _fault(self, api: str, image_sha: str | None) -> dict[str, Any] | None:
        with self._lock:
            if self._faults[api]:
                return self._faults[api].popleft()
        if image_sha is not None:
            return self.image_faults.get(image_sha)
        return None

    def _apply_transport_fault(self, handler: BaseHTTPRequestHandler, fault: dict[str, Any] | None) -> bool:
        """Sleep or drop; True when the request is done for (dropped)."""
        if not fault:
            return False
        if "sleep" in fault:
            time.sleep(float(fault["sleep"]))
            return False
        if fault.get("drop"):
            handler.close_connection = True
            handler.connection.shutdown(2)
            return True
        return False

    def _token(self, handler: BaseHTTPRequestHandler, query: dict[str, str]) -> None:
        fault = self._fault(TOKEN, None)
        if self._apply_transport_fault(handler, fault):
            return
        if fault and "http" in fault:
            self._send(handler, int(fault["http"]), {"error": "server_error"})
            return
        if (
            query.get("grant_type") != "client_credentials"
            or query.get("client_id") != self.baidu_api_key
            or query.get("client_secret") != self.baidu_secret_key
        ):
            self._send(handler, 401, {"error": "invalid_client", "error_description": "unknown client id"})
            return
        with self._lock:
            self._counter += 1
            token = f"24.fake-access-token-{self._counter:04d}.{int(time.time())}"
            self._tokens[token] = time.time() + self.token_ttl
            self.token_calls += 1
        self._send(handler, 200, {"access_token": token, "expires_in": self.token_ttl, "scope": "public"})

    def _baidu(self, handler: BaseHTTPRequestHandler, query: dict[str, str], body: bytes) -> None:
        form = {k: v[0] for k, v in parse_qs(body.decode("ascii", "replace")).items()}
        try:
            image = base64.b64decode(form.get("image", ""), validate=True)
        except (binascii.Error, ValueError):
            image = b""
        image_sha = sha(image)
        with self._lock:
            self.calls[(BAIDU, image_sha)] += 1
            self.requests.append((BAIDU, time.monotonic()))
        token = query.get("access_token", "")
        with self._lock:
            expiry = self._tokens.get(token)
        if expiry is None or expiry < 0:
            self._baidu_error(handler, 110)
            return
        if expiry < time.time():
            self._baidu_error(handler, 111)
            return
        fault = self._fault(BAIDU, image_sha)
        if self._apply_transport_fault(handler, fault):
            return
        if fault and "error_code" in fault:
            self._baidu_error(handler, int(fault["error_code"]))
            return
        if fault and "http" in fault:
            self._send(handler, int(fault["http"]), {"error": "server error"})
            return
        if not image:
            self._baidu_error(handler, 216200)
            return
        if not image.startswith((b"\xff\xd8", b"\x89PNG", b"GIF8", b"BM")):
            self._baidu_error(handler, 216201)
            return
        answer = self.baidu_answers.get(image_sha, self.baidu_default)
        result = [{"keyword": k, "score": s, "root": r} for k, s, r in answer]
        self._send(handler, 200, {"log_id": 1000 + self._counter, "result_num": len(result), "result": result})

    def _baidu_error(self, handler: BaseHTTPRequestHandler, code: int) -> None:
        self._send(handler, 200, {"error_code": code, "error_msg": BAIDU_ERRORS.get(code, "error"), "log_id": 1})

    def _google(self, handler: BaseHTTPRequestHandler, query: dict[str, str], body: bytes) -> None:
        try:
            request = json.loads(body)["requests"][0]
            image = base64.b64decode(request["image"]["content"])
            max_results = int(request["features"][0].get("maxResults", 10))
        except (KeyError, IndexError, ValueError, TypeError):
            self._send(
                handler, 400, {"error": {"code": 400, "message": "Invalid JSON payload", "status": "INVALID_ARGUMENT"}}
            )
            return
        image_sha = sha(image)
        with self._lock:
            self.calls[(GOOGLE, image_sha)] += 1
            self.requests.append((GOOGLE, time.monotonic()))
        if query.get("key") != self.google_api_key:
            message = "API key not valid. Please pass a valid API key."
            self._send(handler, 400, {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}})
            return
        fault = self._fault(GOOGLE, image_sha)
        if self._apply_transport_fault(handler, fault):
            return
        if fault and "http" in fault:
            code = int(fault["http"])
            status = "RESOURCE_EXHAUSTED" if code == 429 else "UNAVAILABLE"
            self._send(handler, code, {"error": {"code": code, "message": "Quota exceeded", "status": status}})
            return
        if fault and "google_error" in fault:
            code, message = fault["google_error"]
            self._send(handler, 200, {"responses": [{"error": {"code": code, "message": message}}]})
            return
        answer = self.google_answers.get(image_sha, self.google_default)[:max_results]
        labels = [{"mid": m, "description": d, "score": s, "topicality": s} for m, d, s in answer]
        self._send(handler, 200, {"responses": [{"labelAnnotations": labels} if labels else {}]})

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json; charset=utf-8")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test): nothing to answer
