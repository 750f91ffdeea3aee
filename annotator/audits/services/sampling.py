"""Drawing the daily audit sample.

- ``sample_draw(*, day, rate=None, minimum=None, seed=None, user=None) -> SampleDrawn``
- ``samples_draw_range(*, start, end, user=None) -> list[SampleDrawn]``
- ``day_bounds(day) -> (start, end)``: the day's instants in TIME_ZONE

Rules:

- the decisions that can be drawn are those made on ``day`` (TIME_ZONE) that set the truth
  (a first decision or a change of mind; not a second opinion, not "unsure") and still stand
  (not undone);
- each person who made some gets ``min(made, max(minimum, ceil(rate * made)))`` of them,
  spread across labels: labels are visited in a random order, one decision each, round after
  round, so no label gets a second decision drawn before every label has had one;
- the draw is random but seeded: the day's seed is derived from AUDIT_SEED and the date
  (or given), and each person's draw from the day's seed and their id, so the same decisions
  and seed draw the same sample again;
- one sample per day: drawing a day twice (the beat job and a QA lead at once, or a rerun)
  returns the sample already drawn and draws nothing;
- a day is drawn once it is over (today and later days are refused).
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from annotator.audits.models import AuditItem, AuditSample
from annotator.cleaning.models import Decision, Verdict

#: Longest range a QA lead may draw in one go (each day is one short transaction).
RANGE_MAX_DAYS = 92


class SampleRefused(ValueError):  # noqa: N818 - an answer to the person asking, not a bug
    """The day (or range) cannot be drawn; the message says why."""


@dataclass(frozen=True)
class SampleDrawn:
    sample: AuditSample
    created: bool  # False: the day had been drawn already, nothing was drawn now


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The first instant of ``day`` and of the day after, in TIME_ZONE."""
    zone = ZoneInfo(settings.TIME_ZONE)
    start = datetime.combine(day, time.min, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)
    return start, end


def today_local() -> date:
    return timezone.localtime(timezone.now(), ZoneInfo(settings.TIME_ZONE)).date()


def day_seed(day: date, base: int | None = None) -> int:
    """The seed of ``day``'s draw: the same for the same base seed and date."""
    base = settings.AUDIT_SEED if base is None else base
    return (int(base) * 1_000_003 + day.toordinal()) % (2**62)


def sample_size(made: int, *, rate: float, minimum: int) -> int:
    """How many of ``made`` decisions are drawn for one person."""
    return min(made, max(minimum, math.ceil(rate * made)))


def _spread_draw(rows: list[tuple[int, int]], *, size: int, rng: random.Random) -> list[int]:
    """``size`` decision ids out of (decision id, label id) rows, spread across labels."""
    by_label: dict[int, list[int]] = defaultdict(list)
    for decision_id, label_id in sorted(rows):
        by_label[label_id].append(decision_id)
    labels = sorted(by_label)
    rng.shuffle(labels)
    for label_id in labels:
        rng.shuffle(by_label[label_id])
    drawn: list[int] = []
    round_no = 0
    while len(drawn) < size:
        for label_id in labels:
            ids = by_label[label_id]
            if round_no < len(ids):
                drawn.append(ids[round_no])
                if len(drawn) == size:
                    break
        round_no += 1
    return drawn


def _eligible(day: date) -> dict[int, list[tuple[int, int, int, int, int]]]:
    """Person id -> [(decision id, label id, image id, verdict, item id)] drawable on ``day``."""
    start, end = day_bounds(day)
    rows = (
        Decision.objects.filter(
            created_at__gte=start,
            created_at__lt=end,
            undone_at__isnull=True,
            kind__in=[Decision.Kind.FIRST, Decision.Kind.CHANGE],
            verdict__in=[Verdict.PRESENT, Verdict.ABSENT],
        )
        .order_by("id")
        .values_list("user_id", "id", "item__label_id", "item__image_id", "verdict", "item_id")
    )
    per_user: dict[int, list[tuple[int, int, int, int, int]]] = defaultdict(list)
    for user_id, decision_id, label_id, image_id, verdict, item_id in rows:
        per_user[user_id].append((decision_id, label_id, image_id, verdict, item_id))
    return per_user


def sample_draw(
    *,
    day: date,
    rate: float | None = None,
    minimum: int | None = None,
    seed: int | None = None,
    user: Any = None,
) -> SampleDrawn:
    """Draw ``day``'s sample (see the module rules); returns it and whether it was drawn now."""
    if day >= today_local():
        raise SampleRefused(
            _("%(day)s is not over yet: a day is sampled once it has ended.") % {"day": day.isoformat()}
        )
    rate = settings.AUDIT_RATE if rate is None else float(rate)
    minimum = settings.AUDIT_MINIMUM if minimum is None else int(minimum)
    if not 0 < rate <= 1:
        raise SampleRefused(f"rate {rate} must be above 0 and at most 1")
    if minimum < 0:
        raise SampleRefused(f"minimum {minimum} must be 0 or more")
    with transaction.atomic():
        # One drawer per day at a time; the second finds the first one's sample.
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", [0x4C4C_4155, day.toordinal()])
        existing = AuditSample.objects.filter(day=day).first()
        if existing is not None:
            return SampleDrawn(existing, created=False)
        day_seed_value = day_seed(day) if seed is None else int(seed)
        eligible = _eligible(day)
        sample = AuditSample.objects.create(
            day=day,
            seed=day_seed_value,
            rate=rate,
            minimum=minimum,
            decisions_seen=sum(len(rows) for rows in eligible.values()),
            created_by=user if user is not None and user.is_authenticated else None,
        )
        items: list[AuditItem] = []
        for person_id in sorted(eligible):
            rows = eligible[person_id]
            size = sample_size(len(rows), rate=rate, minimum=minimum)
            rng = random.Random(f"{day_seed_value}:{person_id}")
            by_id = {row[0]: row for row in rows}
            drawn = _spread_draw([(row[0], row[1]) for row in rows], size=size, rng=rng)
            for position, decision_id in enumerate(drawn):
                _drawn_id, label_id, image_id, verdict, _item_id = by_id[decision_id]
                items.append(
                    AuditItem(
                        sample=sample,
                        decision_id=decision_id,
                        annotator_id=person_id,
                        label_id=label_id,
                        image_id=image_id,
                        day=day,
                        position=position,
                        annotator_verdict=verdict,
                    )
                )
        AuditItem.objects.bulk_create(items, batch_size=2000)
        sample.size = len(items)
        sample.save(update_fields=["size"])
    return SampleDrawn(sample, created=True)


def samples_draw_range(*, start: date, end: date, user: Any = None) -> list[SampleDrawn]:
    """Draw every day from ``start`` to ``end`` inclusive (days drawn before are left as they are)."""
    if end < start:
        raise SampleRefused(
            _("The range ends (%(end)s) before it starts (%(start)s).")
            % {"end": end.isoformat(), "start": start.isoformat()}
        )
    days = (end - start).days + 1
    if days > RANGE_MAX_DAYS:
        raise SampleRefused(_("%(days)d days is more than %(max)d at once.") % {"days": days, "max": RANGE_MAX_DAYS})
    last = today_local() - timedelta(days=1)
    if end > last:
        raise SampleRefused(
            _("%(day)s is not over yet: the last day that can be sampled is %(last)s.")
            % {"day": end.isoformat(), "last": last.isoformat()}
        )
    return [sample_draw(day=start + timedelta(days=offset), user=user) for offset in range(days)]
