"""Gold items in tests: the images that carry them and the calls a review page makes."""

from __future__ import annotations

from django.urls import reverse

GOLD_IMAGES = range(6)  # images 0..5 carry the gold items; 6..39 are the open queue


def take(client, key="cat") -> dict:
    response = client.post(reverse("cleaning:api_lease_take", args=[key]), content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()


def decide(client, item_id: int, verdict: str):
    return client.post(
        reverse("cleaning:api_decision_record", args=[item_id]),
        {"verdict": verdict, "time_spent_ms": 800},
        content_type="application/json",
    )


def gold_ids(golds) -> set[int]:
    return {gold.review_item_id for gold in golds}
