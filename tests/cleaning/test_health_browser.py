"""A QA lead sorts the label health table in Chromium (static/js/health.js) by clicking its headers."""

from __future__ import annotations

import pytest

from tests.cleaning.health_fixture import health_world_make
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def order(page) -> list[str]:
    return page.locator("#health-table tbody tr[data-label]").evaluate_all("rows => rows.map(r => r.dataset.label)")


def test_columns_sort_both_ways(live_server, page, tmp_path, annotator_user, qa_user, settings):
    settings.CLEANING_ENOUGH_DATA_COUNT = 5
    health_world_make(tmp_path / "img", annotator_user, qa_user)
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", qa_user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    page.click("nav >> text=Label health")
    first = order(page)
    assert first[:2] == ["dog", "cat"]  # highest priority first, as the server sorted them

    page.click("th[data-col=positives] button")
    assert order(page)[:2] == ["cat", "dog"]  # 6 positives, then 2
    assert page.locator("th[data-col=positives]").get_attribute("aria-sort") == "descending"
    page.click("th[data-col=positives] button")
    assert order(page)[-2:] == ["dog", "cat"]
    assert page.locator("th[data-col=positives]").get_attribute("aria-sort") == "ascending"

    page.click("th[data-col=decision-error] button")
    assert order(page)[0] == "cat"  # the only label with decisions; "—" rows sort last
    page.click("th[data-col=label] button")
    labels = order(page)
    assert labels == sorted(labels)
