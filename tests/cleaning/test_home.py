"""The annotator's home: my queues (enough-data labels left out unless an admin opened them),
today's count and speed, audited accuracy ("—" until audits exist)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.urls import reverse

from annotator.cleaning.models import Decision, LabelQueue
from annotator.cleaning.selectors_home import day_start, my_day, queues_offered
from tests.cleaning.health_fixture import decision, health_world_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def hw(tmp_path, annotator_user, qa_user, settings):
    settings.CLEANING_ENOUGH_DATA_COUNT = 5  # cat (6 positives) has enough data, dog (2) has not
    cache.clear()
    return health_world_make(tmp_path / "img", annotator_user, qa_user)


def test_my_queues_leave_out_enough_data_labels_unless_opened(hw, admin_user):
    assert [(q.label.key, q.open_items) for q in queues_offered()] == [("dog", 2)]
    LabelQueue.objects.create(label=hw.world.label("cat"), opened=True, opened_by=admin_user)
    cache.clear()  # the counts are cached for a minute
    assert [(q.label.key, q.open_items, q.opened_by_admin) for q in queues_offered()] == [
        ("cat", 5, True),
        ("dog", 2, False),
    ]


def test_today_count_and_speed_count_working_time_only(hw, annotator_user):
    noon = day_start() + timedelta(hours=12)
    standing = Decision.objects.filter(user=annotator_user, undone_at__isnull=True).order_by("id")
    assert standing.count() == 3
    times = [noon, noon + timedelta(seconds=30), noon + timedelta(minutes=20)]
    for d, at in zip(standing, times, strict=True):
        Decision.objects.filter(pk=d.pk).update(created_at=at, time_spent_ms=2000)
    # one from yesterday does not count
    old = decision(hw.cat_items[2], annotator_user, 1, 1)
    Decision.objects.filter(pk=old.pk).update(created_at=noon - timedelta(days=1))
    day = my_day(user=annotator_user, now=noon + timedelta(hours=1))
    assert (day.decisions, day.changed) == (3, 2)
    # 2 s on the first, 30 s, then a 19.5-minute pause counted as 5 minutes
    assert day.working_seconds == pytest.approx(2 + 30 + 300)
    assert day.per_hour == pytest.approx(3 * 3600 / 332)


def test_speed_waits_for_enough_work(annotator_user, db):
    assert my_day(user=annotator_user).per_hour is None
    assert my_day(user=annotator_user).decisions == 0


def test_the_home_page_shows_them_to_annotators(hw, annotator_client):
    html = annotator_client.get(reverse("home")).content.decode()
    assert 'data-testid="annotator-home"' in html
    assert 'data-testid="today-count">3<' in html
    assert 'data-testid="audited-accuracy">—<' in html
    assert 'data-label="dog"' in html and 'data-label="cat"' not in html
    assert reverse("cleaning:review", args=["dog"]) in html


def test_qa_leads_home_has_no_annotator_part(hw, qa_client):
    html = qa_client.get(reverse("home")).content.decode()
    assert 'data-testid="overview"' in html
    assert 'data-testid="annotator-home"' not in html


def test_home_counts_only_my_decisions(hw, annotator_client, qa_user):
    for _ in range(4):
        decision(hw.dog_items[0], qa_user, 1, 0)
    html = annotator_client.get(reverse("home")).content.decode()
    assert 'data-testid="today-count">3<' in html
