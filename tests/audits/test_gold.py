"""Gold items: mixed into batches at LABELLOOP_GOLD_RATE, answered like any item, never touching
the dataset, reported apart from audit accuracy."""

from __future__ import annotations

import json

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from annotator.audits.models import AuditItem, GoldItem
from annotator.cleaning.models import Decision, ItemStatus, ReviewItem, Verdict
from annotator.cleaning.services import queues_rerank
from annotator.dataset.models import ImageLabel, LabelHistory
from tests.audits.gold_support import decide, gold_ids, take
from tests.audits.support import audited, noon, yesterday
from tests.cleaning.support import evidence


def noon_aware(day):
    return timezone.make_aware(noon(day))


def test_a_batch_of_36_at_rate_a_tenth_shows_three_gold_tiles_among_the_others(settings, golds, annotator_client):
    settings.AUDIT_GOLD_RATE = 0.1
    batch = take(annotator_client)
    ids = [tile["id"] for tile in batch["items"]]
    shown = [i for i in ids if i in gold_ids(golds)]
    # floor(0.1 × 36) places kept: 33 real items, and 3 gold ones (at most 33 × 0.1 / 0.9).
    assert len(ids) == 36 and len(shown) == 3
    assert len(set(ids)) == 36
    # The page shows the same batch, gold tiles at the same places.
    html = annotator_client.get(reverse("cleaning:review", args=["cat"])).content.decode()
    first = json.loads(html.split('id="review-batch" type="application/json">')[1].split("</script>")[0])
    assert [tile["id"] for tile in first["items"]] == ids


def test_rate_zero_shows_no_gold(settings, golds, annotator_client):
    settings.AUDIT_GOLD_RATE = 0.0
    ids = {tile["id"] for tile in take(annotator_client)["items"]}
    assert len(ids) == 34 and not ids & gold_ids(golds)


def test_a_gold_tile_looks_like_any_other(settings, golds, annotator_client):
    settings.AUDIT_GOLD_RATE = 0.1
    tiles = take(annotator_client)["items"]
    gold = [tile for tile in tiles if tile["id"] in gold_ids(golds)]
    real = [tile for tile in tiles if tile["id"] not in gold_ids(golds)]
    for tile in gold:
        assert tile.keys() == real[0].keys()
        assert tile["status"] == "open" and tile["my_verdict"] is None
        # The state the item had before it was decided, not the verified answer.
        assert tile["dataset_state"] is None
    assert "gold" not in json.dumps(tiles).lower()
    html = annotator_client.get(reverse("cleaning:review", args=["cat"])).content.decode()
    assert "gold" not in html.lower()
    # Its image opens like any other tile's.
    assert annotator_client.get(gold[0]["detail_url"]).status_code == 200


def test_answering_gold_records_a_gold_decision_and_leaves_the_dataset_alone(settings, golds, annotator_client):
    settings.AUDIT_GOLD_RATE = 0.1
    tiles = take(annotator_client)["items"]
    gold_by_item = {gold.review_item_id: gold for gold in golds}
    shown = [tile for tile in tiles if tile["id"] in gold_by_item]
    labels_before = list(ImageLabel.objects.order_by("id").values_list("image_id", "label_id", "state"))
    history_before = LabelHistory.objects.count()
    statuses_before = dict(ReviewItem.objects.filter(id__in=gold_by_item).values_list("id", "status"))

    right, wrong = shown[0], shown[1]
    right_verdict = "present" if gold_by_item[right["id"]].answer == Verdict.PRESENT else "absent"
    wrong_verdict = "absent" if gold_by_item[wrong["id"]].answer == Verdict.PRESENT else "present"
    answer = decide(annotator_client, right["id"], right_verdict)
    assert answer.status_code == 201
    data = answer.json()
    # Answered like a first decision on an open item: the tile shows the new state.
    assert data["kind"] == "first" and data["second_opinion"] is False and data["agrees"] is None
    assert [(label["key"], label["state"]) for label in data["labels"]] == [
        ("cat", 1 if right_verdict == "present" else 0)
    ]
    assert decide(annotator_client, wrong["id"], wrong_verdict).status_code == 201
    assert decide(annotator_client, shown[2]["id"], "unsure").status_code == 201

    assert list(ImageLabel.objects.order_by("id").values_list("image_id", "label_id", "state")) == labels_before
    assert LabelHistory.objects.count() == history_before
    assert dict(ReviewItem.objects.filter(id__in=gold_by_item).values_list("id", "status")) == statuses_before
    answers = {d.item_id: d for d in Decision.objects.filter(kind=Decision.Kind.GOLD)}
    assert answers[right["id"]].agrees is True
    assert answers[wrong["id"]].agrees is False
    assert answers[shown[2]["id"]].agrees is None
    # The tile now carries the person's verdict, as any decided tile does.
    # The same batch, read again (the review page), carries the person's verdict on the tile.
    html = annotator_client.get(reverse("cleaning:review", args=["cat"])).content.decode()
    again = json.loads(html.split('id="review-batch" type="application/json">')[1].split("</script>")[0])
    tile = {tile["id"]: tile for tile in again["items"]}[right["id"]]
    assert (tile["status"], tile["my_verdict"]) == ("decided", right_verdict)


