"""Provider configuration, read from settings at call time (settings come from the environment).

Secrets (Baidu API key and secret key, Google API key) live only in settings, read by
``env_secret`` (``NAME`` or ``NAME_FILE``); they are never logged, stored or shown.
``redact`` scrubs them, and any credential-looking query parameter, from text that may
reach a log line, an exception message or a page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.conf import settings

BAIDU = "baidu"
GOOGLE = "google"
PROVIDERS = (BAIDU, GOOGLE)

_CREDENTIAL_PARAMS = re.compile(r"(?i)\b(access_token|client_secret|client_id|key|api_key)=([^&\s'\"<>]+)")
REDACTED = "[redacted]"


@dataclass(frozen=True)
class ProviderConfig:
    """What a client needs; ``secrets`` are kept out of ``repr`` and every message."""

    name: str
    base_url: str
    qps: float
    timeout: float
    max_retries: int
    backoff_base: float
    max_results: int
    api_key: str
    secret_key: str = ""

    def __repr__(self) -> str:
        return f"ProviderConfig(name={self.name!r}, base_url={self.base_url!r}, qps={self.qps})"

    @property
    def configured(self) -> bool:
        return bool(self.api_key and (self.secret_key or self.name != BAIDU))

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.api_key, self.secret_key) if s)


def provider_config(name: str) -> ProviderConfig:
    """The configuration of provider ``name`` ("baidu" or "google") from settings."""
    common = {
        "timeout": float(settings.SOURCES_TIMEOUT),
        "max_retries": int(settings.SOURCES_MAX_RETRIES),
        "backoff_base": float(settings.SOURCES_BACKOFF_BASE),
        "max_results": int(settings.SOURCES_MAX_RESULTS),
    }
    if name == BAIDU:
        return ProviderConfig(
            name=BAIDU,
            base_url=settings.BAIDU_BASE_URL.rstrip("/"),
            qps=float(settings.BAIDU_QPS),
            api_key=settings.BAIDU_API_KEY,
            secret_key=settings.BAIDU_SECRET_KEY,
            **common,  # type: ignore[arg-type]
        )
    if name == GOOGLE:
        return ProviderConfig(
            name=GOOGLE,
            base_url=settings.GOOGLE_VISION_BASE_URL.rstrip("/"),
            qps=float(settings.GOOGLE_VISION_QPS),
            api_key=settings.GOOGLE_VISION_API_KEY,
            **common,  # type: ignore[arg-type]
        )
    raise ValueError(f"unknown provider {name!r}")


def all_secrets() -> tuple[str, ...]:
    """Every configured provider secret (for redaction)."""
    return tuple(s for name in PROVIDERS for s in provider_config(name).secrets)


def redact(text: object, extra: tuple[str, ...] = ()) -> str:
    """``text`` with credential query parameters and every known secret replaced by [redacted]."""
    out = _CREDENTIAL_PARAMS.sub(lambda m: f"{m.group(1)}={REDACTED}", str(text))
    for secret in (*all_secrets(), *extra):
        if secret and len(secret) >= 4:
            out = out.replace(secret, REDACTED)
    return out
