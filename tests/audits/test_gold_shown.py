"""Gold items read like real ones everywhere a person may look: reasons, the image page, a
reload after answering, the answer's labels, a queue's last items, a late answer."""

from __future__ import annotations

from django.urls import reverse

from annotator.audits.models import GoldItem
from annotator.audits.services.gold import gold_shown_fields
from annotator.cleaning.leases import leases_release_for_user
from annotator.cleaning.models import Decision, GoldShown, ItemStatus, ReviewItem, Verdict
from annotator.cleaning.services import decision_undo, queues_rerank
from tests.audits.gold_support import GOLD_IMAGES, decide, gold_ids, take
from tests.cleaning.support import evidence


def _review_batch(client, key="cat") -> dict:
    import json

    html = client.get(reverse("cleaning:review", args=[key])).content.decode()
    return json.loads(html.split('id="review-batch" type="application/json">')[1].split("</script>")[0])


def test_a_gold_tile_gives_the_reasons_of_an_open_item_with_the_same_evidence(settings, world, golds, annotator_client):
    # The gold images carry the same model evidence as the open ones; the rerank recomputes the
    # gold items' reasons from today's truth (the answer), marking keeps those of the old state.
    cat = world.label("cat")
    for i in GOLD_IMAGES:
        evidence(world.images[i], cat, world.model, 0.7)
    queues_rerank()
    for gold in golds:
        GoldItem.objects.filter(pk=gold.pk).update(
            **gold_shown_fields(item_id=gold.review_item_id, shown_state=gold.shown_state)
        )
    settings.AUDIT_GOLD_RATE = 0.5
    tiles = take(annotator_client)["items"]
    gold = [tile for tile in tiles if tile["id"] in gold_ids(golds)]
    real = [tile for tile in tiles if tile["id"] not in gold_ids(golds)]
    assert len(gold) >= 3
    expected = real[0]["reasons"]
    assert expected  # "the model disagrees with the dataset"
    assert all(tile["reasons"] == expected for tile in gold)
    # The order of the batch holds: highest priority first.
    priorities = [tile["priority"] for tile in tiles]
    assert priorities == sorted(priorities, reverse=True)


def test_the_image_page_of_a_gold_tile_reads_like_an_open_items(settings, world, golds, zelda, annotator_client):
    settings.AUDIT_GOLD_RATE = 0.5
    tiles = take(annotator_client)["items"]
    present_gold = {g.review_item_id for g in golds if g.answer == Verdict.PRESENT}
    tile = next(tile for tile in tiles if tile["id"] in present_gold)
    page = annotator_client.get(tile["detail_url"]).content.decode()
    # The verified answer (cat present) and who decided it are nowhere on the page.
    assert 'data-label="cat"' not in page.split('data-testid="image-history"')[0]
    history = page.split('data-testid="image-history"')[1]
    assert zelda.username not in page and 'data-label="cat"' not in history
    # Once answered, it reads as the person's own decision.
    assert decide(annotator_client, tile["id"], "absent").status_code == 201
    page = annotator_client.get(tile["detail_url"]).content.decode()
    assert 'data-label="cat" data-state="0"' in page
    assert zelda.username not in page


def test_an_answered_gold_tile_comes_back_like_a_decided_real_tile(settings, golds, annotator_client):
    settings.AUDIT_GOLD_RATE = 0.1
    first = _review_batch(annotator_client)
    gold = next(tile for tile in first["items"] if tile["id"] in gold_ids(golds))
    real = next(tile for tile in first["items"] if tile["id"] not in gold_ids(golds))
    assert decide(annotator_client, gold["id"], "present").status_code == 201
    assert decide(annotator_client, real["id"], "present").status_code == 201
    again = _review_batch(annotator_client)
    assert again["lease"] == first["lease"]
    tiles = {tile["id"]: tile for tile in again["items"]}
    assert [tile["id"] for tile in again["items"]] == [tile["id"] for tile in first["items"]]
    for tile in (tiles[gold["id"]], tiles[real["id"]]):
        assert (tile["status"], tile["dataset_state"], tile["my_verdict"]) == ("decided", 1, "present")
    assert tiles[gold["id"]].keys() == tiles[real["id"]].keys()


