"""What the provider clients share: answers, errors, one HTTP POST, retries with backoff.

Errors say what the job does with them:

- ``ImageRefused``: the provider refused this image (Baidu 216xxx, a Google per-image
  error); recorded for the image, never retried, the job goes on.
- ``DailyLimitReached``: the provider's daily quota is spent (Baidu 17); the provider is
  paused until the next day and the job stops calling it.
- ``ProviderUnavailable``: no answer after the retries (timeouts, refused connections,
  server errors, a rate limit that did not lift); recorded for the image, a later job
  tries again.
- ``AuthFailed``: the credentials were refused (and a fresh token did not help); the job
  fails, since every further call would fail alike.

No message ever carries a URL's query string or a secret: they pass through ``redact``.
"""

from __future__ import annotations

import http.client
import json
import logging
import random
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from annotator.sources.config import ProviderConfig, redact

logger = logging.getLogger("annotator.sources.clients")

#: Longest wait between two tries, whatever the backoff says (seconds).
BACKOFF_CAP = 60.0


@dataclass(frozen=True)
class LabelHit:
    """One keyword (or MID) with its score. ``external_id`` is what the mapping matches."""

    external_id: str
    name: str
    score: float


@dataclass
class ProviderAnswer:
    hits: list[LabelHit]
    body: dict[str, Any]
    attempts: int = 1


@dataclass
class ProviderError(Exception):
    message: str
    code: str = ""
    attempts: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.code else self.message


class ImageRefused(ProviderError):  # noqa: N818 - named for what happened
    pass


class DailyLimitReached(ProviderError):  # noqa: N818 - named for what happened
    pass


class ProviderUnavailable(ProviderError):  # noqa: N818 - named for what happened
    pass


class AuthFailed(ProviderError):  # noqa: N818 - named for what happened
    pass


class Retry(Exception):  # noqa: N818 - a signal, not an error the caller sees
    """Raised inside an attempt: try again after a backoff (``rate`` or ``transient``)."""

    def __init__(self, kind: str, code: str, message: str) -> None:
        super().__init__(message)
        self.kind, self.code, self.message = kind, code, message


class RateLimiter(Protocol):
    def acquire(self) -> None: ...


class NoLimit:
    def acquire(self) -> None:
        return None


def http_post(
    url: str, *, data: bytes, content_type: str, timeout: float, secrets: tuple[str, ...] = ()
) -> tuple[int, dict[str, Any]]:
    """POST ``data``; returns (HTTP status, JSON body). Network trouble raises ``Retry``.

    urllib's exceptions are never chained (``from None``): they may carry the full URL,
    query string (token, key) included.

    An HTTP error status is returned like any other (the caller reads the body); a body
    that is not JSON counts as a transient failure.
    """
    request = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - base URL from settings
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except TimeoutError:
        raise Retry("transient", "timeout", f"no answer within {timeout:g} s") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        code = "timeout" if isinstance(reason, TimeoutError | socket.timeout) else "connection"
        raise Retry("transient", code, redact(f"connection failed: {reason}", secrets)) from None
    except (ConnectionError, OSError, http.client.HTTPException) as exc:
        raise Retry("transient", "connection", redact(f"connection failed: {exc}", secrets)) from None
    try:
        body = json.loads(raw.decode("utf-8")) if raw else {}
    except (UnicodeDecodeError, ValueError):
        if status >= 500:
            raise Retry("transient", f"http-{status}", f"server error HTTP {status}") from None
        raise Retry("transient", "bad-json", f"HTTP {status} with a body that is not JSON") from None
    if not isinstance(body, dict):
        raise Retry("transient", "bad-json", f"HTTP {status} with JSON that is not an object")
    return status, body


def with_retries(
    config: ProviderConfig,
    attempt: Callable[[int], ProviderAnswer],
    *,
    sleep: Callable[[float], None] = time.sleep,
    what: str = "call",
) -> ProviderAnswer:
    """Run ``attempt(n)`` until it answers; ``Retry`` waits base·2ⁿ (jittered, capped) and tries again.

    After ``config.max_retries`` retries the last ``Retry`` becomes ``ProviderUnavailable``.
    """
    tries = 0
    while True:
        tries += 1
        try:
            answer = attempt(tries)
        except Retry as exc:
            if tries > config.max_retries:
                raise ProviderUnavailable(
                    f"{exc.message} (gave up after {tries} tries)", code=exc.code, attempts=tries
                ) from None
            delay = min(BACKOFF_CAP, config.backoff_base * (2 ** (tries - 1)))
            delay *= 1 + random.random() * 0.25  # noqa: S311 - jitter, not security
            logger.info(
                "%s %s: %s (%s); try %d of %d in %.2f s",
                config.name,
                what,
                exc.kind,
                redact(exc.message, config.secrets),
                tries + 1,
                config.max_retries + 1,
                delay,
            )
            sleep(delay)
            continue
        except ProviderError as exc:
            exc.attempts = tries
            raise
        answer.attempts = tries
        return answer
