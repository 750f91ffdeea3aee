"""Test support for the competitor sources: start the fake provider and point LabelLoop at it.

Use from any test (the cleaning queue's end-to-end tile test too)::

    from tests.sources.support import fake_provider  # a pytest fixture: import it into the module

    def test_tiles(fake_provider, ...):
        fake_provider.baidu_answers[sha(image_bytes)] = [("猫", 0.93, "动物-猫")]
        ExternalLabelMapping.objects.create(source="baidu", external_id="猫", label=cat)
        fetch_now("baidu")  # Evidence(source competitor/baidu, keyword "猫", score 0.93)

``point_settings_at(settings, fake)`` does the pointing by hand; ``worker_env(fake)`` gives
the same as environment variables for a Celery worker process.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from django.conf import settings as django_settings
from PIL import Image as PILImage

from annotator.dataset.models import Image
from annotator.sources.clients.tokens import token_memory_clear
from tests.sources.fakeprovider import FakeProvider, sha

__all__ = ["FakeProvider", "fake_provider", "fetch_now", "make_images", "point_settings_at", "sha", "worker_env"]

#: Fast retries for tests: the clients still back off, just in milliseconds.
FAST = {
    "SOURCES_TIMEOUT": 0.5,
    "SOURCES_MAX_RETRIES": 3,
    "SOURCES_BACKOFF_BASE": 0.01,
    "BAIDU_QPS": 1000.0,
    "GOOGLE_VISION_QPS": 1000.0,
}


def point_settings_at(settings, fake: FakeProvider) -> None:
    """Point both providers at ``fake`` with its keys; forget cached tokens and buckets."""
    settings.BAIDU_BASE_URL = fake.url
    settings.BAIDU_API_KEY = fake.baidu_api_key
    settings.BAIDU_SECRET_KEY = fake.baidu_secret_key
    settings.GOOGLE_VISION_BASE_URL = fake.url
    settings.GOOGLE_VISION_API_KEY = fake.google_api_key
    for name, value in FAST.items():
        setattr(settings, name, value)
    sources_redis_clear()


def sources_redis_clear() -> None:
    """Forget every cached token and rate bucket (process memory and the app's Redis db)."""
    token_memory_clear()
    client = redis.Redis.from_url(django_settings.REDIS_URL)
    keys = list(client.scan_iter("labelloop:sources:*"))
    if keys:
        client.delete(*keys)


def worker_env(fake: FakeProvider) -> dict[str, str]:
    """The same configuration as environment variables (for a worker process)."""
    env = {
        "BAIDU_BASE_URL": fake.url,
        "BAIDU_API_KEY": fake.baidu_api_key,
        "BAIDU_SECRET_KEY": fake.baidu_secret_key,
        "GOOGLE_VISION_BASE_URL": fake.url,
        "GOOGLE_VISION_API_KEY": fake.google_api_key,
    }
    env.update({name: str(value) for name, value in FAST.items()})
    return env


@pytest.fixture
def fake_provider(settings) -> Iterator[FakeProvider]:
    """A running fake provider, with settings pointed at it."""
    fake = FakeProvider().start()
    point_settings_at(settings, fake)
    try:
        yield fake
    finally:
        fake.stop()
        sources_redis_clear()


def fetch_now(provider: str, *, label=None, refetch: bool = False):
    """Create a fetch job and run it to the end in this process (no worker); returns the job."""
    from annotator.sources import services

    job = services.fetch_job_create(provider=provider, label=label, refetch=refetch, user=None)
    while services.fetch_job_step(job_id=job.id).more:
        pass
    job.refresh_from_db()
    return job


def jpeg_bytes(n: int, size: int = 24) -> bytes:
    """A small JPEG, different for each ``n``."""
    picture = PILImage.new("RGB", (size, size), ((n * 37) % 256, (n * 91) % 256, (n * 13) % 256))
    picture.putpixel((n % size, (n // size) % size), (255, 255, 255))
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=95)
    return out.getvalue()


def make_images(folder: Path, count: int, *, start: int = 0) -> list[tuple[Image, bytes]]:
    """``count`` Image rows with real JPEG files under ``folder``; returns (image, file bytes)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for n in range(start, start + count):
        data = jpeg_bytes(n)
        path = folder / f"{n:04d}.jpg"
        path.write_bytes(data)
        image = Image.objects.create(
            content_hash=sha(data),
            storage_root=str(folder),
            relative_path=path.name,
            size_bytes=len(data),
            width=24,
            height=24,
        )
        out.append((image, data))
    return out
