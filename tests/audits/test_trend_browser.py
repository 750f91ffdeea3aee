"""The trend charts draw in Chromium (static/js/audit_trend.js): a point per day with its interval
whisker, the target line, y from 0 to 100 %; points below the target stand out."""

from __future__ import annotations

import pytest

from tests.audits.accuracy_fixture import END, START, audited_world_make
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_trend_charts_draw_points_whiskers_and_the_target(live_server, page, world, annotator_user, qa_user):
    audited_world_make(world, ann=annotator_user, qa=qa_user)
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", qa_user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    page.click("nav >> text=QA accuracy")
    page.fill("#id_start", START.isoformat())
    page.fill("#id_end", END.isoformat())
    page.click("form[data-testid=range-form] button[type=submit]")
    chart = page.locator('[data-testid="trend-ann"] svg.trend')
    chart.wait_for()
    assert chart.locator("g.period").count() == 3  # 2024-03-04, 03-05, 03-11
    assert chart.locator("circle.point.below").count() == 2  # 3 / 4 on 03-04, 2 / 3 on 03-11
    assert chart.locator("line.target").count() == 1
    # y runs from 0 % at the bottom to 100 % at the top: the target (90 %) is near the top,
    # the Monday point (75 %) below it, Tuesday's (100 %) on the top edge
    target_y = float(chart.locator("line.target").get_attribute("y1"))
    monday = chart.locator('g.period[data-day="2024-03-04"] circle')
    tuesday = chart.locator('g.period[data-day="2024-03-05"] circle')
    assert float(tuesday.get_attribute("cy")) < target_y < float(monday.get_attribute("cy"))
    tip = chart.locator('g.period[data-day="2024-03-04"] title').text_content()
    assert tip == "2024-03-04: 3/4 = 75.0% (95%: 30.1%–95.4%)"

    page.click('tr[data-annotator="ann"] a')
    big = page.locator('[data-testid="trend-person"] svg.trend')
    big.wait_for()
    assert big.locator("g.period").count() == 3
    assert page.locator('[data-testid="trend-person"] svg text').first.text_content() == "0%"
