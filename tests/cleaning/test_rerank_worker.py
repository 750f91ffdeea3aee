"""A real Celery worker runs queues_rerank sent by its contract name, as other apps send it,
against the test database; sending it twice changes nothing the second time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from annotator import celery_app
from annotator.cleaning.models import ReviewItem
from annotator.cleaning.ranking import Reason
from tests.cleaning.support import evidence, truth, world_make
from tests.worker import celery_worker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

WORKER_REDIS_DB = 11
TASK = "annotator.cleaning.tasks.queues_rerank"


@pytest.fixture
def rerank_worker(transactional_db, tmp_path: Path) -> Iterator[str]:
    with celery_worker(redis_db=WORKER_REDIS_DB, log=tmp_path / "worker.log", name="rerank-test") as url:
        yield url


def _run(kwargs: dict) -> dict:
    result = celery_app.send_task(TASK, kwargs=kwargs)
    return result.get(timeout=60)


def test_a_worker_reranks_by_task_name(rerank_worker, tmp_path):
    world = world_make(tmp_path / "images", images=4)
    cat = world.label("cat")
    truth(world.images[0], world.label("fold_eared_cat"), 1)
    evidence(world.images[1], cat, world.model, 0.9)
    evidence(world.images[2], cat, world.competitor, 0.7, keyword="猫")

    first = _run({"label_ids": [cat.pk]})
    assert first["created"] == 3
    items = {item.image_id: item for item in ReviewItem.objects.filter(label=cat)}
    assert set(items) == {world.images[i].pk for i in range(3)}
    assert items[world.images[0].pk].reasons & Reason.PARENT_MISSING

    again = _run({})  # every label, the way a new model version triggers it
    # Only the other labels' items are new: image 0 in the fold-eared cat and animal queues.
    assert again["created"] == 2 and again["updated"] == 0
    assert _run({})["created"] == 0
