"""A real Celery worker runs queues_rerank sent by its contract name, as other apps send it,
against the test database; sending it twice changes nothing the second time."""

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
from django.conf import settings

from annotator import celery_app
from annotator.cleaning.models import ReviewItem
from annotator.cleaning.ranking import Reason
from tests.cleaning.support import evidence, truth, world_make
from tests.dataset.test_import_progress_browser import broker, database_url_of_the_tests

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

REPO = Path(__file__).resolve().parent.parent.parent
# The worker's own Redis database (flushed at start): no other test or developer queue is touched.
WORKER_REDIS_DB = 11
WORKER_START_TIMEOUT = 60
TASK = "annotator.cleaning.tasks.queues_rerank"


def worker_redis_url() -> str:
    parts = urlsplit(settings.REDIS_URL)
    return urlunsplit((parts.scheme, parts.netloc, f"/{WORKER_REDIS_DB}", parts.query, parts.fragment))


@pytest.fixture
def rerank_worker(transactional_db, tmp_path: Path) -> Iterator[str]:
    url = worker_redis_url()
    redis.Redis.from_url(url).flushdb()
    env = {
        **os.environ,
        "DATABASE_URL": database_url_of_the_tests(),
        "REDIS_URL": url,
        "CELERY_BROKER_URL": url,
        "CELERY_RESULT_BACKEND": url,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "DEBUG": "1",
        "SECRET_KEY": settings.SECRET_KEY,
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("SECRET_KEY_FILE", None)
    log = tmp_path / "worker.log"
    command = [
        sys.executable, "-m", "celery", "-A", "annotator", "worker", "-Q", "celery", "--pool=solo",
        "--concurrency=1", "-l", "info", "--without-mingle", "--without-gossip",
        "-n", f"rerank-test-{os.getpid()}@%h",
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + WORKER_START_TIMEOUT
        while " ready." not in log.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Celery worker did not start:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)
        with broker(url):
            yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _run(kwargs: dict) -> dict:
    result = celery_app.send_task(TASK, kwargs=kwargs)
    return result.get(timeout=60)


def test_a_worker_reranks_by_task_name(rerank_worker, tmp_path):
    world = world_make(tmp_path / "images", images=4)
    cat = world.label("cat")
    truth(world.images[0], world.label("fold_eared_cat"), 1)
    evidence(world.images[1], cat, world.model, 0.9)
    evidence(world.images[2], cat, world.competitor, 0.7, keyword="猫")

    first = _run({"label_ids": [cat.pk]})
    assert first["created"] == 3
    items = {item.image_id: item for item in ReviewItem.objects.filter(label=cat)}
    assert set(items) == {world.images[i].pk for i in range(3)}
    assert items[world.images[0].pk].reasons & Reason.PARENT_MISSING

    again = _run({})  # every label, the way a new model version triggers it
    # Only the other labels' items are new: image 0 in the fold-eared cat and animal queues.
    assert again["created"] == 2 and again["updated"] == 0
    assert _run({})["created"] == 0
