"""Fixtures of the modeling tests: run folders in tmp, the broker on a Redis database of our own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.modeling.support import demo_dataset, snapshot_make

#: Redis database of the modeling tests: the broker of this process and of their workers (one test at a time).
TEST_BROKER_DB = 14


@pytest.fixture
def runs_root(settings, tmp_path: Path) -> Path:
    settings.MODEL_RUNS_ROOT = tmp_path / "runs"
    settings.SNAPSHOT_ROOT = tmp_path / "snapshots"
    return settings.MODEL_RUNS_ROOT


@pytest.fixture
def test_broker() -> Iterator[redis.Redis]:
    """Tasks sent by this process go to a flushed Redis database; yields a client on it."""
    from tests.worker import broker, redis_url_for

    url = redis_url_for(TEST_BROKER_DB)
    client = redis.Redis.from_url(url)
    client.flushdb()
    with broker(url):
        yield client
    client.flushdb()


@pytest.fixture
def demo(db, tmp_path: Path, runs_root: Path):
    """80 demo images in the database and a snapshot of them."""
    demo_dataset(tmp_path / "demo", images=80)
    return snapshot_make(tmp_path / "snapshot")


@pytest.fixture
def bare_snapshot(db, tmp_path: Path):
    """A snapshot row of an empty dataset (enough for what is checked before a job is queued)."""
    from annotator.dataset.models import Snapshot

    return Snapshot.objects.create(
        path=str(tmp_path / "empty"),
        content_hash="0" * 64,
        image_count=0,
        label_count=0,
        positive_count=0,
        negative_count=0,
    )
