"""Handing audit items out to QA leads: each gets their own, never one another is looking at.

- ``audit_claim_next(*, user, day=None) -> AuditItem | None``

The order: the user's own disagreement still waiting for its reason; an item they hold a live
claim on (a reload); the oldest pending item of someone else (of ``day`` when given) that no
other QA lead holds; a second look asked for by another QA lead. The item handed out is
claimed for CLAIM_SECONDS (``SELECT … FOR UPDATE SKIP LOCKED``: two QA leads asking at the
same moment get different items); opening its page again renews the claim. A claim is a
courtesy, not a lock: a QA lead who opens an item by its address may still judge it.

Housekeeping done on the way: items whose decision the annotator has undone since the draw
become VOID (nothing left to audit), and a disagreement left without its reason for
REASON_TAKEOVER goes back to pending, to be judged blind again by whoever comes next.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from annotator.accounts.roles import Role, user_has_role
from annotator.audits.models import AuditItem

#: How long an item handed to a QA lead stays theirs without a sign of life (page load).
CLAIM_SECONDS = 300
#: A disagreement whose reason has not come for this long is judged again by someone else.
REASON_TAKEOVER = timedelta(hours=1)


def _first_claimed(query: QuerySet[AuditItem], *, user: Any, now: Any) -> AuditItem | None:
    item = query.select_for_update(skip_locked=True, of=("self",)).first()
    if item is None:
        return None
    AuditItem.objects.filter(pk=item.pk).update(claimed_by=user, claimed_until=now + timedelta(seconds=CLAIM_SECONDS))
    return item


@transaction.atomic
def audit_claim_next(*, user: Any, day: date | None = None) -> AuditItem | None:
    """The item ``user`` should audit next, claimed for them (see the module docstring)."""
    if not user_has_role(user, Role.QA_LEAD):
        raise PermissionDenied
    now = timezone.now()
    AuditItem.objects.filter(status=AuditItem.Status.PENDING, decision__undone_at__isnull=False).update(
        status=AuditItem.Status.VOID, done_at=now, claimed_by=None, claimed_until=None
    )
    AuditItem.objects.filter(status=AuditItem.Status.AWAITING_REASON, judged_at__lt=now - REASON_TAKEOVER).exclude(
        qa_user=user
    ).update(status=AuditItem.Status.PENDING, qa_user=None, qa_verdict=None, agrees=None, judged_at=None)
    base = AuditItem.objects.exclude(annotator_id=user.pk)
    mine = base.filter(status=AuditItem.Status.AWAITING_REASON, qa_user_id=user.pk).order_by("day", "id").first()
    if mine is not None:
        return mine
    free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now) | Q(claimed_by=user)
    pending = base.filter(status=AuditItem.Status.PENDING)
    if day is not None:
        pending = pending.filter(day=day)
    held = _first_claimed(
        pending.filter(claimed_by=user, claimed_until__gte=now).order_by("day", "annotator_id", "position"),
        user=user,
        now=now,
    )
    if held is not None:
        return held
    item = _first_claimed(pending.filter(free).order_by("day", "annotator_id", "position"), user=user, now=now)
    if item is not None:
        return item
    second = (
        base.filter(status=AuditItem.Status.DONE, second_look_requested=True, second_verdict__isnull=True)
        .exclude(qa_user_id=user.pk)
        .filter(free)
        .order_by("day", "id")
    )
    return _first_claimed(second, user=user, now=now)


def audit_claim_renew(*, user: Any, item: AuditItem) -> None:
    """The QA lead has the item's page open: keep it theirs (unless someone else holds it)."""
    now = timezone.now()
    AuditItem.objects.filter(pk=item.pk).filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now) | Q(claimed_by=user)
    ).update(claimed_by=user, claimed_until=now + timedelta(seconds=CLAIM_SECONDS))
