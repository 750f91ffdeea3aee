"""Pointing the settings at a provider-compatible server on loopback is all it takes: the
competitor's keywords, mapped onto our labels, appear on the tiles of the cleaning queue next
to the dataset's and the model's labels.

The chain is the real one: the fetch job calls the fake Baidu and Google servers through the
real clients, maps their answers into evidence, sends the queue re-rank by its task name (run
here as a worker would run it), and an annotator opens the label's queue in Chromium.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from celery import current_app

import annotator.cleaning.tasks  # noqa: F401 - registers the re-rank task a worker finds by autodiscovery
from annotator.accounts.roles import Role
from annotator.accounts.services import user_create_with_role
from annotator.cleaning.models import ReviewItem
from annotator.dataset.models import Evidence
from annotator.sources import services as source_services
from annotator.taxonomy.models import ExternalLabelMapping
from tests.cleaning.support import evidence, truth, world_make
from tests.sources.support import fake_provider, fetch_now, sha  # noqa: F401 - fake_provider is a fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "persona-password-1"
CAT_MID = "/m/01yrx"


def test_competitor_keywords_appear_on_the_queue_tiles(live_server, page, tmp_path, fake_provider, monkeypatch):  # noqa: F811
    world = world_make(tmp_path / "images", images=3)
    cat = world.label("cat")
    a, b, c = world.images
    data = {image.pk: Path(image.storage_root, image.relative_path).read_bytes() for image in world.images}
    # Baidu's keywords; only 猫 is mapped (沙发 stays in the unmapped report).
    fake_provider.baidu_answers[sha(data[a.pk])] = [("猫", 0.93, "动物-猫"), ("沙发", 0.71, "家居-沙发")]
    fake_provider.baidu_answers[sha(data[b.pk])] = [("猫", 0.31, "动物-猫")]  # under the mapping's minimum
    fake_provider.baidu_answers[sha(data[c.pk])] = []
    # Google's MIDs map through the Open Images mapping, no keyword table needed.
    fake_provider.google_answers[sha(data[a.pk])] = []
    fake_provider.google_answers[sha(data[b.pk])] = [(CAT_MID, "Cat", 0.97)]
    fake_provider.google_answers[sha(data[c.pk])] = []
    ExternalLabelMapping.objects.create(source="baidu", external_id="猫", label=cat, min_score=0.5)
    ExternalLabelMapping.objects.create(source="openimages", external_id=CAT_MID, external_name="Cat", label=cat)
    # The dataset and the model have their say too.
    for key in ("cat", "animal"):
        truth(c, world.label(key), 1)
    evidence(a, cat, world.model, 0.88)
    evidence(c, cat, world.model, 0.12, suggested=False)

    # Jobs run in this process; what they send to a broker runs here too, as a worker would.
    monkeypatch.setattr(source_services, "fetch_job_enqueue", lambda **kwargs: None)
    sent: list[str] = []
    send_to_broker = current_app.send_task

    def send_task(name: str, args=None, kwargs=None, **options):
        if not name.startswith("annotator.cleaning."):
            return send_to_broker(name, args=args, kwargs=kwargs, **options)
        sent.append(name)
        return current_app.tasks[name].apply(args=args or (), kwargs=kwargs or {})

    monkeypatch.setattr(current_app, "send_task", send_task)
    assert fetch_now("baidu").status == "succeeded"
    assert fetch_now("google").status == "succeeded"
    assert "annotator.cleaning.tasks.queues_rerank" in sent
    rows = Evidence.objects.filter(source__kind="competitor").values_list("image_id", "keyword", "score")
    assert {(image_id, keyword, round(score, 2)) for image_id, keyword, score in rows} == {
        (a.pk, "猫", 0.93),
        (b.pk, "Cat", 0.97),
    }
    assert set(ReviewItem.objects.filter(label=cat).values_list("image_id", flat=True)) == {a.pk, b.pk, c.pk}

    user_create_with_role(username="ann", password=PASSWORD, role=Role.ANNOTATOR)
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "ann")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    page.get_by_role("link", name="Cleaning").click()
    page.locator("tr[data-label=cat] a").first.click()
    page.wait_for_selector(".rv-tile")
    tiles = page.locator(".rv-tile")
    assert tiles.count() == 3
    by_image = {}
    for i in range(3):
        tile = tiles.nth(i)
        by_image[ReviewItem.objects.get(pk=int(tile.get_attribute("data-item"))).image_id] = tile

    competitor = {image_id: tile.get_by_test_id("competitor").inner_text() for image_id, tile in by_image.items()}
    assert "猫" in competitor[a.pk] and "0.93" in competitor[a.pk]
    assert "沙发" not in competitor[a.pk]  # unmapped keywords stay off the tiles
    assert "google" in competitor[b.pk] and "Cat" in competitor[b.pk] and "0.97" in competitor[b.pk]
    assert "猫" not in competitor[b.pk]  # Baidu's 0.31 was under the mapping's minimum
    assert "猫" not in competitor[c.pk] and "Cat" not in competitor[c.pk]
    # ... next to the dataset's and the model's labels.
    assert "✓" in by_image[c.pk].get_by_test_id("dataset").inner_text()
    assert "0.88" in by_image[a.pk].get_by_test_id("model").inner_text()
    assert "0.12" in by_image[c.pk].get_by_test_id("model").inner_text()
