"""A real Celery worker process for tests, on a Redis database of its own.

The worker is started as ``celery worker --pool=solo`` against the *test* database (the tests
that use it are transactional, so it sees committed rows), and this process's own task sends
are pointed at the same Redis database. Each package's tests use their own database number,
so no other test or developer queue is touched: 9 imports, 11 queue rerank, 12 thumbnails,
13 competitor sources, 14 modeling.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import redis
from django.conf import settings
from django.db import connection

from annotator import celery_app

REPO = Path(__file__).resolve().parent.parent
WORKER_START_TIMEOUT = 90


def redis_url_for(db: int) -> str:
    """The settings' Redis server with database number ``db``."""
    parts = urlsplit(settings.REDIS_URL)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, parts.fragment))


def database_url_of_the_tests() -> str:
    """The test database (pytest-django's, where live_server's rows are) as a DATABASE_URL."""
    db = connection.settings_dict
    auth = quote(db["USER"] or "", safe="") + (f":{quote(str(db['PASSWORD']), safe='')}" if db["PASSWORD"] else "")
    return f"postgresql://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{quote(db['NAME'], safe='')}"


@contextmanager
def broker(url: str) -> Iterator[None]:
    """Send this process's tasks to ``url`` for a while."""
    conf = celery_app.conf
    saved = conf.broker_url

    def reconnect() -> None:
        celery_app._pool = None
        celery_app.amqp._producer_pool = None

    conf.broker_url = url
    reconnect()
    try:
        yield
    finally:
        conf.broker_url = saved
        reconnect()


def worker_start(
    *, redis_url: str, queue: str, log: Path, name: str, extra_env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``celery worker -Q queue --pool=solo``; returns once it says it is ready."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url_of_the_tests(),
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url,
        "CELERY_RESULT_BACKEND": redis_url,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "DEBUG": "1",
        "SECRET_KEY": settings.SECRET_KEY,
        "LABELLOOP_DATA_DIR": str(settings.DATA_DIR),
        "PYTHONUNBUFFERED": "1",
        "OMP_NUM_THREADS": "1",
        **(extra_env or {}),
    }
    env.pop("SECRET_KEY_FILE", None)
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "annotator",
        "worker",
        "-Q",
        queue,
        "--pool=solo",
        "--concurrency=1",
        "-l",
        "info",
        "--without-mingle",
        "--without-gossip",
        "-n",
        f"{name}-{os.getpid()}@%h",
    ]
    start = log.stat().st_size if log.exists() else 0
    with log.open("ab") as out:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + WORKER_START_TIMEOUT
    while " ready." not in log.read_bytes()[start:].decode(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the Celery worker did not start:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)
    return process


def worker_stop(process: subprocess.Popen[bytes]) -> None:
    """Warm shutdown, then kill if it hangs."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def worker_kill(process: subprocess.Popen[bytes]) -> None:
    """kill -9: no shutdown, no cleanup, as a crashed machine or the OOM killer would."""
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


@contextmanager
def celery_worker(
    *, redis_db: int, log: Path, name: str, queue: str = "celery", extra_env: dict[str, str] | None = None
) -> Iterator[str]:
    """A worker on a flushed Redis database ``redis_db``, with this process's sends pointed at it.

    Yields the Redis URL; on exit the worker gets a warm shutdown and the database is flushed.
    """
    url = redis_url_for(redis_db)
    redis.Redis.from_url(url).flushdb()
    process = worker_start(redis_url=url, queue=queue, log=log, name=name, extra_env=extra_env)
    try:
        with broker(url):
            yield url
    finally:
        worker_stop(process)
        redis.Redis.from_url(url).flushdb()
