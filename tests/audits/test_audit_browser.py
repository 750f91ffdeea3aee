"""In Chromium a QA lead audits yesterday's sample with the keyboard: blind verdicts, an agreement,
a disagreement with its reason, note and correction (relation rules included), and a second
QA lead's blind second look that sides with the annotator and undoes the correction."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from annotator.accounts.roles import Role
from annotator.accounts.services import user_create_with_role
from annotator.audits.models import AuditItem
from annotator.audits.services import sample_draw
from annotator.cleaning.models import Verdict
from annotator.dataset.models import ImageLabel
from annotator.taxonomy.models import Label
from tests.audits.support import decided, yesterday
from tests.cleaning.support import world_make

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


def test_qa_leads_audit_with_the_keyboard(live_server, browser, page, tmp_path):
    world = world_make(tmp_path / "images", images=2)
    forest, cat = world.label("forest"), world.label("cat")
    Label.objects.filter(pk=forest.pk).update(guideline="Many **trees** growing together.")
    zelda = user_create_with_role(username="zelda_annotates", password=PASSWORD, role=Role.ANNOTATOR)
    user_create_with_role(username="olga", password=PASSWORD, role=Role.QA_LEAD)
    user_create_with_role(username="quinn", password=PASSWORD, role=Role.QA_LEAD)
    missed, _right = world.images
    decided(user=zelda, image=missed, label=forest, verdict=Verdict.ABSENT)
    decided(user=zelda, image=world.images[1], label=cat, verdict=Verdict.PRESENT)
    sample_draw(day=yesterday(), rate=1.0, minimum=0)
    forest_item = AuditItem.objects.get(label=forest)

    _login(page, live_server, "olga")
    page.get_by_role("link", name="Audits", exact=True).click()
    expect(page.locator("[data-testid=audit-totals] [data-field=pending]")).to_have_text("2")
    page.get_by_test_id("start").click()
    for _ in range(2):
        page.wait_for_selector("#audit[data-mode=judge]")
        assert "zelda_annotates" not in page.content()  # blind: not even in the source
        expect(page.get_by_test_id("reveal")).to_be_hidden()
        item_id = int(page.locator("#audit").get_attribute("data-item"))
        page.keyboard.press("p")
        reveal = page.get_by_test_id("reveal")
        expect(reveal).to_be_visible()
        expect(reveal.get_by_test_id("annotator-verdict")).to_be_visible()
        assert "zelda_annotates" in reveal.inner_text()
        if item_id != forest_item.pk:
            expect(page.get_by_test_id("outcome")).to_contain_text("Agreed")
            expect(page.get_by_test_id("reason-form")).to_be_hidden()
            page.keyboard.press("Enter")
            continue
        # The guideline was there all along; the annotator said absent, the QA lead present.
        assert "trees" in page.get_by_test_id("guideline").inner_text()
        expect(reveal.get_by_test_id("annotator-verdict")).to_contain_text("absent")
        expect(page.get_by_test_id("outcome")).to_contain_text("You disagree")
        page.keyboard.press("4")  # missed a small or hidden instance
        expect(page.locator("input[name=reason][value=missed]")).to_be_checked()
        page.get_by_test_id("note").click()
        page.keyboard.type("forest at the back")
        page.keyboard.press("Escape")
        page.keyboard.press("s")  # ask for a second look
        page.keyboard.press("Enter")
        changes = page.get_by_test_id("changes")
        expect(changes).to_be_visible()
        for key in ("forest", "tree", "outdoor"):
            expect(changes.locator(f"li[data-key={key}]")).to_be_visible()
        expect(changes.locator("li[data-key=tree]")).to_contain_text("relation rule")
        expect(page.get_by_test_id("outcome")).to_contain_text("Overturned")
        expect(page.get_by_test_id("outcome")).to_contain_text("second look")
        assert _states(missed) == {"forest": 1, "scene": 1, "tree": 1, "plant": 1, "outdoor": 1}
        page.keyboard.press("n")
    expect(page.get_by_test_id("nothing-left")).to_be_visible()
    forest_item.refresh_from_db()
    assert (forest_item.agrees, forest_item.reason, forest_item.note) == (False, "missed", "forest at the back")
    assert forest_item.second_look_requested
    assert AuditItem.objects.get(label=cat).agrees is True

    # Another QA lead looks again, blind to both verdicts, and sides with the annotator.
    context = browser.new_context(locale="en-US")
    second = context.new_page()
    second.set_default_timeout(15_000)
    _login(second, live_server, "quinn")
    second.goto(f"{live_server.url}/audits/next/")
    second.wait_for_selector("#audit[data-mode=second]")
    source = second.content()
    assert "zelda_annotates" not in source and "olga" not in source and "forest at the back" not in source
    second.keyboard.press("a")
    reveal = second.get_by_test_id("reveal")
    expect(reveal.get_by_test_id("second-verdict")).to_contain_text("absent")
    expect(reveal.get_by_test_id("qa-verdict")).to_contain_text("present")
    expect(reveal.get_by_test_id("verdicts")).to_contain_text("QA lead (olga)")
    expect(reveal.get_by_test_id("verdicts")).to_contain_text("Annotator (zelda_annotates)")
    expect(second.get_by_test_id("outcome")).to_contain_text("correction was undone")
    expect(second.get_by_test_id("changes").locator("li[data-source=revert]").first).to_be_visible()
    assert _states(missed) == {"forest": 0}
    context.close()
