"""What a decision costs the server, and the caches that keep it low staying correct.

A decision is on the annotator's critical path: its query count is pinned here so that a
change that adds a round trip shows up. The roles / language cache and the per-process
taxonomy graph must follow changes at once (next request), not after some expiry.
"""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from annotator.accounts.models import Profile
from annotator.accounts.roles import ROLE_GROUP_NAMES, Role
from annotator.cleaning.services import queues_rerank
from annotator.dataset.models import ImageLabel
from annotator.taxonomy.models import Label, LabelRelation
from tests.cleaning.support import evidence

# Session, user, access check, the locked item (with its standing decision, dataset state and
# the taxonomy version), the decision, the dataset change (label keys, read, write, history),
# the item's status, the labels answered: 11, plus two savepoint pairs (the decision's
# transaction, a savepoint inside the test's own, and the dataset change's). Before the caches:
# 17, with the roles, the language and the taxonomy read on every decision.
DECISION_QUERIES_MAX = 15


def _queue(world):
    cat = world.label("cat")
    for image in world.images:
        evidence(image, cat, world.model, 0.7)
    queues_rerank()
    return cat


def _take(client, key="cat") -> list[dict]:
    response = client.post(reverse("cleaning:api_lease_take", args=[key]), content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()["items"]


def _decide(client, item_id: int, verdict: str = "present"):
    return client.post(
        reverse("cleaning:api_decision_record", args=[item_id]),
        {"verdict": verdict, "time_spent_ms": 900},
        content_type="application/json",
    )


def test_a_decision_takes_a_bounded_number_of_queries(world, annotator_client):
    _queue(world)
    tiles = _take(annotator_client)
    assert _decide(annotator_client, tiles[0]["id"]).status_code == 201  # warms the per-process caches
    with CaptureQueriesContext(connection) as queries:
        response = _decide(annotator_client, tiles[1]["id"])
    assert response.status_code == 201
    assert {label["key"]: label["state"] for label in response.json()["labels"]} == {"animal": 1, "cat": 1}
    assert len(queries.captured_queries) <= DECISION_QUERIES_MAX, "\n".join(
        q["sql"][:120] for q in queries.captured_queries
    )


def test_losing_the_annotator_role_refuses_the_very_next_request(world, annotator_user, annotator_client):
    _queue(world)
    tiles = _take(annotator_client)
    assert _decide(annotator_client, tiles[0]["id"]).status_code == 201
    annotator_user.groups.remove(Group.objects.get(name=ROLE_GROUP_NAMES[Role.ANNOTATOR]))
    assert _decide(annotator_client, tiles[1]["id"]).status_code == 403
    annotator_user.groups.add(Group.objects.get(name=ROLE_GROUP_NAMES[Role.ANNOTATOR]))
    assert _decide(annotator_client, tiles[1]["id"]).status_code == 201


def test_a_language_change_shows_on_the_next_page(world, annotator_user, annotator_client):
    Profile.objects.update_or_create(user=annotator_user, defaults={"language": "en"})
    assert annotator_client.get(reverse("cleaning:queues")).headers["Content-Language"] == "en"
    Profile.objects.filter(user=annotator_user).update(language="zh-hans")
    # A queryset update sends no signal; saving the profile (as the settings page does) does.
    Profile.objects.get(user=annotator_user).save()
    assert annotator_client.get(reverse("cleaning:queues")).headers["Content-Language"] == "zh-hans"


def test_a_new_relation_applies_to_the_next_decision(world, annotator_client):
    cat = _queue(world)
    tiles = _take(annotator_client)
    assert _decide(annotator_client, tiles[0]["id"]).status_code == 201  # graph cached without the rule
    pet = Label.objects.create(key="pet", name_en="pet", name_zh="宠物")
    LabelRelation.objects.create(kind=LabelRelation.Kind.IMPLIES, src=cat, dst=pet)
    response = _decide(annotator_client, tiles[1]["id"])
    assert response.status_code == 201
    labels = {label["key"]: label for label in response.json()["labels"]}
    assert labels["pet"]["state"] == 1 and labels["pet"]["name_zh"] == "宠物"
    assert ImageLabel.objects.get(image_id=tiles[1]["image_id"], label=pet).state == 1
