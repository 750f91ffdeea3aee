"""The audit pages and API: blind until judged, who may enter, the answers of each step."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from annotator.accounts.roles import Role
from annotator.accounts.services import user_create_with_role
from annotator.audits.models import AuditItem, AuditSample
from annotator.audits.services.sampling import today_local
from annotator.cleaning.models import Verdict
from annotator.dataset.models import LabelHistory
from tests.audits.support import audited, decided, yesterday

PASSWORD = "persona-password-1"


@pytest.fixture
def zelda(db):
    """An annotator whose name appears nowhere else on the page."""
    return user_create_with_role(username="zelda_annotates", password=PASSWORD, role=Role.ANNOTATOR)


@pytest.fixture
def quinn(db):
    """A second QA lead, with a name that appears nowhere else on the page."""
    return user_create_with_role(username="quinn_checks", password=PASSWORD, role=Role.QA_LEAD)


@pytest.fixture
def forest_item(world, zelda):
    """zelda said: no forest on image 0."""
    return audited(user=zelda, image=world.images[0], label=world.label("forest"), verdict=Verdict.ABSENT)


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _page(client: Client, item: AuditItem) -> str:
    response = client.get(reverse("audits:item", args=[item.pk]))
    assert response.status_code == 200
    return response.content.decode()


def _without_tokens(html: str) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)


def _post(client: Client, name: str, item: AuditItem, **body):
    return client.post(reverse(f"audits:{name}", args=[item.pk]), body, content_type="application/json")


# --- blind ------------------------------------------------------------------------------------


def test_the_audit_page_is_blind_until_the_qa_lead_judged(qa_client, forest_item):
    html = _page(qa_client, forest_item)
    assert "zelda_annotates" not in html
    assert "audit-revealed" not in html
    assert 'data-mode="judge"' in html and "forest" in html.lower()
    # The page does not depend on the annotator's verdict at all: flip it, the source is the same.
    AuditItem.objects.filter(pk=forest_item.pk).update(annotator_verdict=Verdict.PRESENT)
    assert _without_tokens(_page(qa_client, forest_item)) == _without_tokens(html)

    AuditItem.objects.filter(pk=forest_item.pk).update(annotator_verdict=Verdict.ABSENT)
    assert _post(qa_client, "api_judge", forest_item, verdict="present").status_code == 200
    html = _page(qa_client, forest_item)
    assert "zelda_annotates" in html and 'id="audit-revealed"' in html and 'data-mode="reveal"' in html


def test_the_second_look_is_blind_to_both_earlier_verdicts(quinn, forest_item):
    olga = _client(user_create_with_role(username="olga_judges", password=PASSWORD, role=Role.QA_LEAD))
    _post(olga, "api_judge", forest_item, verdict="present")
    note = "hidden forest behind the barn"
    _post(olga, "api_explain", forest_item, reason="missed", note=note, second_look=True)
    quinn_client = _client(quinn)
    html = _page(quinn_client, forest_item)
    assert 'data-mode="second"' in html
    for secret in ("zelda_annotates", "olga_judges", note, "audit-revealed"):
        assert not re.search(rf"\b{secret}\b", html), secret
    # Nor does it depend on either verdict or the reason (whose names the reason picker lists anyway).
    flipped = {"annotator_verdict": Verdict.PRESENT, "qa_verdict": Verdict.ABSENT, "reason": "other"}
    AuditItem.objects.filter(pk=forest_item.pk).update(**flipped)
    assert _without_tokens(_page(quinn_client, forest_item)) == _without_tokens(html)
    AuditItem.objects.filter(pk=forest_item.pk).update(
        annotator_verdict=Verdict.ABSENT, qa_verdict=Verdict.PRESENT, reason="missed"
    )

    # The second look reveals both earlier verdicts and undoes the correction when siding with zelda.
    answer = _post(quinn_client, "api_second_look", forest_item, verdict="absent").json()
    assert answer["annotator"] == "zelda_annotates" and answer["annotator_verdict"] == "absent"
    assert answer["qa_user"] == "olga_judges" and answer["qa_verdict"] == "present" and answer["note"] == note
    assert answer["second_user"] == "quinn_checks" and answer["second_verdict"] == "absent"
    assert answer["agrees"] is True and answer["corrected"] is False
    assert {c["source"] for c in answer["changes"]} == {"audit", "relation", "revert"}


def test_an_item_another_qa_lead_is_explaining_reveals_nothing(qa_client, quinn, forest_item):
    _post(qa_client, "api_judge", forest_item, verdict="present")
    html = _page(_client(quinn), forest_item)
    assert 'data-testid="busy"' in html
    assert "zelda_annotates" not in html and "audit-revealed" not in html


# --- the API ----------------------------------------------------------------------------------


def test_judging_reveals_the_annotator_and_a_double_submit_is_409(qa_client, forest_item):
    answer = _post(qa_client, "api_judge", forest_item, verdict="present")
    assert answer.status_code == 200
    data = answer.json()
    assert data["annotator"] == "zelda_annotates" and data["annotator_verdict"] == "absent"
    assert data["qa_verdict"] == "present" and data["agrees"] is False
    assert data["status"] == "awaiting_reason" and data["mine"] is True and data["changes"] == []

    again = _post(qa_client, "api_judge", forest_item, verdict="absent")
    assert again.status_code == 409 and "judged already" in again.json()["detail"]
    forest_item.refresh_from_db()
    assert forest_item.qa_verdict == Verdict.PRESENT


def test_agreeing_finishes_the_item(world, qa_client, zelda):
    item = audited(user=zelda, image=world.images[1], label=world.label("cat"), verdict=Verdict.PRESENT)
    data = _post(qa_client, "api_judge", item, verdict="present").json()
    assert (data["status"], data["agrees"], data["annotator_verdict"]) == ("done", True, "present")
    assert data["next_url"] == reverse("audits:next")


def test_explaining_lists_the_correction_and_a_second_submit_changes_nothing(qa_client, forest_item):
    _post(qa_client, "api_judge", forest_item, verdict="present")
    answer = _post(qa_client, "api_explain", forest_item, reason="missed", note="look left")
    assert answer.status_code == 200
    data = answer.json()
    assert (data["status"], data["agrees"], data["corrected"], data["reason"]) == ("done", False, True, "missed")
    assert data["reason_label"] == "missed a small or hidden instance"
    changes = {c["key"]: (c["source"], c["old_state"], c["new_state"]) for c in data["changes"]}
    assert changes["forest"] == ("audit", 0, 1)
    assert data["changes"][0]["key"] == "forest"  # the judged label first, then what it implies
    assert changes["tree"] == ("relation", None, 1) and changes["outdoor"] == ("relation", None, 1)

    rows = LabelHistory.objects.count()
    again = _post(qa_client, "api_explain", forest_item, reason="other")
    assert again.status_code == 409 and again.json()["detail"]
    assert LabelHistory.objects.count() == rows
    assert _post(qa_client, "api_withdraw", forest_item).status_code == 409


def test_withdrawing_through_the_api(qa_client, forest_item):
    _post(qa_client, "api_judge", forest_item, verdict="present")
    data = _post(qa_client, "api_withdraw", forest_item).json()
    assert (data["status"], data["agrees"], data["changes"]) == ("done", True, [])


def test_bad_input_is_400_and_changes_nothing(qa_client, forest_item):
    assert _post(qa_client, "api_judge", forest_item, verdict="unsure").status_code == 400
    assert _post(qa_client, "api_judge", forest_item).status_code == 400
    forest_item.refresh_from_db()
    assert forest_item.status == AuditItem.Status.PENDING
    _post(qa_client, "api_judge", forest_item, verdict="present")
    assert _post(qa_client, "api_explain", forest_item, reason="lazy").status_code == 400
    forest_item.refresh_from_db()
    assert forest_item.status == AuditItem.Status.AWAITING_REASON


def test_another_qa_lead_cannot_finish_my_disagreement(qa_client, quinn, forest_item):
    _post(qa_client, "api_judge", forest_item, verdict="present")
    assert _post(_client(quinn), "api_explain", forest_item, reason="missed").status_code == 403
    assert _post(_client(quinn), "api_withdraw", forest_item).status_code == 403


# --- who may enter ------------------------------------------------------------------------------


def _every_audit_url(item: AuditItem) -> list[tuple[str, str]]:
    return [
        ("get", reverse("audits:index")),
        ("post", reverse("audits:index")),
        ("get", reverse("audits:next")),
        ("get", reverse("audits:item", args=[item.pk])),
        ("post", reverse("audits:api_judge", args=[item.pk])),
        ("post", reverse("audits:api_explain", args=[item.pk])),
        ("post", reverse("audits:api_withdraw", args=[item.pk])),
        ("post", reverse("audits:api_second_look", args=[item.pk])),
    ]


def test_annotators_and_outsiders_get_403_everywhere_anonymous_users_log_in(
    world, annotator_user, annotator_client, outsider_client, forest_item
):
    own = audited(user=annotator_user, image=world.images[3], label=world.label("cat"))
    for item in (forest_item, own):
        for method, url in _every_audit_url(item):
            for client in (annotator_client, outsider_client):
                body = {"verdict": "present", "reason": "missed"}
                response = getattr(client, method)(url, body, content_type="application/json")
                assert response.status_code == 403, (method, url, response.status_code)
            anonymous = getattr(Client(), method)(url)
            if "/api/" in url:
                assert anonymous.status_code in (401, 403), url
            else:
                assert anonymous.status_code == 302 and "/login/" in anonymous["Location"], url
    assert AuditItem.objects.filter(status=AuditItem.Status.PENDING).count() == 2


def test_a_qa_lead_cannot_open_or_judge_their_own_decision(world, qa_user, qa_client):
    own = audited(user=qa_user, image=world.images[4], label=world.label("cat"))
    assert qa_client.get(reverse("audits:item", args=[own.pk])).status_code == 403
    assert _post(qa_client, "api_judge", own, verdict="absent").status_code == 403
    assert qa_client.get(reverse("audits:next")).status_code == 200  # nothing left for them


def test_the_nav_links_to_audits_for_qa_leads_only(qa_client, annotator_client, admin_client_):
    link = f'href="{reverse("audits:index")}"'
    assert link in qa_client.get(reverse("home")).content.decode()
    assert link in admin_client_.get(reverse("home")).content.decode()
    assert link not in annotator_client.get(reverse("home")).content.decode()


# --- the audits home and the next item --------------------------------------------------------


def test_next_goes_to_the_oldest_item_then_says_nothing_is_left(world, qa_client, zelda):
    older = audited(user=zelda, image=world.images[5], label=world.label("cat"), day=yesterday() - timedelta(days=1))
    audited(user=zelda, image=world.images[6], label=world.label("cat"))
    response = qa_client.get(reverse("audits:next"))
    assert response.status_code == 302 and response["Location"] == reverse("audits:item", args=[older.pk])
    day = yesterday().isoformat()
    assert qa_client.get(reverse("audits:next") + f"?day={day}")["Location"] != response["Location"]
    AuditItem.objects.update(status=AuditItem.Status.DONE)
    page = qa_client.get(reverse("audits:next"))
    assert page.status_code == 200 and "Nothing left to audit" in page.content.decode()


def test_the_home_shows_each_day_and_costs_the_same_for_more_days(world, qa_client, zelda):
    for back in range(3):
        audited(user=zelda, image=world.images[7 + back], label=world.label("cat"), day=yesterday() - timedelta(back))
    AuditItem.objects.filter(day=yesterday()).update(status=AuditItem.Status.DONE, agrees=True)
    qa_client.get(reverse("home"))  # the session and the roles are read once, on the first page
    with CaptureQueriesContext(connection) as few:
        html = qa_client.get(reverse("audits:index")).content.decode()
    assert f'data-day="{yesterday().isoformat()}"' in html
    assert "Start auditing" in html
    row = re.search(rf'data-day="{yesterday().isoformat()}">(.*?)</tr>', html, re.S).group(1)
    assert '<td class="num" data-field="done">1</td>' in row and '<td class="num" data-field="pending">0</td>' in row

    for back in range(3, 9):
        audited(user=zelda, image=world.images[7 + back], label=world.label("cat"), day=yesterday() - timedelta(back))
    with CaptureQueriesContext(connection) as more:
        html = qa_client.get(reverse("audits:index")).content.decode()
    assert html.count("data-day=") == 9
    assert len(more) == len(few) <= 12


def test_drawing_a_range_reports_drawn_and_already_drawn_days(world, qa_user, qa_client, zelda):
    day = yesterday()
    decided(user=zelda, image=world.images[20], label=world.label("cat"), day=day)
    decided(user=zelda, image=world.images[21], label=world.label("cat"), day=day - timedelta(days=1))
    AuditSample.objects.all().delete()
    first = qa_client.post(
        reverse("audits:index"), {"start": (day - timedelta(days=1)).isoformat(), "end": day.isoformat()}, follow=True
    )
    html = first.content.decode()
    assert "Samples drawn (day and items)" in html and f"{day.isoformat()} (1)" in html
    assert AuditSample.objects.count() == 2
    assert AuditSample.objects.get(day=day).created_by == qa_user

    again = qa_client.post(reverse("audits:index"), {"start": day.isoformat(), "end": day.isoformat()}, follow=True)
    assert "Already drawn, left as they were: " + day.isoformat() in again.content.decode()
    assert AuditItem.objects.count() == 2


def test_a_refused_range_is_a_clear_error_and_draws_nothing(qa_client):
    today = today_local()
    response = qa_client.post(reverse("audits:index"), {"start": today.isoformat(), "end": today.isoformat()})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'data-testid="draw-error"' in html and "is not over yet" in html
    backwards = qa_client.post(
        reverse("audits:index"),
        {"start": (today - timedelta(days=1)).isoformat(), "end": (today - timedelta(5)).isoformat()},
    )
    assert backwards.status_code == 400 and "before it starts" in backwards.content.decode()
    assert not AuditSample.objects.exists()


def test_the_audit_pages_speak_chinese(world, qa_user, forest_item):
    qa_user.profile.language = "zh-hans"
    qa_user.profile.save()
    client = _client(qa_user)
    index = client.get(reverse("audits:index")).content.decode()
    assert "开始质检" in index and "质检" in index
    page = client.get(reverse("audits:item", args=[forest_item.pk])).content.decode()
    assert "你的判定" in page and "标注规范" in page
    assert "这张图片中有“森林”吗" in page
    refused = client.post(
        reverse("audits:index"), {"start": today_local().isoformat(), "end": today_local().isoformat()}
    )
    assert "尚未结束" in refused.content.decode()


def test_the_dashboard_speaks_chinese_also_where_a_sentence_holds_a_percent_sign(world, qa_user):
    qa_user.profile.language = "zh-hans"
    qa_user.profile.save()
    page = _client(qa_user).get(reverse("audits:dashboard")).content.decode()
    assert "团队准确率" in page
    assert "金标准题" in page  # "(95 %)" in the msgid: the template tag looks it up as "95 %%"
    assert "Answers on gold items" not in page
