"""queues_rerank: every source and relation break makes an item, reruns change nothing,
decisions survive, unsupported items close, a new model version reorders the queue."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from annotator.cleaning.models import ItemStatus, ReviewItem
from annotator.cleaning.ranking import Reason, Source
from annotator.cleaning.services import decision_record, queues_rerank
from annotator.dataset.models import Evidence, EvidenceSource
from tests.cleaning.support import evidence, truth


def _item(world, image_index: int, key: str) -> ReviewItem:
    return ReviewItem.objects.get(image=world.images[image_index], label=world.label(key))


def test_every_source_makes_an_item(world):
    cat = world.label("cat")
    crawl = EvidenceSource.objects.create(kind="crawl", name="cat-crawl")
    imported = EvidenceSource.objects.create(kind="import", name="openimages:machine")
    truth(world.images[0], cat, 1)
    evidence(world.images[1], cat, world.model, 0.9, suggested=True)
    evidence(world.images[2], cat, world.competitor, 0.8, keyword="猫")
    evidence(world.images[3], cat, crawl, None)
    evidence(world.images[4], cat, imported, 0.7)
    evidence(world.images[5], cat, world.model, 0.3, suggested=False)  # a score, not a suggestion
    truth(world.images[6], cat, 0)  # a verified negative nobody claims: not an item

    counts = queues_rerank(label_ids=[cat.pk])

    items = {item.image_id: item for item in ReviewItem.objects.filter(label=cat)}
    assert set(items) == {world.images[i].pk for i in range(5)}
    assert counts["created"] == 5
    assert items[world.images[0].pk].sources == Source.DATASET
    assert items[world.images[1].pk].sources == Source.MODEL
    assert items[world.images[2].pk].sources == Source.COMPETITOR
    assert items[world.images[2].pk].competitor_score == pytest.approx(0.8)
    assert items[world.images[3].pk].sources == Source.CRAWL
    assert items[world.images[3].pk].other_score == pytest.approx(0.8)  # no score: CLAIM_DEFAULT_SCORE
    assert items[world.images[4].pk].sources == Source.IMPORT
    # The dataset positive the model scored below its floor is the likeliest error.
    assert items[world.images[0].pk].model_score == pytest.approx(0.02)
    assert items[world.images[0].pk].reasons & Reason.UNSUPPORTED_POSITIVE
    top = ReviewItem.objects.filter(label=cat).order_by("-priority").first()
    assert top is not None and top.image_id == world.images[0].pk


def test_relation_breaks_are_found(world):
    truth(world.images[0], world.label("fold_eared_cat"), 1)  # no cat, no animal
    truth(world.images[1], world.label("forest"), 1)  # no tree, no outdoor
    truth(world.images[2], world.label("indoor"), 1)
    truth(world.images[2], world.label("outdoor"), 1)

    queues_rerank()

    assert _item(world, 0, "cat").reasons & Reason.PARENT_MISSING
    assert _item(world, 0, "animal").reasons & Reason.PARENT_MISSING
    assert _item(world, 1, "tree").reasons & Reason.IMPLIED_MISSING
    assert _item(world, 1, "outdoor").reasons & Reason.IMPLIED_MISSING
    assert _item(world, 1, "scene").reasons & Reason.PARENT_MISSING
    for key in ("indoor", "outdoor"):
        item = _item(world, 2, key)
        assert item.reasons & Reason.EXCLUDED_PAIR and item.sources & Source.RELATION
    # A consistent image breaks nothing.
    truth(world.images[3], world.label("cat"), 1)
    truth(world.images[3], world.label("animal"), 1)
    queues_rerank()
    relation_bits = Reason.PARENT_MISSING | Reason.IMPLIED_MISSING | Reason.EXCLUDED_PAIR
    consistent = list(ReviewItem.objects.filter(image=world.images[3]))
    assert consistent and all(not item.reasons & relation_bits for item in consistent)


def test_rerun_writes_nothing(world):
    cat = world.label("cat")
    truth(world.images[0], cat, 1)
    evidence(world.images[1], cat, world.competitor, 0.6)
    first = queues_rerank()
    stamps = dict(ReviewItem.objects.values_list("id", "ranked_at"))
    second = queues_rerank()
    assert first["created"] > 0
    assert second["created"] == 0 and second["updated"] == 0 and second["closed"] == 0
    assert dict(ReviewItem.objects.values_list("id", "ranked_at")) == stamps


def test_decided_items_keep_their_decision_and_unsupported_ones_close(world, annotator_user):
    cat = world.label("cat")
    truth(world.images[0], cat, 1)
    comp = evidence(world.images[1], cat, world.competitor, 0.6)
    queues_rerank()
    decided = _item(world, 0, "cat")
    ReviewItem.objects.filter(pk=decided.pk).update(leased_by=annotator_user)
    decision_record(user=annotator_user, item=decided, verdict=0)  # absent: the dataset was wrong

    comp.delete()
    counts = queues_rerank()

    decided.refresh_from_db()
    assert decided.status == ItemStatus.DECIDED and decided.decisions.count() == 1
    assert decided.dataset_state == 0
    assert _item(world, 1, "cat").status == ItemStatus.CLOSED
    # "animal" was missing only because of that cat: with the cat gone it closes too.
    assert _item(world, 0, "animal").status == ItemStatus.CLOSED
    assert counts["closed"] == 2
    # A source that claims it again reopens it.
    evidence(world.images[1], cat, world.competitor, 0.9)
    queues_rerank()
    assert _item(world, 1, "cat").status == ItemStatus.OPEN


def test_a_new_model_version_reorders_the_queue(world):
    cat = world.label("cat")
    for i in range(4):
        truth(world.images[i], cat, 1)
    for i, score in enumerate([0.9, 0.8, 0.2, 0.1]):
        evidence(world.images[i], cat, world.model, score, suggested=score >= 0.5)
    queues_rerank()
    before = list(ReviewItem.objects.filter(label=cat).order_by("-priority").values_list("image_id", flat=True))
    assert before[:2] == [world.images[3].pk, world.images[2].pk]

    v2 = EvidenceSource.objects.create(kind="model", name="v2.0", refreshed_at=timezone.now() + timedelta(seconds=1))
    for i, score in enumerate([0.1, 0.2, 0.8, 0.9]):
        Evidence.objects.create(image=world.images[i], label=cat, source=v2, score=score, suggested=score >= 0.5)
    counts = queues_rerank()

    after = list(ReviewItem.objects.filter(label=cat).order_by("-priority").values_list("image_id", flat=True))
    assert after[:2] == [world.images[0].pk, world.images[1].pk]
    assert counts["updated"] == 4


def test_the_celery_task_is_registered_under_its_contract_name(world):
    from annotator import celery_app

    truth(world.images[0], world.label("cat"), 1)
    celery_app.loader.import_default_modules()  # what a worker does at start
    task = celery_app.tasks["annotator.cleaning.tasks.queues_rerank"]
    counts = task.apply(kwargs={"label_ids": [world.label("cat").pk]}).get()
    assert counts["labels"] == 1
    assert ReviewItem.objects.filter(label=world.label("cat")).count() == 1


def test_verdicts_calibrate_the_model_scores_of_their_label(world, annotator_user):
    from annotator.cleaning.models import Decision, ItemStatus, Verdict
    from tests.cleaning.support import images_make

    cat = world.label("cat")
    images = world.images + images_make(world.root, 60, start=len(world.images))
    for image in images:
        evidence(image, cat, world.model, 0.9)  # the model is sure every time
    queues_rerank(label_ids=[cat.pk])
    before = {item.pk: item.priority for item in ReviewItem.objects.filter(label=cat)}
    # People found the label in only a third of the first 48 images the model was sure about.
    decided = list(ReviewItem.objects.filter(label=cat).order_by("id")[:48])
    for n, item in enumerate(decided):
        verdict = Verdict.PRESENT if n % 3 == 0 else Verdict.ABSENT
        Decision.objects.create(item=item, user=annotator_user, verdict=verdict)
        ReviewItem.objects.filter(pk=item.pk).update(status=ItemStatus.DECIDED)

    counts = queues_rerank(label_ids=[cat.pk])

    assert counts["calibrated"] == 1
    open_items = ReviewItem.objects.filter(label=cat, status=ItemStatus.OPEN)
    assert open_items.count() == len(images) - 48
    # "Unknown, model 0.9" is now judged much less likely to be a missing label.
    for item in open_items:
        assert item.priority < before[item.pk] - 0.2
