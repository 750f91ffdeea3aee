"""kill -9 of a real gpu-queue worker mid-training: the job is failed within a minute; resumed on a
new worker it continues from its last checkpoint and ends with the metrics of an uninterrupted run.

Real Celery worker processes (``--pool=solo``, queue ``gpu``) on Redis database 14, reading the
test database (``transaction=True``: they see committed rows only).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import redis
from django.test import Client
from django.urls import reverse

from annotator.modeling.models import Job, ModelVersion
from annotator.modeling.services import job_resume
from tests.modeling.support import demo_dataset, snapshot_make, train_job
from tests.worker import broker, redis_url_for, worker_kill, worker_start, worker_stop
from training import checkpoint as ckpt

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

WORKER_REDIS_DB = 14
EPOCHS = 6


def _wait(predicate, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _status(job_id: int) -> str:
    return Job.objects.values_list("status", flat=True).get(pk=job_id)


def test_a_killed_worker_fails_the_job_and_resume_reaches_the_uninterrupted_metrics(
    tmp_path: Path, runs_root, admin_user
):
    demo_dataset(tmp_path / "demo", images=120)
    snapshot = snapshot_make(tmp_path / "snapshot")
    url = redis_url_for(WORKER_REDIS_DB)
    redis.Redis.from_url(url).flushdb()
    log = tmp_path / "worker.log"
    admin = Client()
    admin.force_login(admin_user)

    first = worker_start(redis_url=url, queue="gpu", log=log, name="resume-a")
    try:
        with broker(url):
            job = train_job(admin_user, snapshot, epochs=EPOCHS)
        # Kill as soon as the first epoch's checkpoint is written (the second epoch has begun).
        _wait(lambda: Job.objects.get(pk=job.id).epoch >= 2, 120, "the second epoch")
        worker_kill(first)
        killed_at = time.monotonic()
        saved_epoch = ckpt.load_checkpoint(Path(job.run_dir) / "checkpoint.pt")["epoch"]
        assert 1 <= saved_epoch < EPOCHS
        assert _status(job.id) == "running"  # nobody told the database

        # Anyone reading the job (here: the job API, as the page polls it) sees it failed within a minute.
        _wait(
            lambda: admin.get(reverse("modeling:api_job", args=[job.id])).json()["status"] == "failed",
            60,
            "the lost worker's job to be failed",
            interval=1.0,
        )
        assert time.monotonic() - killed_at < 60
        assert "no heartbeat" in Job.objects.get(pk=job.id).error
        assert not ModelVersion.objects.exists()
    finally:
        worker_stop(first)

    second = worker_start(redis_url=url, queue="gpu", log=log, name="resume-b")
    try:
        with broker(url):
            assert job_resume(job_id=job.id)
            _wait(lambda: _status(job.id) in ("succeeded", "failed"), 240, "the resumed job", interval=0.5)
            job.refresh_from_db()
            assert job.status == "succeeded", job.error
            assert job.attempts == 2 and "resuming" in job.log_tail
            assert f"epoch {saved_epoch + 1}/{EPOCHS}" in job.log_tail and "epoch 1/" not in job.log_tail

            straight = train_job(admin_user, snapshot, epochs=EPOCHS)
            _wait(lambda: _status(straight.id) in ("succeeded", "failed"), 240, "the uninterrupted job", interval=0.5)
    finally:
        worker_stop(second)

    resumed_metrics = json.loads((Path(job.run_dir) / "metrics.json").read_text())
    straight_metrics = json.loads((Path(Job.objects.get(pk=straight.id).run_dir) / "metrics.json").read_text())
    assert resumed_metrics["mAP"] == straight_metrics["mAP"]
    assert {k: v["ap"] for k, v in resumed_metrics["labels"].items()} == {
        k: v["ap"] for k, v in straight_metrics["labels"].items()
    }
    versions = {v.job_id: v for v in ModelVersion.objects.all()}
    assert versions[job.id].map == versions[straight.id].map
