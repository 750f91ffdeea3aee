"""An admin starts a CSV import in Chromium and watches a real Celery worker run it: the job
page follows it through static/js/import_progress.js to 100 % and the counts, with no reload
by hand.

The worker is a real ``celery worker`` process on a Redis database of its own, connected to
the *test* database (hence ``transaction=True``: it sees only committed rows). The test holds
the imports' advisory lock while the job starts, so the page is sure to find it unfinished
and must learn the outcome by polling.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
import pytest
import redis
from django.conf import settings
from django.db import connection
from django.urls import reverse
from PIL import Image as PILImage

from annotator import celery_app
from annotator.dataset.importing.jobs import IMPORT_LOCK_KEY
from annotator.dataset.models import Image, ImageLabel, ImportJob
from annotator.taxonomy.models import Label
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

REPO = Path(__file__).resolve().parent.parent.parent
IMAGES = 200
# The worker's own Redis database (flushed at start): no other test or developer queue is touched.
WORKER_REDIS_DB = 9
WORKER_START_TIMEOUT = 60


def database_url_of_the_tests() -> str:
    """The test database (pytest-django's, where live_server's rows are) as a DATABASE_URL."""
    db = connection.settings_dict
    auth = quote(db["USER"] or "", safe="") + (f":{quote(str(db['PASSWORD']), safe='')}" if db["PASSWORD"] else "")
    return f"postgresql://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{quote(db['NAME'], safe='')}"


def worker_redis_url() -> str:
    parts = urlsplit(settings.REDIS_URL)
    return urlunsplit((parts.scheme, parts.netloc, f"/{WORKER_REDIS_DB}", parts.query, parts.fragment))


@contextmanager
def broker(url: str) -> Iterator[None]:
    """Send this process's tasks (the live server's on_commit enqueue) to ``url`` for a while."""
    conf = celery_app.conf
    saved = conf.broker_url

    def reconnect() -> None:
        # The producer pools are bound to the broker they were first made for.
        celery_app._pool = None
        celery_app.amqp._producer_pool = None

    conf.broker_url = url
    reconnect()
    try:
        yield
    finally:
        conf.broker_url = saved
        reconnect()


@pytest.fixture
def celery_worker_process(transactional_db, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A real worker on the ``celery`` queue, solo pool, reading the test database."""
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
        "LABELLOOP_IMAGE_ROOTS": str(tmp_path),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("SECRET_KEY_FILE", None)
    log = tmp_path / "worker.log"
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "annotator",
        "worker",
        "-Q",
        "celery",
        "--pool=solo",
        "--concurrency=1",
        "-l",
        "info",
        # Alone on its Redis database: no need to meet other workers (saves seconds at start).
        "--without-mingle",
        "--without-gossip",
        "-n",
        f"import-progress-test-{os.getpid()}@%h",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + WORKER_START_TIMEOUT
        while " ready." not in log.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Celery worker did not start:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)
        with broker(url):
            yield process
    finally:
        process.terminate()  # warm shutdown: a running task is finished first
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """IMAGES tiny JPEGs, each different (one bright pixel at its own place)."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for n in range(IMAGES):
        image = PILImage.new("RGB", (16, 16), (30, 60, 90))
        image.putpixel((n % 16, n // 16), (255, 255, 255))
        image.save(folder / f"{n:03d}.jpg", "JPEG", quality=90)
    return folder


def bar_value(page) -> float:
    return float(page.eval_on_selector("#import-progress progress", "bar => bar.value"))


def test_the_job_page_follows_a_real_import_to_the_end(
    live_server, page, celery_worker_process, photos, tmp_path, settings, admin_user
):
    settings.IMPORT_UPLOAD_ROOT = tmp_path / "uploads"
    settings.IMAGE_ROOTS = [tmp_path.resolve()]
    animal = Label.objects.create(key="animal", name_en="Animal")
    Label.objects.create(key="cat", name_en="Cat", parent=animal)
    Label.objects.create(key="dog", name_en="Dog", parent=animal)
    labels_csv = tmp_path / "labels.csv"
    rows = [f"{n:03d}.jpg,{'cat' if n % 2 else 'dog'}" for n in range(IMAGES)]
    labels_csv.write_text("\n".join(["image,labels", *rows]) + "\n", encoding="utf-8")

    polls: list[str] = []
    page.on("request", lambda request: polls.append(request.url) if "/dataset/api/imports/" in request.url else None)

    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", admin_user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")

    # Another import "runs": the worker takes the job but waits for the imports' lock.
    with psycopg.connect(database_url_of_the_tests(), autocommit=True) as other_import:
        other_import.execute("SELECT pg_advisory_lock(%s)", [IMPORT_LOCK_KEY])

        page.goto(f"{live_server.url}{reverse('dataset:imports')}")
        page.get_by_test_id("new-import").click()
        page.get_by_role("link", name="CSV").click()
        page.set_input_files("input[name=file]", str(labels_csv))
        page.fill("input[name=images_root]", str(photos))
        page.get_by_role("button", name="Start import").click()
        page.wait_for_url(re.compile(r".*/dataset/imports/\d+/$"))
        job = ImportJob.objects.get()
        assert page.url.endswith(reverse("dataset:import_detail", args=[job.id]))

        # The page polls and shows the worker's phase while the import waits.
        page.wait_for_function(
            "() => document.querySelector('[data-field=phase]').textContent === 'waiting for other imports'"
        )
        assert polls, "the phase arrived without the page polling the API"
        assert page.locator("[data-field=status]").inner_text() == "running"
        readings = [bar_value(page)]
        page.wait_for_timeout(1200)  # another poll or two: still waiting, nothing imported
        readings.append(bar_value(page))
        assert readings == [0.0, 0.0]
        assert not Image.objects.exists()

        other_import.execute("SELECT pg_advisory_unlock(%s)", [IMPORT_LOCK_KEY])

    # Once the job has finished, the script reloads the page once to show the counts.
    counts = page.get_by_test_id("import-counts")
    counts.wait_for(timeout=30_000)
    readings.append(bar_value(page))
    assert readings[-1] == 100.0 and readings[0] < readings[-1]
    assert page.locator("[data-field=status]").inner_text() == "succeeded"
    assert page.locator("[data-field=percent]").inner_text() == "100"
    assert re.search(rf"\(images_created\)\s+{IMAGES}\b", counts.inner_text())
    assert not page.get_by_test_id("import-error").count()

    job.refresh_from_db()
    assert (job.status, job.counts["images_created"], job.created_by_id) == ("succeeded", IMAGES, admin_user.id)
    assert job.heartbeat_at is not None
    assert Image.objects.count() == IMAGES
    assert ImageLabel.objects.filter(label__key="animal").count() == IMAGES  # the closure applied
