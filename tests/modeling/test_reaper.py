"""A running job whose worker stopped beating is failed; resume queues it again; beat runs the reaper."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from annotator.modeling.models import Job
from annotator.modeling.services import job_resume, jobs_reap
from tests.modeling.support import train_job

pytestmark = pytest.mark.django_db


def _running(job, beat_age: timedelta) -> None:
    Job.objects.filter(pk=job.pk).update(
        status="running", started_at=timezone.now() - beat_age, heartbeat_at=timezone.now() - beat_age
    )


def test_reading_the_job_fails_it_when_its_heartbeat_is_stale(bare_snapshot, admin_user, annotator_client, test_broker):
    lost = train_job(admin_user, bare_snapshot)
    alive = train_job(admin_user, bare_snapshot)
    _running(lost, timedelta(seconds=31))
    _running(alive, timedelta(seconds=5))
    body = annotator_client.get(reverse("modeling:api_job", args=[lost.id])).json()
    assert body["status"] == "failed" and "no heartbeat for 30 s" in body["error"]
    assert Job.objects.get(pk=alive.pk).status == "running"
    assert jobs_reap() == 0  # nothing left to reap


def test_resume_requeues_a_failed_or_cancelled_job_once(
    bare_snapshot, admin_user, admin_client_, test_broker, django_capture_on_commit_callbacks
):
    job = train_job(admin_user, bare_snapshot)
    _running(job, timedelta(minutes=5))
    jobs_reap()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client_.post(reverse("modeling:job_action", args=[job.id]), {"action": "resume"})
        again = admin_client_.post(reverse("modeling:api_job_resume", args=[job.id]))
    assert response.status_code == 302 and again.status_code == 409
    job.refresh_from_db()
    assert job.status == "queued" and job.error == "" and job.heartbeat_at is None
    assert test_broker.llen("gpu") == 1  # queued once, on the gpu queue
    assert not job_resume(job_id=job.id)  # a queued job is not resumed twice


def test_the_reaper_runs_from_beat_on_the_default_queue():
    entry = settings.CELERY_BEAT_SCHEDULE["modeling-jobs-reap"]
    assert entry["task"] == "annotator.modeling.tasks.jobs_reap" and entry["schedule"] <= 15
    from annotator import celery_app

    route = celery_app.amqp.router.route({}, "annotator.modeling.tasks.jobs_reap")
    assert route["queue"].name == "celery"  # the gpu worker is busy with the job itself
    for name in ("train_job_run", "predict_job_run", "ablate_job_run"):
        assert celery_app.amqp.router.route({}, f"annotator.modeling.tasks.{name}")["queue"].name == "gpu"
