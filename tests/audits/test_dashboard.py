"""The QA accuracy dashboard: range and period, team figures, a row per annotator (below target
highlighted), trend points, CSV export, a person's page; its query count stays flat."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse

from annotator.audits.models import AuditItem, AuditSample
from annotator.audits.selectors import default_range
from annotator.cleaning.models import Decision, ItemStatus, ReviewItem, Verdict
from tests.audits.accuracy_fixture import END, MON, NEXT_MON, SCOPE_NOTE, START, TUE, audited_world_make
from tests.cleaning.support import images_make

RANGE = {"start": START.isoformat(), "end": END.isoformat()}


@pytest.fixture
def audited(world, annotator_user, qa_user):
    return audited_world_make(world, ann=annotator_user, qa=qa_user)


def row_html(html: str, username: str) -> str:
    start = html.index(f'<tr data-annotator="{username}"')
    return html[start : html.index("</tr>", start)]


def test_dashboard_shows_team_and_rows_with_below_target_highlighted(audited, qa_client):
    response = qa_client.get(reverse("audits:dashboard"), RANGE)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="team-accuracy">86.7%<' in html  # 13 / 15
    assert 'data-testid="team-interval">62.1% – 96.3%<' in html
    assert 'data-testid="below-count">1<' in html

    ann = row_html(html, "ann")
    assert 'class="below-target"' in ann and "below target" in ann  # a class and a visible marker
    assert 'data-field="accuracy">80.0%<' in ann
    assert 'data-field="interval">49.0% – 94.3%<' in ann
    assert "Cat (60.0%)" in ann  # weakest label
    assert 'data-field="pending">1<' in ann
    assert reverse("audits:annotator", args=[audited.ann.pk]) in ann

    bea = row_html(html, "bea")
    assert 'class=""' in bea and "below target" not in bea
    assert 'data-field="accuracy">100.0%<' in bea
    assert html.index('data-annotator="ann"') < html.index('data-annotator="bea"')  # worst first


def test_trend_points_per_day_and_week_with_the_target(audited, qa_client):
    html = qa_client.get(reverse("audits:dashboard"), RANGE | {"period": "week"}).content.decode()
    ann = row_html(html, "ann")
    assert 'data-period="week"' in ann and 'data-target="0.9000"' in ann
    points = json.loads(ann.split('data-points="', 1)[1].split('"', 1)[0].replace("&quot;", '"'))
    assert points == [
        {"day": MON.isoformat(), "audited": 7, "agreed": 6, "accuracy": 0.8571, "low": 0.4869, "high": 0.9743},
        {"day": NEXT_MON.isoformat(), "audited": 3, "agreed": 2, "accuracy": 0.6667, "low": 0.2077, "high": 0.9385},
    ]
    html = qa_client.get(reverse("audits:dashboard"), RANGE).content.decode()
    assert html.count("&quot;day&quot;") == 4  # ann: 3 days, bea: 1 day


def test_default_range_is_the_last_28_days(audited, qa_client):
    start, end = default_range()
    assert (end - start).days == 27
    html = qa_client.get(reverse("audits:dashboard")).content.decode()
    assert f'value="{start.isoformat()}"' in html and f'value="{end.isoformat()}"' in html
    assert "No audits in this range." in html  # the fixture is from 2024


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"start": "2024-03-10", "end": "2024-03-01"}, "The start (2024-03-10) is after the end (2024-03-01)."),
        ({"start": "10/03/2024"}, "Start: write the date as YYYY-MM-DD."),
        ({"end": "yesterday"}, "End: write the date as YYYY-MM-DD."),
        ({"start": "2022-01-01", "end": "2024-01-01"}, "The range is longer than 366 days; choose a shorter one."),
        ({"period": "month"}, "Period: choose day or week."),
    ],
)
def test_a_bad_range_is_refused_with_a_clear_error(qa_client, params, message):
    response = qa_client.get(reverse("audits:dashboard"), params)
    assert response.status_code == 400
    assert message in response.content.decode()
    csv_response = qa_client.get(reverse("audits:dashboard_csv"), params)
    assert csv_response.status_code == 400 and message in csv_response.content.decode()


def test_csv_export(audited, qa_client):
    response = qa_client.get(reverse("audits:dashboard_csv"), RANGE)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="accuracy_2024-03-04_2024-03-17_day.csv"'
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["annotator", "day", "audited", "agreed", "accuracy", "wilson_low", "wilson_high"]
    assert rows[1:] == [
        ["ann", "2024-03-04", "4", "3", "0.7500", "0.3006", "0.9544"],
        ["bea", "2024-03-04", "5", "5", "1.0000", "0.5655", "1.0000"],
        ["ann", "2024-03-05", "3", "3", "1.0000", "0.4385", "1.0000"],
        ["ann", "2024-03-11", "3", "2", "0.6667", "0.2077", "0.9385"],
    ]
    html = qa_client.get(reverse("audits:dashboard"), RANGE).content.decode()
    assert f"{reverse('audits:dashboard_csv')}?start=2024-03-04&amp;end=2024-03-17&amp;period=day" in html


def test_a_persons_page_has_their_trend_labels_and_mistakes(audited, qa_client):
    response = qa_client.get(reverse("audits:annotator", args=[audited.ann.pk]), RANGE)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Audits of ann" in html
    assert 'data-testid="person-accuracy">80.0%<' in html
    assert 'data-testid="person-interval">49.0% – 94.3%<' in html
    assert 'data-testid="below-target"' in html
    by_label = html[html.index('data-testid="by-label"') :]
    assert '<tr data-label="cat" class="below-target">' in by_label
    assert "30.0%" not in by_label and "23.1% – 88.2%" in by_label  # cat 3 / 5
    assert html.count('data-testid="mistake"') == 2
    assert SCOPE_NOTE in html and "Annotator's verdict" in html and "Your verdict" not in html
    assert 'data-testid="trend-person"' in html


def test_unknown_person_is_404(qa_client, db):
    assert qa_client.get(reverse("audits:annotator", args=[987654])).status_code == 404


def _many_annotators(world, count: int, *, first: int = 0) -> None:
    """``count`` annotators with finished audits on 3 labels over 3 days, made in bulk."""
    from annotator.accounts.roles import Role
    from annotator.accounts.services import user_create_with_role

    day0 = default_range()[1]
    labels = [world.label(key) for key in ("cat", "dog", "tree")]
    images = images_make(world.root / f"many{first}", 9 * count, start=5000 + 9 * first)
    image_iter = iter(images)
    for n in range(first, first + count):
        person: Any = user_create_with_role(username=f"p{n}", password="x-password-1", role=Role.ANNOTATOR)
        for d in range(3):
            day = day0 - timedelta(days=d)
            sample, _ = AuditSample.objects.get_or_create(day=day, defaults={"seed": 1, "rate": 1, "minimum": 1})
            for i, label in enumerate(labels):
                image = next(image_iter)
                item = ReviewItem.objects.create(image=image, label=label, status=ItemStatus.DECIDED, priority=0.5)
                decision = Decision.objects.create(item=item, user_id=person.pk, verdict=Verdict.PRESENT)
                AuditItem.objects.create(
                    sample=sample,
                    decision=decision,
                    annotator_id=person.pk,
                    label=label,
                    image=image,
                    day=day,
                    annotator_verdict=Verdict.PRESENT,
                    status=AuditItem.Status.DONE,
                    agrees=(i + n + d) % 4 != 0,
                )


def test_dashboard_query_count_does_not_grow_with_annotators(world, qa_client, django_assert_max_num_queries):
    # session, user, roles, team, per person, still to audit, per label, names, labels, trend,
    # gold answers per person
    _many_annotators(world, 2)
    qa_client.get(reverse("audits:dashboard"))  # warm the per-request caches once
    with django_assert_max_num_queries(12):
        response = qa_client.get(reverse("audits:dashboard"))
    assert response.content.decode().count("<tr data-annotator=") == 2
    _many_annotators(world, 6, first=2)
    with django_assert_max_num_queries(12):
        response = qa_client.get(reverse("audits:dashboard"))
    assert response.content.decode().count("<tr data-annotator=") == 8


def test_dates_of_the_fixture_are_what_the_comment_says():
    assert MON.weekday() == 0 and NEXT_MON.weekday() == 0 and TUE.weekday() == 1