def test_undoing_a_gold_answer_leaves_the_truth_untouched(settings, golds, annotator_client):
    settings.AUDIT_GOLD_RATE = 0.1
    tiles = take(annotator_client)["items"]
    gold = next(tile for tile in tiles if tile["id"] in gold_ids(golds))
    truth = ImageLabel.objects.filter(image_id=gold["image_id"]).values_list("label_id", "state").order_by("label_id")
    before = list(truth)
    answer = decide(annotator_client, gold["id"], "present")
    assert answer.status_code == 201
    undo = annotator_client.post(reverse("cleaning:api_decision_undo"), content_type="application/json")
    assert undo.status_code == 200
    assert undo.json()["item"] == gold["id"]
    # The labels the answer listed, back to what the page showed before it.
    states = {label["key"]: label["state"] for label in undo.json()["labels"]}
    assert states.keys() == {label["key"] for label in answer.json()["labels"]}
    assert states["cat"] == gold["dataset_state"]
    assert all(state != 1 for key, state in states.items() if key != "cat")
    assert list(truth) == before
    assert Decision.objects.get(item_id=gold["id"], kind=Decision.Kind.GOLD).undone_at is not None
    # Nothing left to undo: the gold answer was the only decision.
    assert annotator_client.post(reverse("cleaning:api_decision_undo")).status_code == 404


def test_a_gold_item_is_not_shown_again_to_whoever_answered_it(settings, golds, annotator_client, zelda):
    settings.AUDIT_GOLD_RATE = 0.1
    first = take(annotator_client)
    answered = {tile["id"] for tile in first["items"] if tile["id"] in gold_ids(golds)}
    for item_id in answered:
        assert decide(annotator_client, item_id, "present").status_code == 201
    annotator_client.post(reverse("cleaning:api_lease_release", args=[first["lease"]]))
    second = {tile["id"] for tile in take(annotator_client)["items"]}
    assert not second & answered
    assert second & gold_ids(golds) <= gold_ids(golds) - answered
    # Nor to the person who decided the item in the first place.
    from django.test import Client

    client = Client()
    client.force_login(zelda)
    assert not {tile["id"] for tile in take(client)["items"]} & gold_ids(golds)


def test_a_gold_item_not_shown_to_you_cannot_be_answered(settings, golds, annotator_client):
    settings.AUDIT_GOLD_RATE = 0.0
    take(annotator_client)
    assert decide(annotator_client, golds[0].review_item_id, "present").status_code == 403


def test_with_gold_on_a_label_without_gold_items_the_take_and_the_decision_cost_nothing_more(
    settings, golds, world, annotator_client
):
    for key in ("tree", "dog"):
        for image in world.images[6:]:
            evidence(image, world.label(key), world.model, 0.7)
    queues_rerank()

    def costs(key: str) -> tuple[int, int]:
        connection.queries_log.clear()  # a full log (it keeps 9000) shifts what a capture sees
        with CaptureQueriesContext(connection) as taking:
            tiles = take(annotator_client, key)["items"]
        assert decide(annotator_client, tiles[0]["id"], "present").status_code == 201  # warm caches
        with CaptureQueriesContext(connection) as deciding:
            assert decide(annotator_client, tiles[1]["id"], "present").status_code == 201
        return len(taking), len(deciding)

    settings.AUDIT_GOLD_RATE = 0.0
    off = costs("tree")
    settings.AUDIT_GOLD_RATE = 0.1
    from annotator.cleaning.gold import gold_label_ids

    assert world.label("dog").pk not in gold_label_ids()  # the per-process list, read once a minute
    on = costs("dog")
    assert on == off, (on, off)


