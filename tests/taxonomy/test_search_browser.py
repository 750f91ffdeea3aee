"""The taxonomy page's search box in Chromium: filters as you type, "/" focuses it."""

from __future__ import annotations

import pytest

from annotator.accounts.roles import Role
from annotator.accounts.services import user_create_with_role
from annotator.taxonomy.services import taxonomy_load
from tests.taxonomy.sample import sample_taxonomy

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _visible_keys(page) -> list[str]:
    return page.eval_on_selector_all(
        "#taxonomy-tree li[data-key]:not([hidden])", "rows => rows.map(r => r.dataset.key)"
    )


def test_search_filters_by_english_chinese_or_key_and_keeps_ancestors(live_server, page):
    taxonomy_load(data=sample_taxonomy(), source="sample.json")
    user_create_with_role(username="ann", password="persona-password-1", role=Role.ANNOTATOR)
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "ann")
    page.fill("#id_password", "persona-password-1")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}/taxonomy/")
    assert len(_visible_keys(page)) == 16

    page.locator("body").press("/")
    assert page.evaluate("document.activeElement.id") == "taxonomy-search"
    page.keyboard.type("Scottish")
    assert _visible_keys(page) == ["animal", "cat", "fold_eared_cat"]  # the match and its ancestors
    assert page.locator("li[data-key=fold_eared_cat]").get_attribute("class").count("tax-match") == 1
    assert page.get_by_test_id("taxonomy-count").inner_text().startswith("1 / 16")

    page.fill("#taxonomy-search", "森林")
    assert _visible_keys(page) == ["scene", "forest"]
    page.fill("#taxonomy-search", "RING")
    assert _visible_keys(page) == ["object", "ring"]
    page.fill("#taxonomy-search", "nothing-like-this")
    assert _visible_keys(page) == []
    assert page.locator("#taxonomy-empty").is_visible()
    page.locator("#taxonomy-search").press("Escape")
    assert len(_visible_keys(page)) == 16
