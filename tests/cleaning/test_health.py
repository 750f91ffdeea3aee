"""Label health: the figures per label against a hand-made world, the "enough data" rule, who may
open the page, and a fixed number of queries whatever the number of labels."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from annotator.cleaning.models import ItemStatus, LabelQueue, ReviewItem
from annotator.cleaning.selectors_health import label_health_rows
from annotator.taxonomy.models import Label
from tests.cleaning.health_fixture import health_world_make

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_counts():
    cache.clear()  # the per-label aggregates are cached for a minute


@pytest.fixture
def hw(tmp_path, annotator_user, qa_user, monkeypatch, settings):
    settings.CLEANING_ENOUGH_DATA_COUNT = 5
    made = health_world_make(tmp_path / "img", annotator_user, qa_user)
    cat = made.world.label("cat")
    monkeypatch.setattr("annotator.cleaning.selectors_health.label_ap_latest", lambda: {cat.id: 0.8})
    return made


def by_key(rows):
    return {row.label.key: row for row in rows}


def test_figures_per_label_match_the_hand_made_world(hw):
    rows = by_key(label_health_rows())
    cat, dog = rows["cat"], rows["dog"]
    assert (cat.positives, cat.verified, cat.ap) == (6, 3, 0.8)
    assert (cat.decisions, cat.decisions_changed) == (3, 2)
    assert cat.decision_error_rate == pytest.approx(2 / 3)
    assert (cat.queue_open, cat.queue_decided) == (5, 2)
    assert cat.expected_errors == pytest.approx(1.5)
    assert cat.audit_error_rate is None and cat.audits == 0  # no audits yet
    # 1.5 expected errors x (1 - AP 0.8) x enough/positives 5/6
    assert cat.priority == pytest.approx(1.5 * 0.2 * 5 / 6)
    assert (dog.positives, dog.verified, dog.ap, dog.decision_error_rate) == (2, 0, None, None)
    # no model AP yet: counted as 0.5; below the enough-data count: full weight
    assert dog.priority == pytest.approx(1.8 * 0.5)
    assert "retired" not in rows  # inactive labels are not listed


def test_rows_come_highest_priority_first(hw):
    keys = [row.label.key for row in label_health_rows()]
    assert keys.index("dog") < keys.index("cat")
    assert keys[0] == "dog"


def test_enough_data_closes_a_queue_unless_an_admin_opened_it(hw, admin_user):
    cat = by_key(label_health_rows())["cat"]
    assert cat.enough_data and not cat.offered
    LabelQueue.objects.create(label=hw.world.label("cat"), opened=True, opened_by=admin_user)
    cat = by_key(label_health_rows())["cat"]
    assert cat.enough_data and cat.opened_by_admin and cat.offered
    assert not by_key(label_health_rows())["dog"].enough_data


def test_query_count_does_not_grow_with_the_labels(hw):
    with CaptureQueriesContext(connection) as few:
        label_health_rows()
    with CaptureQueriesContext(connection) as cached:
        label_health_rows()
    assert len(cached.captured_queries) == len(few.captured_queries) - 2  # the two big aggregates are cached
    world = hw.world
    for n in range(30):
        label = Label.objects.create(key=f"extra{n}", name_en=f"Extra {n}", name_zh=f"额外{n}")
        ReviewItem.objects.create(image=world.images[n % 10], label=label, status=ItemStatus.OPEN, priority=0.5)
    cache.clear()
    with CaptureQueriesContext(connection) as many:
        rows = label_health_rows()
    assert len(rows) >= 45
    assert len(many.captured_queries) == len(few.captured_queries) <= 6


def test_the_page_shows_the_figures_sortable(hw, qa_client):
    response = qa_client.get(reverse("cleaning:health"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-label="cat"' in html and 'data-positives="6"' in html and 'data-queue="5"' in html
    assert 'data-decision-error="0.666667"' in html
    assert 'data-audit-error="-1"' in html  # shown as "—"
    assert html.index('data-label="dog"') < html.index('data-label="cat"')
    assert "enough data" in html
    assert 'id="thumbnail-job"' not in html  # the thumbnail job is for admins
    assert "Counts as of" in html


def test_admins_see_the_thumbnail_job_too(hw, admin_client_):
    html = admin_client_.get(reverse("cleaning:health")).content.decode()
    assert 'id="thumbnail-job"' in html


def test_annotators_and_outsiders_are_refused(annotator_client, outsider_client, client):
    url = reverse("cleaning:health")
    assert annotator_client.get(url).status_code == 403
    assert outsider_client.get(url).status_code == 403
    assert client.get(url).status_code == 302


def test_an_admin_opens_and_closes_an_enough_data_queue(hw, admin_client_, admin_user):
    url = reverse("cleaning:label_queue_open", args=["cat"])
    html = admin_client_.get(reverse("cleaning:health")).content.decode()
    assert 'data-testid="open-cat"' in html  # the button is on the page
    assert admin_client_.post(url, {"opened": "1"}).status_code == 302
    queue = LabelQueue.objects.get(label=hw.world.label("cat"))
    assert queue.opened and queue.opened_by == admin_user and queue.opened_at is not None
    assert by_key(label_health_rows())["cat"].offered
    admin_client_.post(url, {"opened": "0"})
    queue.refresh_from_db()
    assert not queue.opened and queue.opened_by is None
    assert not by_key(label_health_rows())["cat"].offered


def test_only_admins_open_queues(hw, qa_client, annotator_client):
    url = reverse("cleaning:label_queue_open", args=["cat"])
    assert qa_client.post(url, {"opened": "1"}).status_code == 403
    assert annotator_client.post(url, {"opened": "1"}).status_code == 403
    assert not LabelQueue.objects.filter(opened=True).exists()
    assert 'data-testid="open-cat"' not in qa_client.get(reverse("cleaning:health")).content.decode()