def test_a_gold_answer_lists_the_labels_a_real_decision_would_change(settings, world, golds, annotator_client):
    settings.AUDIT_GOLD_RATE = 0.5
    tiles = take(annotator_client)["items"]
    absent_gold = {g.review_item_id for g in golds if g.answer == Verdict.ABSENT}
    gold = next(tile for tile in tiles if tile["id"] in absent_gold)
    real = next(tile for tile in tiles if tile["id"] not in gold_ids(golds))
    answer = decide(annotator_client, gold["id"], "present").json()
    decided = decide(annotator_client, real["id"], "present").json()
    labels = [(label["key"], label["state"]) for label in decided["labels"]]
    assert labels == [("animal", 1), ("cat", 1)]  # cat implies animal
    assert [(label["key"], label["state"]) for label in answer["labels"]] == labels
    # Nothing was written: the image still lacks animal.
    from annotator.dataset.models import ImageLabel

    assert not ImageLabel.objects.filter(image_id=gold["image_id"], label=world.label("animal")).exists()


def test_near_the_end_of_a_queue_gold_never_outnumbers_the_real_items(settings, world, golds, annotator_client):
    settings.AUDIT_GOLD_RATE = 0.5
    ReviewItem.objects.filter(label=world.label("cat"), status=ItemStatus.OPEN).exclude(
        image__in=world.images[6:8]
    ).update(status=ItemStatus.CLOSED)
    tiles = take(annotator_client)["items"]
    gold = [tile for tile in tiles if tile["id"] in gold_ids(golds)]
    assert len(tiles) - len(gold) == 2 and len(gold) <= 2
    settings.AUDIT_GOLD_RATE = 0.1
    annotator_client.post(reverse("cleaning:api_lease_release", args=[take(annotator_client)["lease"]]))
    ReviewItem.objects.filter(label=world.label("cat"), status=ItemStatus.CLOSED).update(status=ItemStatus.OPEN)
    ReviewItem.objects.filter(label=world.label("cat"), status=ItemStatus.OPEN).exclude(
        image__in=world.images[8:10]
    ).update(status=ItemStatus.CLOSED)
    # Two real items at a tenth allow no gold one (2 × 0.1 / 0.9 < 1).
    tiles = take(annotator_client)["items"]
    assert len(tiles) == 2 and not {tile["id"] for tile in tiles} & gold_ids(golds)


def test_a_gold_item_whose_decision_was_undone_belongs_to_the_queue(settings, world, golds, zelda, annotator_client):
    gold = golds[0]
    decision_undo(user=zelda, decision=Decision.objects.get(item_id=gold.review_item_id, user=zelda))
    assert ReviewItem.objects.get(pk=gold.review_item_id).status == ItemStatus.OPEN
    settings.AUDIT_GOLD_RATE = 0.5
    take(annotator_client)
    assert not GoldShown.objects.filter(review_item_id=gold.review_item_id).exists()


def test_a_late_answer_after_the_batch_was_submitted_is_still_a_gold_answer(
    settings, golds, annotator_user, annotator_client
):
    settings.AUDIT_GOLD_RATE = 0.5
    batch = take(annotator_client)
    gold = next(tile for tile in batch["items"] if tile["id"] in gold_ids(golds))
    release = annotator_client.post(reverse("cleaning:api_lease_release", args=[batch["lease"]]))
    assert release.status_code == 200
    status_before = ReviewItem.objects.get(pk=gold["id"]).status
    late = decide(annotator_client, gold["id"], "present")
    assert late.status_code == 201
    assert Decision.objects.filter(item_id=gold["id"]).latest("id").kind == Decision.Kind.GOLD
    assert ReviewItem.objects.get(pk=gold["id"]).status == status_before
    # A second batch released on logout: the next gold tile's late answer is gold as well.
    batch = take(annotator_client)
    other = next(tile for tile in batch["items"] if tile["id"] in gold_ids(golds))
    leases_release_for_user(user=annotator_user)
    assert decide(annotator_client, other["id"], "absent").status_code == 201
    # Changing one's answer later, as one may change a decided real tile.
    assert decide(annotator_client, gold["id"], "absent").status_code == 201
    mine = Decision.objects.filter(user=annotator_user, item_id__in=[gold["id"], other["id"]])
    assert set(mine.values_list("kind", flat=True)) == {Decision.Kind.GOLD}
    assert ReviewItem.objects.filter(pk__in=[gold["id"], other["id"]], status=ItemStatus.CONFLICT).count() == 0
