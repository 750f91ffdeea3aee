"""The loop closes: a re-predict with a new version replaces the model evidence, and the
cleaning queues it re-ranks (through the task it sends by name) change order.

Everything is real but the broker hop: the rerank task the re-predict sends on commit is
run here, in this process, by its registered name, as a worker would run it.
"""

from __future__ import annotations

import pytest
from celery import current_app

import annotator.cleaning.tasks  # noqa: F401 - registers the task a worker would find by autodiscovery
from annotator.cleaning.models import ItemStatus, ReviewItem
from annotator.cleaning.ranking import Source
from annotator.cleaning.services.rerank import queues_rerank
from annotator.dataset.models import Evidence
from annotator.modeling import runner
from annotator.modeling.models import ModelVersion
from annotator.modeling.runner import job_execute
from annotator.modeling.services import JobRequest, job_start
from tests.modeling.support import train_job

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def queue_order() -> dict[int, list[int]]:
    """Open items of every label, in the order an annotator would get them."""
    order: dict[int, list[int]] = {}
    for label_id, image_id in (
        ReviewItem.objects.filter(status=ItemStatus.OPEN).order_by("label_id", "-priority", "id")
    ).values_list("label_id", "image_id"):
        order.setdefault(label_id, []).append(image_id)
    return order


def test_a_repredict_reranks_the_queues_with_the_new_model(
    demo, admin_user, test_broker, django_capture_on_commit_callbacks, monkeypatch
):
    # Before any model: queues from the dataset alone.
    queues_rerank()
    before = queue_order()
    before_scores = dict(ReviewItem.objects.values_list("id", "model_score"))
    assert before and all(score is None for score in before_scores.values())

    job_execute(job_id=train_job(admin_user, demo, epochs=2).id)
    version = ModelVersion.objects.select_related("source").get()

    sent: list[tuple[str, dict]] = []
    send_to_broker = runner.current_app.send_task

    def send_task(name: str, args=None, kwargs=None, **options):
        if not name.startswith("annotator.cleaning."):
            return send_to_broker(name, args=args, kwargs=kwargs, **options)
        sent.append((name, kwargs or {}))
        # What a worker does with the message: run the task registered under that name.
        return current_app.tasks[name].apply(args=args or (), kwargs=kwargs or {})

    monkeypatch.setattr(runner.current_app, "send_task", send_task)
    with django_capture_on_commit_callbacks(execute=True):
        job = job_start(user=admin_user, request=JobRequest(kind="predict", version_id=version.id))
    with django_capture_on_commit_callbacks(execute=True):
        assert job_execute(job_id=job.id) == "succeeded"
    assert [name for name, _ in sent] == ["annotator.cleaning.tasks.queues_rerank"]

    # The queues now rank with the version's scores ...
    ranked = ReviewItem.objects.filter(status=ItemStatus.OPEN)
    assert ranked.exclude(model_score=None).exists()
    for item in ranked.exclude(model_score=None)[:50]:
        evidence = Evidence.objects.filter(source=version.source, image_id=item.image_id, label_id=item.label_id)
        expected = evidence.values_list("score", flat=True).first()
        if expected is not None:
            assert item.model_score == pytest.approx(expected)
    # ... the model's suggestions joined them ...
    suggested = Evidence.objects.filter(source=version.source, suggested=True)
    assert suggested.exists()
    for row in suggested[:50]:
        item = ReviewItem.objects.get(image_id=row.image_id, label_id=row.label_id)
        assert item.sources & Source.MODEL
    # ... and the order an annotator gets changed.
    after = queue_order()
    changed = [label for label in before if label in after and after[label] != before[label]]
    assert changed, "no queue changed order after the re-predict"
