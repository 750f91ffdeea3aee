"""An admin retrains in Chromium while a real gpu-queue worker runs the job: the progress bar
moves without a reload, a new version appears with its metrics and a PR curve per label, the
page's threshold picking shows the server's numbers, and a re-predict from the version page
replaces the model evidence and queues the cleaning re-rank.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from pathlib import Path

import pytest
import redis
from django.urls import reverse

from annotator.dataset.models import Evidence
from annotator.modeling.models import Job, ModelVersion
from annotator.modeling.thresholds import pick
from tests.conftest import PASSWORD
from tests.modeling.support import TINY_YAML, demo_dataset, snapshot_make
from tests.worker import broker, redis_url_for, worker_start, worker_stop

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

WORKER_REDIS_DB = 14


#: The tiny settings, made slow enough (larger crops, small batches: ~100 steps) that the
#: training outlasts several of the page's once-a-second polls even on an idle machine.
BROWSER_YAML = TINY_YAML.replace("image_size: 32", "image_size: 128").replace("batch_size: 16", "batch_size: 4")


def _bar(page) -> float:
    return float(page.eval_on_selector("#job-progress progress", "bar => bar.value"))


def test_an_admin_retrains_and_repredicts_from_the_browser(live_server, page, tmp_path: Path, runs_root, admin_user):
    demo_dataset(tmp_path / "demo", images=120)
    snapshot = snapshot_make(tmp_path / "snapshot")
    url = redis_url_for(WORKER_REDIS_DB)
    queue = redis.Redis.from_url(url)
    queue.flushdb()
    worker = worker_start(redis_url=url, queue="gpu", log=tmp_path / "worker.log", name="browser")
    try:
        with broker(url):
            page.goto(f"{live_server.url}/login/")
            page.fill("#id_username", admin_user.username)
            page.fill("#id_password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{live_server.url}/")

            page.goto(f"{live_server.url}{reverse('modeling:versions')}")
            page.get_by_test_id("new-job").click()
            page.select_option("select[name=kind]", "train")
            page.select_option("select[name=snapshot]", str(snapshot.id))
            page.select_option("select[name=recipe]", "custom")
            page.fill("input[name=epochs]", "4")
            page.fill("textarea[name=custom_yaml]", BROWSER_YAML)
            # The first start in a web process imports torchvision to check the backbone name.
            page.get_by_role("button", name="Start job").click(timeout=120_000)
            page.wait_for_url(re.compile(r".*/models/jobs/\d+/$"), timeout=120_000)
            job = Job.objects.get()
            assert job.backbone == "tiny_cnn"  # the YAML wins over the form's default backbone

            # The bar follows the worker without a reload: seen between 0 and 100, then done.
            readings: list[float] = []
            deadline = time.monotonic() + 180
            while not page.get_by_test_id("job-result").count() and time.monotonic() < deadline:
                with contextlib.suppress(Exception):  # the page reloads once at the end
                    readings.append(_bar(page))
                time.sleep(0.1)
            assert page.get_by_test_id("job-result").count(), Job.objects.get(pk=job.id).error
            run = Job.objects.get(pk=job.id)
            assert any(0 < value < 100 for value in readings), (readings, run.finished_at - run.started_at)
            assert readings == sorted(readings)  # it only moves forward
            assert page.locator("[data-field=status]").inner_text() == "succeeded"
            assert page.locator("[data-field=device]").inner_text() == "cpu"
            assert "epoch 4/4" in page.get_by_test_id("job-log").inner_text()

            version = ModelVersion.objects.get()
            page.get_by_test_id("result-version").click()
            page.wait_for_selector("#thresholds[data-ready='1']")
            assert page.get_by_test_id("version-map").inner_text() == f"{version.map:.4f}"
            with_curves = [key for key, curve in version.pr_curves.items() if curve is not None]
            assert page.locator("svg.prcurve path.curve").count() == len(with_curves) > 0

            # Target precision 0.6 for all labels: the page shows what the server computes.
            page.fill("#all-target", "0.6")
            page.click("#all-apply")
            for key in with_curves[:5]:
                row = page.locator(f"tr[data-key='{key}']")
                expected = pick(version.pr_curves[key], {"mode": "precision", "target": 0.6})
                shown = row.locator("[data-field=pick-threshold]").inner_text()
                if expected["threshold"] is None:
                    assert shown == "not reachable"
                else:
                    assert shown == f"{expected['threshold']:.4f}"
                    assert row.locator("[data-field=pick-recall]").inner_text() == f"{expected['recall']:.3f}"

            page.fill("#profile-name", "store A")
            page.click("#profile-save-button")
            page.wait_for_selector("#profile-list li[data-name='store A'] a")
            assert version.profiles.get().name == "store A"

            page.get_by_test_id("repredict").click()
            page.wait_for_url(re.compile(r".*/models/jobs/\d+/$"))
            page.get_by_test_id("predict-counts").wait_for(timeout=180_000)
            predict = Job.objects.get(kind="predict")
            assert predict.status == "succeeded", predict.error
    finally:
        worker_stop(worker)

    version.source.refresh_from_db()
    assert version.source.refreshed_at is not None
    assert Evidence.objects.filter(source=version.source).count() == predict.results["rows"] > 0
    # The re-rank went to the default queue (the cleaning workers'), by name.
    messages = [json.loads(raw) for raw in queue.lrange("celery", 0, -1)]
    assert [m["headers"]["task"] for m in messages] == ["annotator.cleaning.tasks.queues_rerank"]
