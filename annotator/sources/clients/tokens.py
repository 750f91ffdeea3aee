"""Where the Baidu access token is cached: process memory, then Redis, with a TTL.

The token is a short-lived credential (about 30 days), so it is never written to the
database: it lives in this process's memory and in Redis under a key that expires
``TOKEN_REFRESH_MARGIN`` before the token does, so every worker shares one token and none
uses it near its end. The key names the provider and a hash of the base URL and API key
(never the key itself), so a changed key or server gets a new token.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from datetime import timedelta

import redis
from django.conf import settings

#: Refresh this long before the provider says the token expires (10 % of its life at most).
TOKEN_REFRESH_MARGIN = timedelta(hours=1)

_memory: dict[str, tuple[str, float]] = {}
_lock = threading.Lock()


def token_cache_key(*, provider: str, base_url: str, api_key: str) -> str:
    digest = hashlib.sha256(f"{base_url}\n{api_key}".encode()).hexdigest()[:16]
    return f"labelloop:sources:{provider}:token:{digest}"


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)


def token_lifetime(expires_in: int) -> int:
    """Seconds to keep a token that the provider says lives ``expires_in`` seconds."""
    margin = min(TOKEN_REFRESH_MARGIN.total_seconds(), expires_in * 0.1)
    return max(1, int(expires_in - margin))


def token_get(key: str) -> str | None:
    now = time.monotonic()
    with _lock:
        cached = _memory.get(key)
        if cached and cached[1] > now:
            return cached[0]
    try:
        raw = _redis().get(key)
        ttl = _redis().ttl(key) if raw else -2
    except redis.RedisError:
        return None
    if not raw or ttl <= 0:
        return None
    token = raw.decode() if isinstance(raw, bytes) else str(raw)
    with _lock:
        _memory[key] = (token, now + ttl)
    return token


def token_put(key: str, token: str, *, lifetime: int) -> None:
    with _lock:
        _memory[key] = (token, time.monotonic() + lifetime)
    # Without Redis, memory alone still spares this process a token per call.
    with contextlib.suppress(redis.RedisError):
        _redis().set(key, token, ex=lifetime)


def token_drop(key: str, token: str) -> None:
    """Forget ``token`` (the provider refused it); a newer token another worker stored stays."""
    with _lock:
        cached = _memory.get(key)
        if cached and cached[0] == token:
            del _memory[key]
    try:
        client = _redis()
        if client.get(key) in (token, token.encode()):
            client.delete(key)
    except redis.RedisError:
        pass


def token_memory_clear() -> None:
    """Forget every token held in this process (tests; a worker restart does the same)."""
    with _lock:
        _memory.clear()
