"""A real Celery worker process for the source tests, on its own Redis database (13)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from django.conf import settings

from tests.dataset.test_import_progress_browser import broker, database_url_of_the_tests

REPO = Path(__file__).resolve().parent.parent.parent
WORKER_REDIS_DB = 13
START_TIMEOUT = 60


@dataclass
class WorkerLog:
    path: Path

    def text(self) -> str:
        return self.path.read_text(errors="replace")

    def wait_for(self, needle: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while needle not in self.text():
            if time.monotonic() > deadline:
                pytest.fail(f"{needle!r} not in the worker log:\n{self.text()[-3000:]}")
            time.sleep(0.2)
        return self.text()


def worker_redis_url() -> str:
    parts = urlsplit(settings.REDIS_URL)
    return urlunsplit((parts.scheme, parts.netloc, f"/{WORKER_REDIS_DB}", parts.query, parts.fragment))


@contextmanager
def start_worker(tmp_path: Path, *, env: dict[str, str], name: str) -> Iterator[WorkerLog]:
    url = worker_redis_url()
    redis.Redis.from_url(url).flushdb()
    full_env = {
        **os.environ,
        "DATABASE_URL": database_url_of_the_tests(),
        "REDIS_URL": url,
        "CELERY_BROKER_URL": url,
        "CELERY_RESULT_BACKEND": url,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "DEBUG": "1",
        "SECRET_KEY": settings.SECRET_KEY,
        "LABELLOOP_IMAGE_ROOTS": str(tmp_path),
        "PYTHONUNBUFFERED": "1",
        **env,
    }
    full_env.pop("SECRET_KEY_FILE", None)
    log = WorkerLog(tmp_path / "worker.log")
    command = [
        sys.executable, "-m", "celery", "-A", "annotator", "worker", "-Q", "celery", "--pool=solo",
        "--concurrency=1", "-l", "info", "--without-mingle", "--without-gossip",
        "-n", f"{name}-test-{os.getpid()}@%h",
    ]  # fmt: skip
    with log.path.open("wb") as out:
        process = subprocess.Popen(command, cwd=REPO, env=full_env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while " ready." not in log.text():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Celery worker did not start:\n{log.text()[-3000:]}")
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
        redis.Redis.from_url(url).flushdb()
