"""Re-running an import: failed jobs, and running ones whose worker was lost (no heartbeat
for IMPORT_STALE_AFTER), from the job page (admins, POST with CSRF) and the Django admin."""

from __future__ import annotations

import html
import re
import time
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from annotator.dataset import tasks
from annotator.dataset.importing.progress import JobProgressWriter
from annotator.dataset.models import IMPORT_STALE_AFTER, ImportJob
from annotator.dataset.tasks import import_job_requeue

LONG_AGO = IMPORT_STALE_AFTER + timedelta(minutes=1)


@pytest.fixture
def queued(monkeypatch) -> list[int]:
    """Job ids handed to the broker (nothing is sent anywhere)."""
    sent: list[int] = []
    monkeypatch.setattr(tasks.import_job_run, "delay", lambda job_id: sent.append(job_id))
    return sent


def running_job(*, silent_for: timedelta | None, started_for: timedelta = LONG_AGO) -> ImportJob:
    now = timezone.now()
    return ImportJob.objects.create(
        kind=ImportJob.Kind.CSV,
        status=ImportJob.Status.RUNNING,
        phase="images",
        progress_done=3,
        progress_total=9,
        started_at=now - started_for,
        heartbeat_at=now - silent_for if silent_for is not None else None,
    )


def page_text(response) -> str:
    return html.unescape(response.content.decode())


# --- the service ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_running_job_silent_for_too_long_is_queued_again(queued, django_capture_on_commit_callbacks):
    lost = running_job(silent_for=LONG_AGO)
    alive = running_job(silent_for=timedelta(seconds=5))
    old_without_heartbeat = running_job(silent_for=None)  # started before heartbeats existed
    just_started = running_job(silent_for=None, started_for=timedelta(seconds=5))

    with django_capture_on_commit_callbacks(execute=True):
        assert import_job_requeue(job_id=lost.id) is True
        assert import_job_requeue(job_id=lost.id) is False  # queued now: a second click does nothing
        assert import_job_requeue(job_id=alive.id) is False
        assert import_job_requeue(job_id=old_without_heartbeat.id) is True
        assert import_job_requeue(job_id=just_started.id) is False

    assert queued == [lost.id, old_without_heartbeat.id]
    lost.refresh_from_db()
    assert (lost.status, lost.phase, lost.progress_done, lost.started_at, lost.heartbeat_at) == (
        ImportJob.Status.QUEUED,
        "",
        0,
        None,
        None,
    )
    alive.refresh_from_db()
    assert alive.status == ImportJob.Status.RUNNING


@pytest.mark.django_db(transaction=True)
def test_the_progress_writer_keeps_the_heartbeat_going():
    job = ImportJob.objects.create(kind=ImportJob.Kind.CSV, status=ImportJob.Status.RUNNING)
    writer = JobProgressWriter(job.id, heartbeat_interval=0.05)
    try:
        writer("images", 1, 10)
        job.refresh_from_db()
        first = job.heartbeat_at
        assert first is not None and job.phase == "images"  # a progress write is a sign of life

        deadline = time.monotonic() + 5
        while job.heartbeat_at == first and time.monotonic() < deadline:
            time.sleep(0.05)  # no progress reported: the heartbeat goes on by itself
            job.refresh_from_db()
        assert job.heartbeat_at is not None and job.heartbeat_at > first
    finally:
        writer.close()
    assert not writer.heartbeat_running()


# --- the job page ----------------------------------------------------------------------------


def rerun_form(text: str) -> bool:
    return 'data-testid="import-rerun"' in text


