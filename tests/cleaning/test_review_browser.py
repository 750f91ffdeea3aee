"""In Chromium an annotator works a label's queue with the keyboard: the three sources on each
tile, decisions that change the image's labels and history (relation rules included), undo,
the guideline, the image page with a label added by its Chinese name, and the next page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from annotator.accounts.roles import Role
from annotator.accounts.services import user_create_with_role
from annotator.cleaning.models import Decision, ReviewItem
from annotator.cleaning.services import queues_rerank
from annotator.dataset.models import EvidenceSource, ImageLabel, LabelHistory
from annotator.taxonomy.models import Label
from tests.cleaning.support import evidence, truth, world_make

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "persona-password-1"


def _states(image) -> dict[str, int]:
    return dict(ImageLabel.objects.filter(image=image).values_list("label__key", "state"))


def _login(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")


def _focused_item(page) -> int:
    return int(page.locator(".rv-tile.rv-focus").get_attribute("data-item"))


def test_annotator_reviews_a_queue_with_the_keyboard(live_server, page, tmp_path, settings):
    settings.CLEANING_LEASE_SECONDS = 15  # the page renews every 5 s (a third of it, at least 5 s)
    renewals: list[str] = []
    page.on("response", lambda response: renewals.append(response.url) if "/renew/" in response.url else None)
    world = world_make(tmp_path / "images", images=3)
    fold = world.label("fold_eared_cat")
    Label.objects.filter(pk=fold.pk).update(guideline="Ears **folded** forward. Tag *cat* too.")
    google = EvidenceSource.objects.create(kind="competitor", name="google")
    a, b, c = world.images
    # a: the dataset says nothing; the model and baidu both say fold-eared cat.
    evidence(a, fold, world.model, 0.92)
    evidence(a, fold, world.competitor, 0.85, keyword="折耳猫")
    # b: the dataset says yes (with its closure); the model doubts it; google says "cat".
    for key in ("fold_eared_cat", "cat", "animal"):
        truth(b, world.label(key), 1)
    evidence(b, fold, world.model, 0.08, suggested=False)
    evidence(b, fold, google, 0.41, keyword="cat")
    # c: everyone agrees.
    for key in ("fold_eared_cat", "cat", "animal"):
        truth(c, world.label(key), 1)
    evidence(c, fold, world.model, 0.97)
    evidence(c, fold, world.competitor, 0.9, keyword="折耳猫")
    queues_rerank()
    user = user_create_with_role(username="ann", password=PASSWORD, role=Role.ANNOTATOR)

    _login(page, live_server, "ann")
    page.get_by_role("link", name="Cleaning").click()
    page.locator("tr[data-label=fold_eared_cat] a").first.click()
    page.wait_for_selector(".rv-tile")
    tiles = page.locator(".rv-tile")
    assert tiles.count() == 3

    # The three sources on each tile.
    by_image = {}
    for i in range(3):
        tile = tiles.nth(i)
        item = ReviewItem.objects.get(pk=int(tile.get_attribute("data-item")))
        by_image[item.image_id] = tile
    assert "none" in by_image[a.pk].get_by_test_id("dataset").inner_text()
    assert "0.92" in by_image[a.pk].get_by_test_id("model").inner_text()
    assert "折耳猫 0.85" in by_image[a.pk].get_by_test_id("competitor").inner_text()
    assert "✓" in by_image[b.pk].get_by_test_id("dataset").inner_text()
    assert "0.08" in by_image[b.pk].get_by_test_id("model").inner_text()
    assert "google: cat 0.41" in by_image[b.pk].get_by_test_id("competitor").inner_text()
    assert "the model disagrees" in by_image[b.pk].get_by_test_id("reasons").inner_text()
    assert "0.97" in by_image[c.pk].get_by_test_id("model").inner_text()

    # The guideline is one key away.
    page.keyboard.press("g")
    assert page.get_by_test_id("guideline").is_visible()
    assert "folded" in page.get_by_test_id("guideline").inner_text()
    page.keyboard.press("g")
    assert not page.get_by_test_id("guideline").is_visible()

    # Move to image a and mark it present: the dataset gains fold-eared cat, cat and animal.
    order = [int(tiles.nth(i).get_attribute("data-item")) for i in range(3)]
    item_a = ReviewItem.objects.get(image=a, label=fold).pk
    page.keyboard.press("l")
    page.keyboard.press("h")
    for _ in range(order.index(item_a)):
        page.keyboard.press("ArrowRight")
    assert _focused_item(page) == item_a
    page.keyboard.press("1")
    tile_a = page.locator(f".rv-tile[data-item='{item_a}']")
    tile_a.get_by_test_id("verdict").get_by_text("present").wait_for()
    assert "✓" in tile_a.get_by_test_id("dataset").inner_text()
    assert _states(a) == {"fold_eared_cat": 1, "cat": 1, "animal": 1}
    decision = Decision.objects.get(item_id=item_a)
    history = {h.label.key: h.source for h in LabelHistory.objects.filter(image=a).select_related("label")}
    assert history == {"fold_eared_cat": "annotator", "cat": "relation", "animal": "relation"}
    assert decision.user == user and decision.time_spent_ms > 0

    # Undo (z) restores them, with revert rows in the history.
    page.keyboard.press("z")
    page.get_by_test_id("toast").get_by_text("Undone.").wait_for()
    expect(tile_a).to_have_attribute("data-verdict", "")
    assert _states(a) == {}
    assert LabelHistory.objects.filter(image=a, source="revert").count() == 3

    # Image b: the model was right, the dataset wrong: absent (2).
    item_b = ReviewItem.objects.get(image=b, label=fold).pk
    page.locator(f".rv-tile[data-item='{item_b}']").click()
    page.keyboard.press("a")
    page.locator(f".rv-tile[data-item='{item_b}']").get_by_test_id("verdict").get_by_text("absent").wait_for()
    assert _states(b) == {"fold_eared_cat": 0, "cat": 1, "animal": 1}

    # Image a again, present with Ctrl+Z undone by Ctrl+Z, then present for good.
    page.locator(f".rv-tile[data-item='{item_a}']").click()
    page.keyboard.press("p")
    tile_a.get_by_test_id("verdict").get_by_text("present").wait_for()
    page.keyboard.press("Control+z")
    expect(tile_a).to_have_attribute("data-verdict", "")
    assert _states(a) == {}
    page.keyboard.press("p")
    tile_a.get_by_test_id("verdict").get_by_text("present").wait_for()
    assert _states(a) == {"fold_eared_cat": 1, "cat": 1, "animal": 1}

    # Deciding moved the focus on to the next open image (c). Back to a, open it (o), and add
    # "forest" by its Chinese name: tree and outdoor follow.
    assert _focused_item(page) == ReviewItem.objects.get(image=c, label=fold).pk
    tile_a.get_by_test_id("model").click()
    page.keyboard.press("o")
    page.wait_for_url(f"**/cleaning/images/{a.pk}/**")
    assert page.get_by_test_id("original").evaluate("img => img.naturalWidth") == 48
    assert "折耳猫" in page.get_by_test_id("image-labels").inner_text()
    page.get_by_test_id("label-search").fill("森林")
    page.locator("[data-testid=label-results] button[data-key=forest]").click()
    page.get_by_test_id("label-add-status").get_by_text("Added").wait_for()
    assert _states(a)["forest"] == 1 and _states(a)["tree"] == 1 and _states(a)["outdoor"] == 1
    page.get_by_test_id("back").click()
    page.wait_for_selector(".rv-tile")
    # Back on the same batch: decisions still shown.
    assert page.locator(f".rv-tile[data-item='{item_a}']").get_attribute("data-verdict") == "present"

    # While the page is open its lease is renewed.
    if not renewals:
        with page.expect_response("**/renew/", timeout=8000):
            pass
    lease = ReviewItem.objects.get(pk=item_a).lease
    assert lease.expires_at > lease.created_at + timedelta(seconds=15)

    # Enter: the undecided item goes back to the queue, and the queue is done for now.
    page.keyboard.press("Enter")
    page.get_by_test_id("empty").wait_for()
    item_c = ReviewItem.objects.get(image=c, label=fold)
    assert item_c.leased_by is None and item_c.status == 0
