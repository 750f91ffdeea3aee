"""The QA loop in Chromium, end to end: a QA lead draws yesterday's sample from the audits page
and audits it; a disagreement corrects the dataset label (with its history row) and lowers the
annotator's accuracy on the dashboard; the annotator then finds the mistake, the QA lead's note
and the label's guideline on their own feedback page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from annotator.accounts.roles import Role
from annotator.accounts.services import user_create_with_role
from annotator.audits.models import AuditItem
from annotator.audits.services import audit_judge
from annotator.cleaning.models import Verdict
from annotator.dataset.models import HistorySource, ImageLabel, LabelHistory
from annotator.taxonomy.models import Label
from tests.audits.support import audited, decided, yesterday
from tests.cleaning.support import world_make

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "persona-password-1"


def _login(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")


def _accuracy_of(page, live_server, username: str) -> str:
    page.goto(f"{live_server.url}/audits/dashboard/")
    return page.locator(f"tr[data-annotator={username}] [data-field=accuracy]").inner_text().strip()


def test_an_audit_disagreement_reaches_the_dashboard_and_the_annotator(live_server, browser, page, tmp_path):
    world = world_make(tmp_path / "images", images=6)
    Label.objects.filter(key="cat").update(guideline="Any **domestic cat**, also a drawing of one.")
    zelda = user_create_with_role(username="zelda", password=PASSWORD, role=Role.ANNOTATOR)
    olga = user_create_with_role(username="olga", password=PASSWORD, role=Role.QA_LEAD)
    # Two days ago: two decisions of zelda's, both upheld by QA (100 %).
    two_days_ago = yesterday() - timedelta(days=2)
    for image in world.images[:2]:
        audit_judge(user=olga, item=audited(user=zelda, image=image, label=world.label("tree"), day=two_days_ago),
                    verdict=Verdict.PRESENT)  # fmt: skip
    # Yesterday: zelda said "no cat" on image 2 (there is one) and "tree" on image 3 (right).
    wrong = decided(user=zelda, image=world.images[2], label=world.label("cat"), verdict=Verdict.ABSENT)
    decided(user=zelda, image=world.images[3], label=world.label("tree"), verdict=Verdict.PRESENT, minute=2)

    _login(page, live_server, "olga")
    assert _accuracy_of(page, live_server, "zelda") == "100.0%"
    page.goto(f"{live_server.url}/audits/")
    page.fill("input[name=start]", yesterday().isoformat())
    page.fill("input[name=end]", yesterday().isoformat())
    page.get_by_role("button", name="Draw").click()
    expect(page.locator(".messages")).to_contain_text(f"{yesterday().isoformat()} (2)")
    page.get_by_test_id("start").click()
    for _ in range(2):
        page.wait_for_selector("#audit[data-mode=judge]")
        item_id = int(page.locator("#audit").get_attribute("data-item"))
        page.keyboard.press("p")  # present, in both images
        expect(page.get_by_test_id("reveal")).to_be_visible()
        if item_id == AuditItem.objects.get(decision=wrong).pk:
            expect(page.get_by_test_id("outcome")).to_contain_text("You disagree")
            page.keyboard.press("1")  # misread the guideline
            page.get_by_test_id("note").fill("Cartoon cats count too: see the guideline.")
            page.get_by_test_id("note").press("Escape")
            page.keyboard.press("Enter")
            expect(page.get_by_test_id("changes").locator("li[data-key=cat]")).to_be_visible()
        else:
            expect(page.get_by_test_id("outcome")).to_contain_text("Agreed")
        page.keyboard.press("n")
    expect(page.get_by_test_id("nothing-left")).to_be_visible()

    # The dataset label is corrected, with the audit's history row beside the annotator's.
    cat = world.label("cat")
    assert ImageLabel.objects.get(image=world.images[2], label=cat).state == 1
    rows = list(LabelHistory.objects.filter(image=world.images[2], label=cat).order_by("id"))
    assert [(r.source, r.old_state, r.new_state) for r in rows][-2:] == [
        (HistorySource.ANNOTATOR, None, 0),
        (HistorySource.AUDIT, 0, 1),
    ]
    assert rows[-1].user_id == olga.pk
    # 3 of 4 upheld now: below the 90 % target, highlighted.
    assert _accuracy_of(page, live_server, "zelda") == "75.0%"
    expect(page.locator("tr[data-annotator=zelda]")).to_have_class("below-target")
    expect(page.locator("tr[data-annotator=zelda] [data-testid=below-target]")).to_be_visible()

    # The annotator sees the mistake, the note and the guideline on their feedback page.
    context = browser.new_context(locale="en-US")
    mine = context.new_page()
    mine.set_default_timeout(15_000)
    _login(mine, live_server, "zelda")
    mine.locator("nav").get_by_role("link", name="My audits").click()
    mistake = mine.get_by_test_id("mistake")
    expect(mistake).to_have_count(1)
    expect(mistake.locator("[data-field=note]")).to_have_text("Cartoon cats count too: see the guideline.")
    expect(mistake.locator("[data-field=reason]")).to_have_text("misread the guideline")
    expect(mistake.locator("[data-field=guideline]")).to_contain_text("domestic cat")
    # ... and never the QA pages.
    response = mine.goto(f"{live_server.url}/audits/dashboard/")
    assert response is not None and response.status == 403
    context.close()
