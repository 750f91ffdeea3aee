"""The cleaning API and pages as each persona sees them."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client
from django.urls import reverse

from annotator.accounts.roles import Role
from annotator.accounts.services import user_create_with_role
from annotator.cleaning.models import Decision, ItemStatus, ReviewItem
from annotator.cleaning.services import queues_rerank
from annotator.dataset.models import ImageLabel, LabelHistory
from tests.cleaning.support import evidence, truth
from tests.conftest import PASSWORD


@pytest.fixture
def queue(world):
    cat = world.label("cat")
    for i, image in enumerate(world.images):
        truth(image, cat, 1) if i % 2 else evidence(image, cat, world.model, 0.6 + i / 100)
    evidence(world.images[0], cat, world.competitor, 0.77, keyword="小猫")
    queues_rerank()
    return cat


def _take(client, key="cat") -> dict:
    response = client.post(reverse("cleaning:api_lease_take", args=[key]), content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()


def test_take_decide_undo_through_the_api(world, queue, annotator_client):
    batch = _take(annotator_client)
    assert len(batch["items"]) == len(world.images)
    tile = next(item for item in batch["items"] if item["image_id"] == world.images[0].pk)
    assert tile["dataset_state"] is None and tile["model_score"] == pytest.approx(0.6)
    assert tile["competitors"] == [{"source": "baidu", "keyword": "小猫", "score": 0.77, "kind": "competitor"}]

    response = annotator_client.post(
        reverse("cleaning:api_decision_record", args=[tile["id"]]),
        {"verdict": "present", "time_spent_ms": 1200},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert {label["key"]: label["state"] for label in body["labels"]} == {"animal": 1, "cat": 1}
    assert ImageLabel.objects.get(image=world.images[0], label=queue).state == 1

    undo = annotator_client.post(reverse("cleaning:api_decision_undo"), content_type="application/json")
    assert undo.status_code == 200
    assert {label["key"]: label["state"] for label in undo.json()["labels"]} == {"animal": None, "cat": None}
    assert not ImageLabel.objects.filter(image=world.images[0]).exists()
    again = annotator_client.post(reverse("cleaning:api_decision_undo"), content_type="application/json")
    assert again.status_code == 404


def test_bad_verdict_is_refused_and_changes_nothing(world, queue, annotator_client):
    tile = _take(annotator_client)["items"][0]
    response = annotator_client.post(
        reverse("cleaning:api_decision_record", args=[tile["id"]]),
        {"verdict": "maybe"},
        content_type="application/json",
    )
    assert response.status_code == 400 and "verdict" in response.json()
    assert not Decision.objects.exists() and not LabelHistory.objects.exists()


def test_an_annotator_cannot_decide_an_item_leased_to_someone_else(world, queue, annotator_client):
    other = user_create_with_role(username="ann2", password=PASSWORD, role=Role.ANNOTATOR)
    other_client = Client()
    other_client.force_login(other)
    tile = _take(annotator_client)["items"][0]
    response = other_client.post(
        reverse("cleaning:api_decision_record", args=[tile["id"]]),
        {"verdict": "absent"},
        content_type="application/json",
    )
    assert response.status_code == 403
    # … nor renew, release, or open the image of that lease.
    lease = ReviewItem.objects.get(pk=tile["id"]).lease_id
    assert other_client.post(reverse("cleaning:api_lease_renew", args=[lease])).status_code == 403
    assert other_client.post(reverse("cleaning:api_lease_release", args=[lease])).status_code == 403
    assert other_client.get(reverse("cleaning:image_detail", args=[tile["image_id"]])).status_code == 403
    assert other_client.get(reverse("cleaning:image_original", args=[tile["image_id"]])).status_code == 403
    assert not Decision.objects.exists()


def test_outsider_and_anonymous_are_refused(world, queue, outsider_client):
    item = ReviewItem.objects.first()
    assert outsider_client.get(reverse("cleaning:review", args=["cat"])).status_code == 403
    assert outsider_client.post(reverse("cleaning:api_lease_take", args=["cat"])).status_code == 403
    decide = reverse("cleaning:api_decision_record", args=[item.pk])
    assert outsider_client.post(decide, {"verdict": "present"}, content_type="application/json").status_code == 403
    assert Client().post(decide, {"verdict": "present"}, content_type="application/json").status_code in (401, 403)
    assert not Decision.objects.exists()


def test_qa_lead_reads_every_queue_and_annotators_do_not(world, queue, annotator_client, qa_client):
    _take(annotator_client)
    page = qa_client.get(reverse("cleaning:queue_read", args=["cat"]))
    assert page.status_code == 200
    assert page.content.decode().count("data-item=") == len(world.images)
    assert "ann" in page.content.decode()  # who holds them
    assert annotator_client.get(reverse("cleaning:queue_read", args=["cat"])).status_code == 403
    # QA leads open any image, even one leased to someone else.
    assert qa_client.get(reverse("cleaning:image_original", args=[world.images[0].pk])).status_code == 200


def test_the_holder_sees_the_image_and_adds_a_missing_label(world, queue, annotator_client):
    batch = _take(annotator_client)
    image_id = batch["items"][0]["image_id"]
    original = annotator_client.get(reverse("cleaning:image_original", args=[image_id]))
    assert original.status_code == 200 and original["Content-Type"] == "image/png"
    assert b"".join(original.streaming_content)[:4] == b"\x89PNG"
    detail = annotator_client.get(reverse("cleaning:image_detail", args=[image_id]))
    assert detail.status_code == 200
    added = annotator_client.post(
        reverse("cleaning:api_image_label_add", args=[image_id]), {"label": "forest"}, content_type="application/json"
    )
    assert added.status_code == 201, added.content
    states = dict(ImageLabel.objects.filter(image_id=image_id).values_list("label__key", "state"))
    assert states["forest"] == 1 and states["tree"] == 1
    unknown = annotator_client.post(
        reverse("cleaning:api_image_label_add", args=[image_id]), {"label": "nope"}, content_type="application/json"
    )
    assert unknown.status_code == 400


def test_review_page_query_count_does_not_grow_with_the_batch(
    world, queue, annotator_client, django_assert_max_num_queries
):
    with django_assert_max_num_queries(30):
        response = annotator_client.get(reverse("cleaning:review", args=["cat"]))
    assert response.status_code == 200
    assert 'id="review-batch"' in response.content.decode()


def test_queue_list_shows_the_queues(world, queue, annotator_client, django_assert_max_num_queries):
    with django_assert_max_num_queries(12):
        response = annotator_client.get(reverse("cleaning:queues"))
    assert response.status_code == 200
    assert 'data-label="cat"' in response.content.decode()


def test_rerank_endpoint_is_for_admins(
    world, queue, admin_client_, annotator_client, django_capture_on_commit_callbacks
):
    assert annotator_client.post(reverse("cleaning:api_queue_rerank", args=["cat"])).status_code == 403
    from unittest import mock

    with (
        mock.patch("annotator.cleaning.tasks.queues_rerank.apply_async") as apply_async,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = admin_client_.post(reverse("cleaning:api_queue_rerank", args=["cat"]))
    assert response.status_code == 202
    apply_async.assert_called_once_with(kwargs={"label_ids": [queue.pk]})


def test_decided_items_are_not_offered_again(world, queue, annotator_client, qa_client):
    batch = _take(annotator_client)
    for tile in batch["items"]:
        annotator_client.post(
            reverse("cleaning:api_decision_record", args=[tile["id"]]),
            {"verdict": "absent"},
            content_type="application/json",
        )
    assert not ReviewItem.objects.filter(status=ItemStatus.OPEN, label=queue).exists()
    assert _take(qa_client)["items"] == []


def test_the_review_page_speaks_chinese_to_who_chose_it(world, queue, annotator_user, annotator_client):
    annotator_user.profile.language = "zh-hans"
    annotator_user.profile.save()
    html = annotator_client.get(reverse("cleaning:review", args=["cat"])).content.decode()
    for text in ("图片中有这个标签吗？", "下一页", "撤销", "标注规范", "数据集", "猫"):
        assert text in html, text
    assert "Is this label in the image?" not in html
    batch = json.loads(re.search(r'id="review-batch"[^>]*>(.*?)</script>', html, re.S).group(1))
    reasons = {reason for item in batch["items"] for reason in item["reasons"]}
    assert reasons and all(not reason.isascii() for reason in reasons)


def test_guideline_shows_positive_and_negative_examples_to_annotators(world, queue, annotator_client):
    from annotator.taxonomy.models import GuidelineExample

    example = world.images[-1]
    GuidelineExample.objects.create(label=queue, kind="positive", image=example, caption="a tabby")
    GuidelineExample.objects.create(label=queue, kind="negative", image=world.images[-2], caption="a lynx")
    ReviewItem.objects.filter(image__in=[example, world.images[-2]]).update(status=ItemStatus.CLOSED)
    html = annotator_client.get(reverse("cleaning:review", args=["cat"])).content.decode()
    assert "a tabby" in html and "a lynx" in html
    assert "positive example" in html and "negative example" in html
    # Not in the annotator's batch, yet readable: it is an example.
    assert annotator_client.get(reverse("cleaning:image_original", args=[example.pk])).status_code == 200


def test_an_excluded_pair_is_flagged_back_in_the_answer(world, annotator_client):
    image = world.images[0]
    truth(image, world.label("indoor"), 1)
    evidence(image, world.label("outdoor"), world.competitor, 0.8, keyword="户外")
    queues_rerank()
    tile = _take(annotator_client, "outdoor")["items"][0]
    response = annotator_client.post(
        reverse("cleaning:api_decision_record", args=[tile["id"]]),
        {"verdict": "present"},
        content_type="application/json",
    )
    assert response.status_code == 201
    assert response.json()["conflicts"] == ["indoor"]
    # Recorded and flagged, nothing else changed: both stay positive for a person to sort out.
    states = dict(ImageLabel.objects.filter(image=image).values_list("label__key", "state"))
    assert states["indoor"] == 1 and states["outdoor"] == 1
