"""A real Celery worker makes the thumbnails batch after batch, and its progress reaches the admin.

The worker is a real ``celery worker`` process on Redis database 12 (flushed first), reading the
test database (``transaction=True``: it sees committed rows only) and writing under the test's
data folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from django.conf import settings as django_settings
from django.urls import reverse

from annotator.cleaning.tasks_thumbnails import thumbnails_enqueue
from annotator.cleaning.thumbnails import thumbnail_path
from tests.cleaning.support import images_make
from tests.dataset.test_import_progress_browser import broker, database_url_of_the_tests

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

REPO = Path(__file__).resolve().parent.parent.parent
WORKER_REDIS_DB = 12
IMAGES = 7


def worker_redis_url() -> str:
    parts = urlsplit(django_settings.REDIS_URL)
    return urlunsplit((parts.scheme, parts.netloc, f"/{WORKER_REDIS_DB}", parts.query, parts.fragment))


@pytest.fixture
def worker(transactional_db, tmp_path: Path, settings) -> Iterator[Path]:
    url = worker_redis_url()
    redis.Redis.from_url(url).flushdb()
    data_dir = tmp_path / "data"
    settings.DATA_DIR = data_dir
    settings.REDIS_URL = url  # the progress this process reads is the worker's
    env = {
        **os.environ,
        "DATABASE_URL": database_url_of_the_tests(),
        "REDIS_URL": url,
        "CELERY_BROKER_URL": url,
        "CELERY_RESULT_BACKEND": url,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "LABELLOOP_DATA_DIR": str(data_dir),
        "DEBUG": "1",
        "SECRET_KEY": settings.SECRET_KEY,
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("SECRET_KEY_FILE", None)
    log = tmp_path / "worker.log"
    command = [
        sys.executable, "-m", "celery", "-A", "annotator", "worker", "-Q", "celery", "--pool=solo",
        "--concurrency=1", "-l", "info", "--without-mingle", "--without-gossip",
        "-n", f"thumbnails-test-{os.getpid()}@%h",
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while " ready." not in log.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Celery worker did not start:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)
        with broker(url):
            yield log
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


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
