"""Google Cloud Vision ``LABEL_DETECTION`` (``POST {base}/v1/images:annotate?key=…``).

Request ``{"requests": [{"image": {"content": base64}, "features": [{"type":
"LABEL_DETECTION", "maxResults": N}]}]}``; answer ``{"responses": [{"labelAnnotations":
[{"mid", "description", "score", "topicality"}]}]}`` or a per-image ``{"error": {"code",
"message"}}``. The ``mid`` is the Open Images class id, so it maps through the Open Images
mapping. What each error becomes:

- HTTP 429 or status / code RESOURCE_EXHAUSTED (8): back off and retry, like Baidu's 18.
- HTTP 5xx, UNAVAILABLE (14), INTERNAL (13), DEADLINE_EXCEEDED (4): retry.
- HTTP 400 naming the API key, 401, 403, PERMISSION_DENIED (7), UNAUTHENTICATED (16): ``AuthFailed``.
- a per-image error (e.g. INVALID_ARGUMENT 3 "Bad image data"), another HTTP 400: ``ImageRefused``.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from annotator.sources.clients.base import (
    AuthFailed,
    ImageRefused,
    LabelHit,
    NoLimit,
    ProviderAnswer,
    ProviderError,
    RateLimiter,
    Retry,
    http_post,
    with_retries,
)
from annotator.sources.config import ProviderConfig, redact

ANNOTATE_PATH = "/v1/images:annotate"
RATE_CODES = {8}
TRANSIENT_CODES = {4, 13, 14}
AUTH_CODES = {7, 16}


class GoogleVisionClient:
    def __init__(
        self,
        config: ProviderConfig,
        *,
        limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not config.configured:
            raise AuthFailed("Google Vision is not configured: set GOOGLE_VISION_API_KEY", code="config")
        self.config = config
        self.limiter = limiter or NoLimit()
        self.sleep = sleep

    def classify(self, image: bytes) -> ProviderAnswer:
        """Labels for ``image`` (raw file bytes). Raises the errors of clients/base.py."""
        payload = json.dumps(
            {
                "requests": [
                    {
                        "image": {"content": base64.b64encode(image).decode("ascii")},
                        "features": [{"type": "LABEL_DETECTION", "maxResults": self.config.max_results}],
                    }
                ]
            }
        ).encode("utf-8")
        url = f"{self.config.base_url}{ANNOTATE_PATH}?key={urllib.parse.quote(self.config.api_key)}"

        def attempt(_: int) -> ProviderAnswer:
            self.limiter.acquire()
            status, body = http_post(
                url,
                data=payload,
                content_type="application/json; charset=utf-8",
                timeout=self.config.timeout,
                secrets=self.config.secrets,
            )
            if status != 200:
                self._http_error(status, body)
            responses = body.get("responses") or [{}]
            first = responses[0] if isinstance(responses[0], dict) else {}
            error = first.get("error")
            if error:
                self._image_error(error)
            return ProviderAnswer(hits=self._hits(first), body=body)

        return with_retries(self.config, attempt, sleep=self.sleep, what="images:annotate")

    def _http_error(self, status: int, body: dict[str, Any]) -> None:
        found = body.get("error")
        error: dict[str, Any] = found if isinstance(found, dict) else {}
        state = str(error.get("status", ""))
        message = self._clean(str(error.get("message", "")) or f"HTTP {status}")
        if status == 429 or state == "RESOURCE_EXHAUSTED":
            raise Retry("rate", "429", message)
        if status >= 500:
            raise Retry("transient", f"http-{status}", message)
        if status in (401, 403) or state in ("PERMISSION_DENIED", "UNAUTHENTICATED") or "api key" in message.lower():
            raise AuthFailed(message, code=str(status))
        raise ImageRefused(message, code=state or str(status))

    def _image_error(self, error: dict[str, Any]) -> None:
        try:
            code = int(error.get("code", 0))
        except (TypeError, ValueError):
            code = 0
        message = self._clean(str(error.get("message", "")) or "error")
        if code in RATE_CODES:
            raise Retry("rate", str(code), message)
        if code in TRANSIENT_CODES:
            raise Retry("transient", str(code), message)
        if code in AUTH_CODES:
            raise AuthFailed(message, code=str(code))
        if code:
            raise ImageRefused(message, code=str(code))
        raise ProviderError(message, code="unknown")

    @staticmethod
    def _hits(response: dict[str, Any]) -> list[LabelHit]:
        hits: dict[str, LabelHit] = {}
        for item in response.get("labelAnnotations") or []:
            mid = str(item.get("mid") or "").strip()[:200]
            description = str(item.get("description") or "").strip()[:300]
            if not mid and not description:
                continue
            try:
                score = float(item.get("score", 0.0))
            except (TypeError, ValueError):
                continue
            key = mid or description
            if key not in hits or hits[key].score < score:
                hits[key] = LabelHit(external_id=key, name=description or mid, score=score)
        return list(hits.values())

    def _clean(self, text: str) -> str:
        return redact(text, self.config.secrets)[:450]
