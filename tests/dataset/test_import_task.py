"""The Celery task: thin, takes an id, safe to run twice; enqueued only after commit."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import transaction
from PIL import Image as PILImage

from annotator.dataset import tasks
from annotator.dataset.models import Evidence, EvidenceSource, Image, ImageLabel, ImportJob, LabelHistory
from annotator.dataset.tasks import import_job_enqueue, import_job_requeue, import_job_run
from annotator.taxonomy.models import Label


def dataset_state() -> dict[str, list[tuple[object, ...]]]:
    return {
        "images": list(Image.objects.order_by("id").values_list()),
        "truth": list(ImageLabel.objects.order_by("id").values_list()),
        "history": list(LabelHistory.objects.order_by("id").values_list()),
        "sources": list(EvidenceSource.objects.order_by("id").values_list()),
        "evidence": list(Evidence.objects.order_by("id").values_list()),
    }


@pytest.fixture
def folder_job(tmp_path: Path) -> ImportJob:
    Label.objects.create(key="cat", name_en="Cat")
    folder = tmp_path / "cats"
    folder.mkdir()
    for n in range(3):
        PILImage.new("RGB", (8, 8), (n * 60, 10, 10)).save(folder / f"{n}.jpg", "JPEG")
    return ImportJob.objects.create(kind=ImportJob.Kind.FOLDER, params={"folder": str(folder), "label": "cat"})


@pytest.fixture(autouse=True)
def sent_by_name(monkeypatch) -> list[str]:
    """Task names sent to the broker by name (nothing is sent anywhere)."""
    names: list[str] = []
    monkeypatch.setattr(tasks.current_app, "send_task", lambda name, *args, **kwargs: names.append(name))
    return names


@pytest.fixture
def queued(monkeypatch) -> list[int]:
    """Job ids handed to the broker (nothing is sent anywhere)."""
    sent: list[int] = []
    monkeypatch.setattr(tasks.import_job_run, "delay", lambda job_id: sent.append(job_id))
    return sent


@pytest.mark.django_db(transaction=True)
def test_running_the_task_twice_for_a_succeeded_job_changes_nothing(folder_job):
    import_job_run(folder_job.id)
    folder_job.refresh_from_db()
    assert folder_job.status == ImportJob.Status.SUCCEEDED
    assert Evidence.objects.count() == 3
    before = dataset_state()
    job_before = ImportJob.objects.filter(pk=folder_job.pk).values().get()

    import_job_run(folder_job.id)  # a retry, a redelivery or a second worker

    assert dataset_state() == before
    assert ImportJob.objects.filter(pk=folder_job.pk).values().get() == job_before


@pytest.mark.django_db(transaction=True)
def test_bad_input_marks_the_job_failed_without_raising(folder_job):
    folder_job.params = {**folder_job.params, "label": "dog"}
    folder_job.save()

    import_job_run(folder_job.id)  # no exception: Celery must not retry bad input

    folder_job.refresh_from_db()
    assert folder_job.status == ImportJob.Status.FAILED
    assert 'field "label": unknown label key "dog"' in folder_job.error
    assert dataset_state()["images"] == []


@pytest.mark.django_db(transaction=True)
def test_a_failed_job_requeued_after_the_fix_succeeds(folder_job, queued):
    folder_job.params = {**folder_job.params, "label": "kitten"}
    folder_job.save()
    import_job_run(folder_job.id)
    Label.objects.create(key="kitten", name_en="Kitten")

    assert import_job_requeue(job_id=folder_job.id) is True
    assert queued == [folder_job.id]
    folder_job.refresh_from_db()
    assert (folder_job.status, folder_job.error) == (ImportJob.Status.QUEUED, "")

    import_job_run(queued[0])
    folder_job.refresh_from_db()
    assert folder_job.status == ImportJob.Status.SUCCEEDED
    assert Evidence.objects.filter(label__key="kitten").count() == 3


@pytest.mark.django_db
def test_requeue_moves_only_failed_jobs_and_only_once(queued, django_capture_on_commit_callbacks):
    failed = ImportJob.objects.create(kind=ImportJob.Kind.CSV, status=ImportJob.Status.FAILED, error="x")
    done = ImportJob.objects.create(kind=ImportJob.Kind.CSV, status=ImportJob.Status.SUCCEEDED)

    with django_capture_on_commit_callbacks(execute=True):
        assert import_job_requeue(job_id=failed.id) is True
        assert import_job_requeue(job_id=failed.id) is False  # already queued: a second click does nothing
        assert import_job_requeue(job_id=done.id) is False
    assert queued == [failed.id]


@pytest.mark.django_db
def test_enqueue_waits_for_the_commit(queued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        job = ImportJob.objects.create(kind=ImportJob.Kind.CSV)
        import_job_enqueue(job_id=job.id)
        assert queued == []  # a worker must not see a job that is not committed
    assert len(callbacks) == 1
    assert queued == [job.id]


def test_task_is_late_acked_and_takes_an_id():
    assert import_job_run.name == "annotator.dataset.tasks.import_job_run"
    assert import_job_run.acks_late is True
    assert import_job_run.reject_on_worker_lost is True


@pytest.mark.django_db(transaction=True)
def test_a_succeeded_import_asks_for_the_queues_to_be_rebuilt(folder_job, sent_by_name):
    import_job_run(folder_job.id)
    assert sent_by_name == ["annotator.cleaning.tasks.queues_rerank"]


@pytest.mark.django_db(transaction=True)
def test_a_failed_import_leaves_the_queues_alone(tmp_path, sent_by_name):
    job = ImportJob.objects.create(kind=ImportJob.Kind.FOLDER, params={"folder": str(tmp_path / "none"), "label": "x"})
    import_job_run(job.id)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED
    assert sent_by_name == []
