"""The real Baidu and Google Vision clients against the fake provider on loopback."""

from __future__ import annotations

import socket

import pytest
import redis
from django.conf import settings as django_settings

from annotator.sources.clients import AuthFailed, DailyLimitReached, ImageRefused, ProviderUnavailable, tokens
from annotator.sources.clients.baidu import BaiduClient
from annotator.sources.clients.google import GoogleVisionClient
from annotator.sources.config import provider_config, redact
from tests.sources.fakeprovider import BAIDU, GOOGLE, TOKEN
from tests.sources.support import jpeg_bytes, sha

pytestmark = pytest.mark.django_db

IMAGE = jpeg_bytes(1)


def baidu(sleeps: list[float] | None = None) -> BaiduClient:
    return BaiduClient(provider_config("baidu"), sleep=(sleeps.append if sleeps is not None else lambda s: None))


def google(sleeps: list[float] | None = None) -> GoogleVisionClient:
    return GoogleVisionClient(
        provider_config("google"), sleep=(sleeps.append if sleeps is not None else lambda s: None)
    )


def test_baidu_answers_keywords_and_the_token_is_fetched_once_and_shared_through_redis(fake_provider):
    fake_provider.baidu_answers[sha(IMAGE)] = [("猫", 0.93, "动物-猫"), ("宠物", 0.6, "动物-宠物")]
    answer = baidu().classify(IMAGE)
    assert [(h.external_id, h.name, h.score) for h in answer.hits] == [("猫", "猫", 0.93), ("宠物", "宠物", 0.6)]
    assert answer.body["result"][0]["root"] == "动物-猫"
    baidu().classify(IMAGE)
    assert fake_provider.token_calls == 1

    # Another worker (empty process memory) takes the token from Redis, not the OAuth endpoint.
    tokens.token_memory_clear()
    client = baidu()
    client.classify(IMAGE)
    assert fake_provider.token_calls == 1 and client.token_fetches == 0
    # It is kept until shortly before it expires (an hour of its 30 days), never longer.
    ttl = redis.Redis.from_url(django_settings.REDIS_URL).ttl(client.cache_key)
    assert fake_provider.token_ttl - 3600 - 5 <= ttl <= fake_provider.token_ttl - 3600


def test_a_short_lived_token_is_cached_for_less_than_its_life(fake_provider):
    fake_provider.token_ttl = 100
    client = baidu()
    client.classify(IMAGE)
    assert redis.Redis.from_url(django_settings.REDIS_URL).ttl(client.cache_key) <= 90


@pytest.mark.parametrize(("spoil", "code"), [("revoke_tokens", 110), ("expire_tokens", 111)])
def test_error_110_or_111_refreshes_the_token_once_and_the_call_succeeds(fake_provider, spoil, code):
    client = baidu()
    client.classify(IMAGE)
    assert fake_provider.token_calls == 1
    getattr(fake_provider, spoil)()

    answer = client.classify(IMAGE)

    assert answer.hits and fake_provider.token_calls == 2
    assert fake_provider.calls[(BAIDU, sha(IMAGE))] == 3  # ok, refused (code), ok with the new token
    assert client.token_fetches == 2


def test_a_fresh_token_refused_again_is_an_auth_failure_not_a_loop(fake_provider):
    client = baidu()
    client.access_token()
    fake_provider.fail_next(BAIDU, {"error_code": 110}, {"error_code": 110}, {"error_code": 110})
    with pytest.raises(AuthFailed, match="fresh access token was refused"):
        client.classify(IMAGE)
    assert fake_provider.token_calls == 2  # refreshed exactly once
    assert fake_provider.calls[(BAIDU, sha(IMAGE))] == 2


def test_error_18_backs_off_exponentially_and_succeeds(fake_provider):
    fake_provider.fail_next(BAIDU, {"error_code": 18}, {"error_code": 18})
    sleeps: list[float] = []
    answer = baidu(sleeps).classify(IMAGE)
    assert answer.hits and answer.attempts == 3
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0] > 0
    assert fake_provider.calls[(BAIDU, sha(IMAGE))] == 3


def test_error_18_that_never_lifts_gives_up_after_the_bounded_retries(fake_provider, settings):
    fake_provider.fail_next(BAIDU, *[{"error_code": 18}] * 10)
    with pytest.raises(ProviderUnavailable) as caught:
        baidu().classify(IMAGE)
    assert caught.value.code == "18"
    assert fake_provider.calls[(BAIDU, sha(IMAGE))] == settings.SOURCES_MAX_RETRIES + 1


def test_error_17_is_the_daily_limit_and_is_not_retried(fake_provider):
    fake_provider.fail_next(BAIDU, {"error_code": 17})
    with pytest.raises(DailyLimitReached) as caught:
        baidu().classify(IMAGE)
    assert caught.value.code == "17" and "daily request limit" in caught.value.message
    assert fake_provider.calls[(BAIDU, sha(IMAGE))] == 1


def test_an_image_error_is_not_retried(fake_provider):
    with pytest.raises(ImageRefused) as caught:
        baidu().classify(b"this is not an image")
    assert caught.value.code == "216201"
    assert fake_provider.total_calls(BAIDU) == 1


