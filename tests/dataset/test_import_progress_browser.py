"""An admin starts a CSV import in Chromium and watches a real Celery worker run it: the job
page follows it through static/js/import_progress.js to 100 % and the counts, with no reload
by hand.

The worker is a real ``celery worker`` process on a Redis database of its own, connected to
the *test* database (hence ``transaction=True``: it sees only committed rows). The test holds
the imports' advisory lock while the job starts, so the page is sure to find it unfinished
and must learn the outcome by polling.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.urls import reverse
from PIL import Image as PILImage

from annotator.dataset.importing.jobs import IMPORT_LOCK_KEY
from annotator.dataset.models import Image, ImageLabel, ImportJob
from annotator.taxonomy.models import Label
from tests.conftest import PASSWORD
from tests.worker import celery_worker, database_url_of_the_tests

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

IMAGES = 200
# The worker's own Redis database (flushed at start): no other test or developer queue is touched.
WORKER_REDIS_DB = 9


@pytest.fixture
def celery_worker_process(transactional_db, tmp_path: Path) -> Iterator[str]:
    """A real worker on the ``celery`` queue, solo pool, reading the test database."""
    with celery_worker(
        redis_db=WORKER_REDIS_DB,
        log=tmp_path / "worker.log",
        name="import-progress-test",
        extra_env={"LABELLOOP_IMAGE_ROOTS": str(tmp_path)},
    ) as url:
        yield url


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
