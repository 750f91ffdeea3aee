"""Leases: an annotator holds a batch of one label's open items for a while.

- ``lease_take(*, user, label, size=None) -> Lease``: claims the label's highest-priority
  open items that nobody holds (or whose lease expired) with ``SELECT … FOR UPDATE SKIP
  LOCKED``, so two annotators taking batches at the same moment never get the same item.
- ``lease_current_or_take(*, user, label) -> Lease``: the page's first batch: the user's own
  live lease on the label with items still open, else a new one.
- ``lease_renew(*, user, lease) -> Lease``: the page pings while it is open.
- ``lease_release(*, user, lease) -> int``: skip / submit: undecided items go back to the queue.
- ``leases_release_for_user(*, user) -> int``: logout.

Expiry (CLEANING_LEASE_SECONDS, default 600) is kept on the Lease and mirrored on its items
(``lease_expires_at``) so the queue scan filters without a join. An item whose lease expired
stays with its holder until someone else takes it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from annotator.cleaning.gold import gold_attach, gold_label_ids, gold_pick, gold_rate, gold_slots
from annotator.cleaning.models import ItemStatus, Lease, ReviewItem
from annotator.taxonomy.models import Label

#: A user holds at most this many live leases per label: the batch on screen and the next one.
LEASES_PER_LABEL = 2


def lease_seconds() -> int:
    return int(getattr(settings, "CLEANING_LEASE_SECONDS", 600))


def skip_cooldown_seconds() -> int:
    """How long items one put back stay out of one's own next batches (the lease time)."""
    return lease_seconds()


def batch_size() -> int:
    return int(getattr(settings, "CLEANING_BATCH_SIZE", 36))


def _open_free(*, label_id: int, now: Any) -> Any:
    return ReviewItem.objects.filter(label_id=label_id, status=ItemStatus.OPEN).filter(
        Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)
    )


@transaction.atomic
def lease_take(*, user: Any, label: Label, size: int | None = None) -> Lease:
    """Lease up to ``size`` (CLEANING_BATCH_SIZE) of ``label``'s open, free items to ``user``.

    Highest priority first. A user already holding LEASES_PER_LABEL live leases on the label
    gets the newest of them back instead (a page prefetching twice takes nothing more).
    The lease may hold fewer items than asked, or none: the queue is (nearly) done. With
    LABELLOOP_GOLD_RATE above 0, gold items take their share of the batch (gold.py).
    """
    now = timezone.now()
    size = max(1, min(size or batch_size(), 200))
    live = list(
        Lease.objects.filter(user=user, label=label, released_at__isnull=True, expires_at__gt=now)
        .annotate(
            holds_open=Exists(ReviewItem.objects.filter(lease=OuterRef("pk"), leased_by=user, status=ItemStatus.OPEN))
        )
        .order_by("-id")
    )
    # A live lease with nothing left to decide counts no more: it is closed, so that an empty
    # batch (the queue was dry a moment ago) never blocks the next take.
    spent = [lease.pk for lease in live if not lease.holds_open]  # type: ignore[attr-defined]
    if spent:
        Lease.objects.filter(pk__in=spent, released_at__isnull=True).update(released_at=now)
    holding = [lease for lease in live if lease.holds_open]  # type: ignore[attr-defined]
    if len(holding) >= LEASES_PER_LABEL:
        return holding[0]
    expires = now + timedelta(seconds=lease_seconds())
    lease = Lease.objects.create(user=user, label=label, expires_at=expires)
    # The index on (label, priority desc, id) for open items answers this in order; rows another
    # transaction is claiming right now are skipped, never waited for or handed out twice.
    # Items this user put back (skip, next page) in the last SKIP_COOLDOWN are not handed
    # straight back to them: released items keep pointing at the lease they left.
    skipped_lately = Q(lease__user=user, lease__released_at__gt=now - timedelta(seconds=skip_cooldown_seconds()))
    # Gold items (gold.py) keep places of the batch on a label that has some; the real items
    # are taken first, the gold ones fit what they allow. With the rate at 0 this costs nothing.
    rate = gold_rate()
    slots = gold_slots(rate=rate, size=size) if rate > 0 and label.pk in gold_label_ids() else 0
    free = _open_free(label_id=label.pk, now=now).exclude(skipped_lately).order_by("-priority", "id")
    ids = list(free.select_for_update(skip_locked=True, of=("self",)).values_list("id", flat=True)[: size - slots])
    gold = gold_pick(user=user, label_id=label.pk, real=len(ids), slots=slots) if slots and ids else []
    if slots > len(gold) and len(ids) == size - slots:  # places gold did not fill go to real items
        more = free.exclude(id__in=ids).select_for_update(skip_locked=True, of=("self",)).values_list("id", flat=True)
        ids += list(more[: slots - len(gold)])
    if ids:
        ReviewItem.objects.filter(id__in=ids).update(lease=lease, leased_by=user, lease_expires_at=expires)
    lease.size = len(ids)
    lease.gold_shown = gold_attach(lease=lease, gold=gold, real=len(ids)) if gold else 0
    lease.save(update_fields=["size", "gold_shown"])
    return lease


@transaction.atomic
def lease_current_or_take(*, user: Any, label: Label) -> Lease:
    """The user's oldest live lease on ``label`` that still holds open items, else ``lease_take``."""
    now = timezone.now()
    for lease in Lease.objects.filter(user=user, label=label, released_at__isnull=True, expires_at__gt=now).order_by(
        "id"
    ):
        if ReviewItem.objects.filter(lease=lease, leased_by=user, status=ItemStatus.OPEN).exists():
            return lease
        lease_release(user=user, lease=lease)
    return lease_take(user=user, label=label)


@transaction.atomic
def lease_renew(*, user: Any, lease: Lease) -> Lease:
    """Push the lease's expiry CLEANING_LEASE_SECONDS from now (the items still held move with it).

    A released lease is not renewed (returned as it is). Items someone else took after an
    expiry stay theirs.
    """
    if lease.released_at is not None:
        return lease
    expires = timezone.now() + timedelta(seconds=lease_seconds())
    Lease.objects.filter(pk=lease.pk, released_at__isnull=True).update(expires_at=expires)
    ReviewItem.objects.filter(lease=lease, leased_by=user).update(lease_expires_at=expires)
    lease.expires_at = expires
    return lease


@transaction.atomic
def lease_release(*, user: Any, lease: Lease) -> int:
    """Give the lease's undecided items back to the queue; returns how many went back.

    Decided items keep their lease reference (undo still finds them). Releasing twice is harmless.
    """
    now = timezone.now()
    # The lease reference stays: lease_take does not hand these straight back to the same person.
    released = ReviewItem.objects.filter(lease=lease, leased_by=user, status=ItemStatus.OPEN).update(
        leased_by=None, lease_expires_at=None
    )
    Lease.objects.filter(pk=lease.pk, released_at__isnull=True).update(released_at=now)
    lease.released_at = lease.released_at or now
    return released


@transaction.atomic
def leases_release_for_user(*, user: Any) -> int:
    """Release every live lease of ``user`` (on logout); returns how many items went back."""
    total = 0
    for lease in Lease.objects.filter(user=user, released_at__isnull=True):
        total += lease_release(user=user, lease=lease)
    return total


def leases_release_on_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """user_logged_out receiver (connected in apps.py): the batches go back to the queue."""
    if user is not None and user.is_authenticated:
        leases_release_for_user(user=user)
