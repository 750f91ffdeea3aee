"""In Chromium a QA lead reads a queue and gives a second opinion that differs from the
annotator's decision: kept beside it, surfaced as a conflict, the dataset untouched."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from annotator.accounts.roles import Role
from annotator.accounts.services import user_create_with_role
from annotator.cleaning.leases import lease_take
from annotator.cleaning.models import Decision, ItemStatus, ReviewItem, Verdict
from annotator.cleaning.services import decision_record, queues_rerank
from annotator.dataset.models import ImageLabel
from tests.cleaning.support import truth, world_make

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "persona-password-1"


def test_qa_lead_gives_a_differing_second_opinion(live_server, page, tmp_path):
    world = world_make(tmp_path / "images", images=2)
    cat = world.label("cat")
    truth(world.images[0], cat, 1)
    queues_rerank(label_ids=[cat.pk])
    annotator = user_create_with_role(username="ann", password=PASSWORD, role=Role.ANNOTATOR)
    user_create_with_role(username="qa", password=PASSWORD, role=Role.QA_LEAD)
    lease_take(user=annotator, label=cat)
    item = ReviewItem.objects.get(image=world.images[0], label=cat)
    decision_record(user=annotator, item=item, verdict=Verdict.ABSENT)

    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "qa")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}/cleaning/labels/cat/items/")
    row = page.locator(f"tr[data-item='{item.pk}']")
    assert "ann: absent" in row.inner_text()
    row.get_by_role("button", name="present").click()
    expect(row.get_by_test_id("opinion")).to_contain_text("second opinion")

    item.refresh_from_db()
    assert item.status == ItemStatus.CONFLICT
    second = Decision.objects.get(item=item, kind=Decision.Kind.SECOND_OPINION)
    assert second.agrees is False and second.verdict == Verdict.PRESENT
    assert ImageLabel.objects.get(image=world.images[0], label=cat).state == 0  # the first decision stands
    page.goto(f"{live_server.url}/cleaning/labels/cat/items/?status=conflict")
    assert page.locator("tr[data-item]").count() == 1
