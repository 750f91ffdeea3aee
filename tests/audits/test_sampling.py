"""The daily sample: drawn once per day, sized by rate and minimum, spread across labels, seeded."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.test import override_settings

from annotator.audits.models import AuditItem, AuditSample
from annotator.audits.services.sampling import SampleRefused, sample_draw, sample_size, samples_draw_range
from annotator.audits.tasks import daily_sample
from annotator.cleaning.models import Decision, ItemStatus, ReviewItem, Verdict
from tests.audits.support import day_bounds, decided, yesterday
from tests.cleaning.support import images_make

LABELS = ["cat", "tree", "indoor", "outdoor", "animal"]


def _bulk_decisions(world, user, *, per_label: int, day, labels=LABELS, start: int = 0, **fields) -> list[int]:
    """``per_label`` decisions of ``user`` on each label, dated ``day`` (rows as decision_record leaves them)."""
    first = 100_000 + user.pk * 10_000 + start * 1_000
    images = images_make(world.root / f"bulk{user.pk}-{start}", per_label, start=first)
    items = ReviewItem.objects.bulk_create(
        [
            ReviewItem(image=image, label=world.label(key), status=ItemStatus.DECIDED, priority=0.5)
            for key in labels
            for image in images
        ]
    )
    defaults = {"verdict": Verdict.PRESENT, "kind": Decision.Kind.FIRST} | fields
    decisions = Decision.objects.bulk_create([Decision(item=item, user=user, **defaults) for item in items])
    ids = [d.pk for d in decisions]
    begin, _ = day_bounds(day)
    Decision.objects.filter(pk__in=ids).update(created_at=begin + timedelta(hours=10))
    return ids


def test_sample_size_follows_rate_and_minimum():
    assert sample_size(100, rate=0.05, minimum=20) == 20  # the minimum wins
    assert sample_size(1000, rate=0.05, minimum=20) == 50  # the rate wins
    assert sample_size(7, rate=0.05, minimum=20) == 7  # fewer than the minimum: all of them
    assert sample_size(401, rate=0.05, minimum=20) == 21  # rounded up


def test_drawing_a_day_twice_draws_once(world, annotator_user, qa_user):
    day = yesterday()
    _bulk_decisions(world, annotator_user, per_label=80, day=day)  # 400 decisions
    _bulk_decisions(world, qa_user, per_label=2, day=day)  # 10 decisions
    first = sample_draw(day=day, rate=0.05, minimum=20)
    assert first.created
    per_person = Counter(AuditItem.objects.values_list("annotator_id", flat=True))
    assert per_person == {annotator_user.pk: 20, qa_user.pk: 10}
    again = sample_draw(day=day, rate=0.5, minimum=1)
    assert not again.created and again.sample.pk == first.sample.pk
    assert AuditItem.objects.count() == 30
    assert AuditSample.objects.count() == 1
    assert first.sample.decisions_seen == 410 and first.sample.size == 30


def test_the_rate_wins_over_the_minimum_when_larger(world, annotator_user):
    day = yesterday()
    _bulk_decisions(world, annotator_user, per_label=100, day=day)  # 500 decisions
    sample_draw(day=day, rate=0.1, minimum=20)
    assert AuditItem.objects.filter(annotator=annotator_user).count() == 50


def test_the_sample_is_spread_across_labels(world, annotator_user):
    day = yesterday()
    _bulk_decisions(world, annotator_user, per_label=30, day=day)
    sample_draw(day=day, rate=0.05, minimum=20)  # 20 of 150 decisions on 5 labels
    per_label = Counter(AuditItem.objects.values_list("label__key", flat=True))
    assert per_label == dict.fromkeys(LABELS, 4)


def test_only_standing_decisions_of_that_day_that_set_the_truth_are_drawn(world, annotator_user):
    day = yesterday()
    wanted = set(_bulk_decisions(world, annotator_user, per_label=1, day=day))
    _bulk_decisions(world, annotator_user, per_label=1, day=day, start=1, verdict=Verdict.UNSURE)
    _bulk_decisions(world, annotator_user, per_label=1, day=day, start=2, kind=Decision.Kind.SECOND_OPINION)
    undone = _bulk_decisions(world, annotator_user, per_label=1, day=day, start=3)
    Decision.objects.filter(pk__in=undone).update(undone_at=day_bounds(day)[1])
    _bulk_decisions(world, annotator_user, per_label=1, day=day - timedelta(days=1), start=4)
    sample_draw(day=day, rate=1.0, minimum=0)
    assert set(AuditItem.objects.values_list("decision_id", flat=True)) == wanted


def test_a_seed_reproduces_the_sample(world, annotator_user):
    day = yesterday()
    _bulk_decisions(world, annotator_user, per_label=40, day=day)
    sample_draw(day=day, rate=0.05, minimum=20, seed=1234)
    first = list(AuditItem.objects.order_by("position").values_list("decision_id", flat=True))
    AuditSample.objects.all().delete()
    sample_draw(day=day, rate=0.05, minimum=20, seed=1234)
    assert list(AuditItem.objects.order_by("position").values_list("decision_id", flat=True)) == first
    AuditSample.objects.all().delete()
    sample_draw(day=day, rate=0.05, minimum=20, seed=99)
    assert list(AuditItem.objects.order_by("position").values_list("decision_id", flat=True)) != first


def test_a_day_that_is_not_over_is_refused(world, annotator_user):
    from annotator.audits.services.sampling import today_local

    with pytest.raises(SampleRefused, match="not over yet"):
        sample_draw(day=today_local())
    assert not AuditSample.objects.exists()


def test_a_range_draws_each_day_once(world, annotator_user):
    day = yesterday()
    for back in range(3):
        _bulk_decisions(world, annotator_user, per_label=1, day=day - timedelta(days=back), start=back)
    sample_draw(day=day)
    drawn = samples_draw_range(start=day - timedelta(days=2), end=day)
    assert [d.created for d in drawn] == [True, True, False]
    assert AuditSample.objects.count() == 3
    assert AuditItem.objects.count() == 15
    with pytest.raises(SampleRefused, match="before it starts"):
        samples_draw_range(start=day, end=day - timedelta(days=1))


def test_the_beat_job_draws_yesterday_at_the_configured_time(world, annotator_user, settings):
    from celery.schedules import crontab

    entry = settings.CELERY_BEAT_SCHEDULE["audits-daily-sample"]
    assert entry["task"] == "annotator.audits.tasks.daily_sample"
    assert isinstance(entry["schedule"], crontab)
    decided(user=annotator_user, image=world.images[0], label=world.label("cat"))
    with override_settings(AUDIT_MINIMUM=20):
        result = daily_sample.apply().get()
        assert result == {"day": yesterday().isoformat(), "size": 1, "created": True}
        assert daily_sample.apply().get()["created"] is False


@pytest.mark.django_db(transaction=True)
def test_two_drawers_at_once_draw_one_sample(tmp_path, annotator_user):
    from tests.cleaning.support import world_make

    world = world_make(tmp_path / "images", images=4)
    day = yesterday()
    _bulk_decisions(world, annotator_user, per_label=10, day=day)
    barrier = threading.Barrier(2)
    outcomes: list[bool] = []

    def draw() -> None:
        try:
            barrier.wait()
            outcomes.append(sample_draw(day=day).created)
        finally:
            connection.close()

    threads = [threading.Thread(target=draw) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == [False, True]
    assert AuditSample.objects.count() == 1
    assert AuditItem.objects.count() == 20