@pytest.mark.django_db
def test_the_job_page_offers_a_rerun_for_failed_and_stalled_jobs_only(admin_client_):
    failed = ImportJob.objects.create(kind=ImportJob.Kind.CSV, status=ImportJob.Status.FAILED, error="x")
    lost = running_job(silent_for=LONG_AGO)
    alive = running_job(silent_for=timedelta(seconds=5))
    done = ImportJob.objects.create(kind=ImportJob.Kind.CSV, status=ImportJob.Status.SUCCEEDED)
    queued = ImportJob.objects.create(kind=ImportJob.Kind.CSV)

    def shows(job: ImportJob) -> bool:
        return rerun_form(page_text(admin_client_.get(reverse("dataset:import_detail", args=[job.id]))))

    assert shows(failed) and shows(lost)
    assert not shows(alive) and not shows(done) and not shows(queued)
    assert "no sign of life" in page_text(admin_client_.get(reverse("dataset:import_detail", args=[lost.id])))


@pytest.mark.django_db
def test_an_admin_reruns_a_failed_job_from_its_page_with_the_csrf_token(
    admin_user, queued, django_capture_on_commit_callbacks
):
    job = ImportJob.objects.create(kind=ImportJob.Kind.CSV, status=ImportJob.Status.FAILED, error="boom")
    url = reverse("dataset:import_detail", args=[job.id])
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)

    assert client.post(url, {"action": "rerun"}).status_code == 403  # no CSRF token: refused
    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED

    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', client.get(url).content.decode())
    assert token is not None
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"action": "rerun", "csrfmiddlewaretoken": token.group(1)}, follow=True)

    assert response.redirect_chain == [(url, 302)]
    job.refresh_from_db()
    assert (job.status, job.error) == (ImportJob.Status.QUEUED, "")
    assert queued == [job.id]
    assert f"Import {job.id} queued again." in page_text(response)


@pytest.mark.django_db
def test_a_rerun_of_a_job_that_is_not_failed_or_stalled_changes_nothing(admin_client_, queued):
    alive = running_job(silent_for=timedelta(seconds=5))
    response = admin_client_.post(reverse("dataset:import_detail", args=[alive.id]), {"action": "rerun"}, follow=True)
    assert response.status_code == 200
    assert "was not re-run" in page_text(response)
    alive.refresh_from_db()
    assert alive.status == ImportJob.Status.RUNNING and queued == []

    bad = admin_client_.post(reverse("dataset:import_detail", args=[alive.id]), {"action": "delete"})
    assert bad.status_code == 400


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["annotator", "qa_lead", "outsider"])
def test_only_admins_may_rerun(persona, personas, queued):
    job = ImportJob.objects.create(kind=ImportJob.Kind.CSV, status=ImportJob.Status.FAILED, error="x")
    client = Client()
    client.force_login(personas[persona])
    assert client.post(reverse("dataset:import_detail", args=[job.id]), {"action": "rerun"}).status_code == 403
    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED and queued == []


# --- the Django admin --------------------------------------------------------------------------


@pytest.mark.django_db
def test_admin_action_reruns_failed_and_stalled_imports(admin_client_, queued, django_capture_on_commit_callbacks):
    failed = ImportJob.objects.create(kind=ImportJob.Kind.CSV, status=ImportJob.Status.FAILED, error="boom")
    lost = running_job(silent_for=LONG_AGO)
    alive = running_job(silent_for=timedelta(seconds=5))

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client_.post(
            reverse("admin:dataset_importjob_changelist"),
            {"action": "rerun_failed", "_selected_action": [failed.id, lost.id, alive.id]},
            follow=True,
        )

    assert sorted(queued) == sorted([failed.id, lost.id])
    assert set(ImportJob.objects.filter(status=ImportJob.Status.QUEUED).values_list("id", flat=True)) == {
        failed.id,
        lost.id,
    }
    text = page_text(response)
    assert "2 imports queued again." in text and "neither failed nor stalled" in text


@pytest.mark.django_db
def test_add_import_job_in_the_admin_leads_to_the_new_import_page(admin_client_):
    changelist = page_text(admin_client_.get(reverse("admin:dataset_importjob_changelist")))
    assert reverse("admin:dataset_importjob_add") in changelist  # the "Add import job" button is there

    response = admin_client_.get(reverse("admin:dataset_importjob_add"))

    assert response.status_code == 302
    assert response["Location"] == reverse("dataset:import_new")
    assert not ImportJob.objects.exists()