def test_a_timeout_is_retried_with_backoff_and_then_succeeds(fake_provider, settings):
    fake_provider.fail_next(BAIDU, {"sleep": settings.SOURCES_TIMEOUT + 0.4})
    sleeps: list[float] = []
    answer = baidu(sleeps).classify(IMAGE)
    assert answer.hits and answer.attempts == 2 and len(sleeps) == 1


def test_a_dropped_connection_is_retried(fake_provider):
    fake_provider.fail_next(GOOGLE, {"drop": True})
    fake_provider.google_answers[sha(IMAGE)] = [("/m/01yrx", "Cat", 0.97)]
    assert google().classify(IMAGE).attempts == 2


def test_a_refused_connection_is_retried_then_reported_without_any_secret(fake_provider, settings):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    settings.BAIDU_BASE_URL = f"http://127.0.0.1:{closed_port}"
    sleeps: list[float] = []
    with pytest.raises(ProviderUnavailable) as caught:
        baidu(sleeps).classify(IMAGE)
    assert caught.value.code == "connection" and caught.value.attempts == settings.SOURCES_MAX_RETRIES + 1
    assert len(sleeps) == settings.SOURCES_MAX_RETRIES
    assert fake_provider.baidu_secret_key not in str(caught.value)
    assert fake_provider.baidu_api_key not in str(caught.value)


def test_wrong_baidu_keys_are_an_auth_failure_that_names_no_secret(fake_provider, settings):
    settings.BAIDU_SECRET_KEY = "wrong-secret-key-value"
    with pytest.raises(AuthFailed) as caught:
        baidu().classify(IMAGE)
    assert "unknown client id" in str(caught.value)
    assert "wrong-secret-key-value" not in str(caught.value) and fake_provider.baidu_api_key not in str(caught.value)
    assert fake_provider.total_calls(BAIDU) == 0


def test_the_token_endpoint_retries_server_errors(fake_provider):
    fake_provider.fail_next(TOKEN, {"http": 503})
    assert baidu().classify(IMAGE).hits
    assert fake_provider.token_calls == 1


def test_google_labels_with_mid_description_and_score(fake_provider):
    fake_provider.google_answers[sha(IMAGE)] = [("/m/01yrx", "Cat", 0.97), ("/m/0jbk", "Animal", 0.8)]
    answer = google().classify(IMAGE)
    assert [(h.external_id, h.name, h.score) for h in answer.hits] == [
        ("/m/01yrx", "Cat", 0.97),
        ("/m/0jbk", "Animal", 0.8),
    ]
    assert answer.body["responses"][0]["labelAnnotations"][0]["topicality"] == 0.97


def test_google_429_backs_off_and_succeeds(fake_provider):
    fake_provider.fail_next(GOOGLE, {"http": 429}, {"http": 429})
    sleeps: list[float] = []
    answer = google(sleeps).classify(IMAGE)
    assert answer.attempts == 3 and len(sleeps) == 2


def test_google_per_image_error_is_an_image_error(fake_provider):
    fake_provider.fail_next(GOOGLE, {"google_error": (3, "Bad image data.")})
    with pytest.raises(ImageRefused) as caught:
        google().classify(IMAGE)
    assert caught.value.code == "3" and "Bad image data" in caught.value.message
    assert fake_provider.total_calls(GOOGLE) == 1


def test_google_wrong_key_is_an_auth_failure_without_the_key(fake_provider, settings):
    settings.GOOGLE_VISION_API_KEY = "wrong-google-key-123"
    with pytest.raises(AuthFailed) as caught:
        google().classify(IMAGE)
    assert "API key not valid" in str(caught.value) and "wrong-google-key-123" not in str(caught.value)


def test_redact_removes_credentials_from_urls_and_known_secrets(fake_provider):
    text = (
        f"POST {fake_provider.url}/oauth/2.0/token?grant_type=client_credentials&client_id=abc&client_secret=s3cr3t "
        f"then /v1/images:annotate?key=k3y and access_token=24.abc.def; also {fake_provider.baidu_secret_key}"
    )
    clean = redact(text)
    for secret in ("abc", "s3cr3t", "k3y", "24.abc.def", fake_provider.baidu_secret_key):
        assert f"={secret}" not in clean
    assert fake_provider.baidu_secret_key not in clean
    assert "client_secret=[redacted]" in clean and "grant_type=client_credentials" in clean


def test_the_rate_limit_spaces_calls_across_clients(fake_provider, settings):
    """Two clients (as two workers) share one bucket in Redis: 6 calls at 10 QPS take ≥ 0.5 s."""
    from annotator.sources.ratelimit import RedisTokenBucket

    first = BaiduClient(provider_config("baidu"), limiter=RedisTokenBucket("baidu", 10))
    second = BaiduClient(provider_config("baidu"), limiter=RedisTokenBucket("baidu", 10))
    for n in range(3):
        first.classify(jpeg_bytes(10 + n))
        second.classify(jpeg_bytes(20 + n))
    times = [t for api, t in fake_provider.requests if api == BAIDU]
    assert len(times) == 6
    assert times[-1] - times[0] >= 0.45
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert min(gaps) >= 0.07
