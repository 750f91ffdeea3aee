"""Baidu image recognition, general objects and scenes (``advanced_general``).

Token: ``POST {base}/oauth/2.0/token?grant_type=client_credentials&client_id=<API key>
&client_secret=<secret key>`` → ``{"access_token", "expires_in"}``; cached (clients/tokens.py)
until shortly before it expires. Recognition: ``POST {base}/rest/2.0/image-classify/v2/
advanced_general?access_token=…`` with the form field ``image`` (base64) → ``{"log_id",
"result_num", "result": [{"keyword", "score", "root"}]}``. Errors arrive as HTTP 200 with
``{"error_code", "error_msg"}``:

- 110 (token invalid) / 111 (token expired): a new token is fetched once and the call
  repeated; a second refusal is ``AuthFailed``.
- 18 (QPS limit), 4 (cluster limit), 1/2/282000 (server trouble): back off and retry.
- 17 (daily limit), 19 (total limit): ``DailyLimitReached``.
- 216xxx (image empty, wrong format, wrong size, …): ``ImageRefused``.
- 6 / 14 / 100 and other credential errors: ``AuthFailed``.
"""

from __future__ import annotations

import base64
import logging
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from annotator.sources.clients import tokens
from annotator.sources.clients.base import (
    AuthFailed,
    DailyLimitReached,
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

logger = logging.getLogger("annotator.sources.clients")

TOKEN_PATH = "/oauth/2.0/token"
CLASSIFY_PATH = "/rest/2.0/image-classify/v2/advanced_general"
TOKEN_ERRORS = {110, 111}
RATE_ERRORS = {18, 4}
TRANSIENT_ERRORS = {1, 2, 282000}
DAILY_ERRORS = {17, 19}
AUTH_ERRORS = {6, 14, 100}


class BaiduClient:
    def __init__(
        self,
        config: ProviderConfig,
        *,
        limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not config.configured:
            raise AuthFailed("Baidu is not configured: set BAIDU_API_KEY and BAIDU_SECRET_KEY", code="config")
        self.config = config
        self.limiter = limiter or NoLimit()
        self.sleep = sleep
        self.cache_key = tokens.token_cache_key(provider=config.name, base_url=config.base_url, api_key=config.api_key)
        self.token_fetches = 0

    # --- token -----------------------------------------------------------------------------

    def access_token(self, *, fresh: bool = False) -> str:
        """The cached token, or a new one from the OAuth endpoint (``fresh`` skips the cache)."""
        if not fresh:
            cached = tokens.token_get(self.cache_key)
            if cached:
                return cached
        answer = with_retries(self.config, self._token_attempt, sleep=self.sleep, what="token")
        token = str(answer.body["access_token"])
        tokens.token_put(self.cache_key, token, lifetime=tokens.token_lifetime(int(answer.body["expires_in"])))
        self.token_fetches += 1
        logger.info("baidu: new access token, valid %s s", answer.body["expires_in"])
        return token

    def _token_attempt(self, attempt: int) -> ProviderAnswer:
        query = urllib.parse.urlencode(
            {
                "grant_type": "client_credentials",
                "client_id": self.config.api_key,
                "client_secret": self.config.secret_key,
            }
        )
        status, body = http_post(
            f"{self.config.base_url}{TOKEN_PATH}?{query}",
            data=b"",
            content_type="application/x-www-form-urlencoded",
            timeout=self.config.timeout,
            secrets=self.config.secrets,
        )
        if status >= 500 or status == 429:
            raise Retry("transient", f"http-{status}", f"token endpoint answered HTTP {status}")
        if "access_token" in body and "expires_in" in body:
            return ProviderAnswer(hits=[], body=body)
        description = body.get("error_description") or body.get("error") or f"HTTP {status}"
        raise AuthFailed(
            self._clean(f"Baidu refused the API key / secret key: {description}"), code=str(body.get("error", status))
        )

    # --- recognition -------------------------------------------------------------------------

    def classify(self, image: bytes) -> ProviderAnswer:
        """Keywords for ``image`` (raw file bytes). Raises the errors of clients/base.py."""
        form = urllib.parse.urlencode({"image": base64.b64encode(image).decode("ascii")}).encode("ascii")
        state = _CallState(token=self.access_token())

        def attempt(_: int) -> ProviderAnswer:
            self.limiter.acquire()
            status, body = http_post(
                f"{self.config.base_url}{CLASSIFY_PATH}?access_token={urllib.parse.quote(state.token)}",
                data=form,
                content_type="application/x-www-form-urlencoded",
                timeout=self.config.timeout,
                secrets=(*self.config.secrets, state.token),
            )
            if "error_code" not in body:
                if status >= 500 or status == 429:
                    raise Retry("transient", f"http-{status}", f"server answered HTTP {status}")
                return ProviderAnswer(hits=self._hits(body), body=body)
            code = _int(body.get("error_code"))
            message = self._clean(str(body.get("error_msg", "")), state.token)
            if code in TOKEN_ERRORS:
                if state.refreshed:
                    raise AuthFailed(f"a fresh access token was refused too: {message}", code=str(code))
                # Refresh once and try again at once (not counted as a retry).
                tokens.token_drop(self.cache_key, state.token)
                state.token, state.refreshed = self.access_token(fresh=True), True
                logger.info("baidu: error %s (%s), token refreshed", code, message)
                return attempt(0)
            if code in RATE_ERRORS:
                raise Retry("rate", str(code), message or "QPS limit reached")
            if code in TRANSIENT_ERRORS:
                raise Retry("transient", str(code), message or "service unavailable")
            if code in DAILY_ERRORS:
                raise DailyLimitReached(message or "daily request limit reached", code=str(code))
            if code is not None and 216000 <= code < 217000:
                raise ImageRefused(message or "image refused", code=str(code))
            if code in AUTH_ERRORS:
                raise AuthFailed(message or "not allowed", code=str(code))
            raise ProviderError(message or "unknown error", code=str(code))

        return with_retries(self.config, attempt, sleep=self.sleep, what="advanced_general")

    @staticmethod
    def _hits(body: dict[str, Any]) -> list[LabelHit]:
        hits: dict[str, LabelHit] = {}
        for item in body.get("result") or []:
            keyword = str(item.get("keyword", "")).strip()[:200]
            if not keyword:
                continue
            try:
                score = float(item.get("score", 0.0))
            except (TypeError, ValueError):
                continue
            if keyword not in hits or hits[keyword].score < score:
                hits[keyword] = LabelHit(external_id=keyword, name=keyword, score=score)
        return list(hits.values())

    def _clean(self, text: str, token: str = "") -> str:
        return redact(text, (*self.config.secrets, token))[:450]


@dataclass
class _CallState:
    token: str
    refreshed: bool = False


def _int(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None
