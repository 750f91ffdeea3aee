"""A real Celery worker makes the thumbnails batch after batch, and its progress reaches the admin.

The worker is a real ``celery worker`` process on Redis database 12 (flushed first), reading the
test database (``transaction=True``: it sees committed rows only) and writing under the test's
data folder.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.urls import reverse

from annotator.cleaning.tasks_thumbnails import thumbnails_enqueue
from annotator.cleaning.thumbnails import thumbnail_path
from tests.cleaning.support import images_make
from tests.worker import celery_worker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

WORKER_REDIS_DB = 12
IMAGES = 7


@pytest.fixture
def worker(transactional_db, tmp_path: Path, settings) -> Iterator[Path]:
    """A real worker writing under the test's data folder; yields its log file."""
    data_dir = tmp_path / "data"
    settings.DATA_DIR = data_dir
    log = tmp_path / "worker.log"
    with celery_worker(
        redis_db=WORKER_REDIS_DB, log=log, name="thumbnails-test", extra_env={"LABELLOOP_DATA_DIR": str(data_dir)}
    ) as url:
        settings.REDIS_URL = url  # the progress this process reads is the worker's
        yield log


def test_a_real_worker_makes_every_thumbnail_in_batches(worker, tmp_path, admin_client_):
    images = images_make(tmp_path / "src", IMAGES)
    thumbnails_enqueue(limit=3)  # 7 images: batches of 3, 3 and 1, each its own task
    deadline = time.monotonic() + 60
    progress = admin_client_.get(reverse("cleaning:api_thumbnails")).json()
    while progress["state"] != "done" and time.monotonic() < deadline:
        time.sleep(0.3)
        progress = admin_client_.get(reverse("cleaning:api_thumbnails")).json()
    assert progress["state"] == "done", (progress, worker.read_text(errors="replace")[-2000:])
    assert (progress["done"], progress["total"], progress["made"], progress["failed"]) == (IMAGES, IMAGES, IMAGES, 0)
    assert all(thumbnail_path(image.content_hash).is_file() for image in images)
    # three tasks, one per batch (the last one may still be writing its "succeeded" line)
    log = worker.read_text(errors="replace")
    received = [line for line in log.splitlines() if "thumbnails_make[" in line and line.endswith("received")]
    assert len(received) == 3, log[-2000:]
