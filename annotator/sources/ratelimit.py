"""A per-provider token bucket in Redis, shared by every worker and process.

One Lua script refills and takes a token atomically by Redis's own clock, so workers on
different machines (and clocks) share one rate. The bucket holds at most one token: calls
are spaced 1/QPS apart and never come in a burst, which is what a provider's QPS limit
(Baidu counts per second) wants.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import redis
from django.conf import settings

# KEYS[1] the bucket; ARGV[1] tokens per second; ARGV[2] capacity.
# Returns 0 when a token was taken, else the milliseconds until one will be there.
_SCRIPT = """
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil then tokens = capacity; ts = now end
tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = math.ceil((1 - tokens) / rate * 1000)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate * 1000) + 60000)
return wait
"""


class RedisTokenBucket:
    """``acquire()`` blocks until the provider may be called again (at most ``qps`` a second)."""

    def __init__(
        self,
        provider: str,
        qps: float,
        *,
        client: redis.Redis | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if qps <= 0:
            raise ValueError("qps must be positive")
        self.key = f"labelloop:sources:{provider}:bucket"
        self.qps = qps
        self.capacity = 1.0
        self.client = client or redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)
        self.script = self.client.register_script(_SCRIPT)
        self.sleep = sleep
        self.waited = 0.0

    def acquire(self) -> None:
        while True:
            wait_ms = int(self.script(keys=[self.key], args=[self.qps, self.capacity]))
            if wait_ms <= 0:
                return
            self.waited += wait_ms / 1000
            self.sleep(wait_ms / 1000)
