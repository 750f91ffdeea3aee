"""A real Celery worker process for the source tests, on its own Redis database (13)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.worker import celery_worker

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


@contextmanager
def start_worker(tmp_path: Path, *, env: dict[str, str], name: str) -> Iterator[WorkerLog]:
    """A real worker on Redis database WORKER_REDIS_DB with the providers' settings in ``env``."""
    log = WorkerLog(tmp_path / "worker.log")
    with celery_worker(
        redis_db=WORKER_REDIS_DB,
        log=log.path,
        name=f"{name}-test",
        extra_env={"LABELLOOP_IMAGE_ROOTS": str(tmp_path), **env},
    ):
        yield log
