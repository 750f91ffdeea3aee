"""A demo user logs in through the real login page in Chromium."""

from __future__ import annotations

import pytest

from annotator.accounts.services import DEMO_USERS, demo_users_ensure

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_login_page_renders_and_demo_user_logs_in(live_server, page):
    demo_users_ensure()
    demo = next(d for d in DEMO_USERS if d.username == "annotator")

    page.goto(f"{live_server.url}/")
    assert "/login/" in page.url, "anonymous visitors are sent to the login page"
    assert page.locator("h1").inner_text() == "Log in to LabelLoop"

    page.fill("#id_username", demo.username)
    page.fill("#id_password", "wrong password")
    page.click("button[type=submit]")
    assert page.get_by_role("alert").is_visible()

    page.fill("#id_username", demo.username)
    page.fill("#id_password", demo.password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    assert page.get_by_test_id("username").inner_text() == "annotator"
    assert page.get_by_test_id("overview").is_visible()


def test_user_switches_the_interface_to_chinese(live_server, page):
    demo_users_ensure()
    demo = next(d for d in DEMO_USERS if d.username == "qalead")
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", demo.username)
    page.fill("#id_password", demo.password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    with page.expect_navigation():
        page.select_option("select[name=language]", "zh-hans")
    assert "欢迎" in page.locator("h1").inner_text()
    # The choice is the user's: a new login keeps it.
    page.goto(f"{live_server.url}/taxonomy/")
    assert "标签体系" in page.locator("h1").inner_text()