def test_only_qa_leads_mark_gold_from_a_settled_audit(world, zelda, qa_client, annotator_client):
    item = audited(user=zelda, image=world.images[0], label=world.label("forest"), verdict=Verdict.ABSENT)
    url = reverse("audits:api_gold_mark", args=[item.pk])
    assert annotator_client.post(url).status_code == 403
    assert qa_client.post(url).status_code == 409  # not judged yet
    judge = qa_client.post(
        reverse("audits:api_judge", args=[item.pk]), {"verdict": "absent"}, content_type="application/json"
    )
    assert judge.status_code == 200 and judge.json()["gold_allowed"] is True and judge.json()["gold"] is False
    marked = qa_client.post(url)
    assert marked.status_code == 201 and marked.json()["answer"] == "absent"
    gold = GoldItem.objects.get()
    assert gold.review_item_id == item.decision.item_id and gold.answer == Verdict.ABSENT and gold.active
    assert qa_client.post(url).status_code == 409
    page = qa_client.get(reverse("audits:item", args=[item.pk])).content.decode()
    assert 'data-testid="gold-box"' in page and "Use as gold item" in page
    listing = qa_client.get(reverse("audits:gold")).content.decode()
    assert f'data-gold="{gold.pk}"' in listing
    assert qa_client.post(reverse("audits:gold_deactivate", args=[gold.pk])).status_code == 302
    assert GoldItem.objects.get().active is False


def test_an_overturned_audit_awaiting_its_reason_cannot_become_gold(world, zelda, qa_client):
    item = audited(user=zelda, image=world.images[1], label=world.label("forest"), verdict=Verdict.ABSENT)
    qa_client.post(reverse("audits:api_judge", args=[item.pk]), {"verdict": "present"}, content_type="application/json")
    assert AuditItem.objects.get(pk=item.pk).status == AuditItem.Status.AWAITING_REASON
    assert qa_client.post(reverse("audits:api_gold_mark", args=[item.pk])).status_code == 409
    qa_client.post(reverse("audits:api_explain", args=[item.pk]), {"reason": "missed"}, content_type="application/json")
    assert qa_client.post(reverse("audits:api_gold_mark", args=[item.pk])).status_code == 201
    gold = GoldItem.objects.get()
    # The answer is QA's; the tile will show what the annotator saw, not the corrected truth.
    assert gold.answer == Verdict.PRESENT and gold.shown_state == item.decision.previous_state


def test_gold_accuracy_is_reported_apart_from_audit_accuracy(
    settings, golds, annotator_user, annotator_client, qa_client
):
    settings.AUDIT_GOLD_RATE = 0.1
    tiles = take(annotator_client)["items"]
    answer_of = {gold.review_item_id: gold.answer for gold in golds}
    shown = [tile["id"] for tile in tiles if tile["id"] in answer_of]
    assert len(shown) == 3
    for n, item_id in enumerate(shown):  # two right, one wrong
        right = answer_of[item_id] == Verdict.PRESENT
        verdict = ("present" if right else "absent") if n < 2 else ("absent" if right else "present")
        assert decide(annotator_client, item_id, verdict).status_code == 201
    # The dashboard's range ends yesterday (a day's figures are read once it is over).
    Decision.objects.filter(kind=Decision.Kind.GOLD).update(created_at=noon_aware(yesterday()))
    board = qa_client.get(reverse("audits:dashboard")).content.decode()
    gold_table = board.split('data-testid="gold-accuracy"')[1].split("</section>")[0]
    row = gold_table.split(f'data-gold-annotator="{annotator_user.username}"')[1].split("</tr>")[0]
    assert 'data-field="gold-accuracy">66.7%' in row
    assert "<tr data-annotator=" not in board  # no audit of this person: audit accuracy stays empty
    person = qa_client.get(reverse("audits:annotator", args=[annotator_user.pk])).content.decode()
    assert 'data-testid="gold-accuracy">66.7%' in person
    # The annotator's own page says nothing of gold items.
    own = annotator_client.get(reverse("audits:feedback")).content.decode()
    assert "gold" not in own.lower()
    assert ReviewItem.objects.filter(id__in=shown, status=ItemStatus.OPEN).count() == 0
