"""HTTP clients of the competitor providers (standard library only: urllib)."""

from annotator.sources.clients.base import (
    AuthFailed,
    DailyLimitReached,
    ImageRefused,
    LabelHit,
    ProviderAnswer,
    ProviderError,
    ProviderUnavailable,
)

__all__ = [
    "AuthFailed",
    "DailyLimitReached",
    "ImageRefused",
    "LabelHit",
    "ProviderAnswer",
    "ProviderError",
    "ProviderUnavailable",
]
