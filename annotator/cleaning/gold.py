"""Gold items in review batches: picked when a lease is taken, shown like any other tile.

A gold item (audits.GoldItem) is a decided review item whose answer a QA lead knows. When
AUDIT_GOLD_RATE (LABELLOOP_GOLD_RATE) is above 0, ``lease_take`` asks ``gold_pick`` for
round(rate × batch size) of the label's active gold items the person has not answered (at
least one when there is any), takes that many fewer real items, and ``gold_attach`` records
them (GoldShown) at random places of the batch. ``lease_items`` puts them back at those
places. The tile of a gold item looks like any open item's: status open, the dataset state the
item had before it was decided, a priority between its neighbours'.

Nothing here runs with the rate at 0, or for a label without gold items: which labels have
some is read once a minute per process (``gold_label_ids``), so the cleaning path pays no
query for it. audits is imported lazily: it imports cleaning, never the reverse at load time.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any

from django.conf import settings
from django.db.models import Exists, OuterRef

from annotator.cleaning.models import Decision, GoldShown, ItemStatus, Lease, ReviewItem

#: How long a process trusts its list of labels with gold items (new gold shows up within it).
GOLD_LABELS_TTL_SECONDS = 60.0

_gold_labels: tuple[float, frozenset[int]] | None = None
_gold_labels_lock = threading.Lock()


def gold_rate() -> float:
    return float(getattr(settings, "AUDIT_GOLD_RATE", 0.0) or 0.0)


def gold_label_ids() -> frozenset[int]:
    """Ids of labels with active gold items (cached per process for GOLD_LABELS_TTL_SECONDS)."""
    global _gold_labels
    cached = _gold_labels
    if cached is not None and time.monotonic() - cached[0] < GOLD_LABELS_TTL_SECONDS:
        return cached[1]
    from annotator.audits.models import GoldItem

    ids = frozenset(GoldItem.objects.filter(active=True).values_list("review_item__label_id", flat=True).distinct())
    with _gold_labels_lock:
        _gold_labels = (time.monotonic(), ids)
    return ids


def gold_label_ids_forget() -> None:
    """Drop this process's list (after a gold item was marked or deactivated here)."""
    global _gold_labels
    with _gold_labels_lock:
        _gold_labels = None


def gold_count(*, rate: float, size: int) -> int:
    """How many of a batch of ``size`` tiles are gold: round(rate × size), at least 1."""
    if rate <= 0 or size <= 0:
        return 0
    return max(1, min(size - 1, round(rate * size))) if size > 1 else 0


def gold_pick(*, user: Any, label_id: int, size: int) -> list[tuple[int, int | None]]:
    """(review item id, shown state) of up to ``gold_count`` of the label's active gold items,
    at random, that ``user`` has not decided or answered and that no live lease of theirs shows."""
    wanted = gold_count(rate=gold_rate(), size=size)
    if not wanted or label_id not in gold_label_ids():
        return []
    from annotator.audits.models import GoldItem

    answered = Decision.objects.filter(item_id=OuterRef("review_item_id"), user=user, undone_at__isnull=True)
    on_screen = GoldShown.objects.filter(
        review_item_id=OuterRef("review_item_id"), lease__user=user, lease__released_at__isnull=True
    )
    rows = (
        GoldItem.objects.filter(review_item__label_id=label_id, active=True)
        .exclude(Exists(answered))
        .exclude(Exists(on_screen))
        .order_by("?")
        .values_list("review_item_id", "shown_state")[:wanted]
    )
    return list(rows)


def gold_attach(*, lease: Lease, gold: list[tuple[int, int | None]], real: int) -> int:
    """Show ``gold`` in ``lease`` (``real`` real items) at random places; returns how many."""
    if not gold or not real:
        return 0
    places = sorted(random.sample(range(real + len(gold)), len(gold)))
    GoldShown.objects.bulk_create(
        GoldShown(lease=lease, review_item_id=item_id, position=place, shown_state=state)
        for (item_id, state), place in zip(gold, places, strict=True)
    )
    return len(gold)


def gold_merge(*, lease: Lease, items: list[ReviewItem]) -> list[ReviewItem]:
    """``items`` (the lease's real ones, in order) with its gold items put back at their places,
    dressed as open items (see the module docstring); the caller checked ``lease.gold_shown``."""
    shown = list(GoldShown.objects.filter(lease=lease).select_related("review_item").order_by("position"))
    merged = list(items)
    for row in shown:
        gold = row.review_item
        place = min(row.position, len(merged))
        gold.status = int(ItemStatus.OPEN)
        gold.shown_state = row.shown_state  # type: ignore[attr-defined]
        neighbours = merged[max(0, place - 1) : place + 1]
        if neighbours:
            gold.priority = sum(item.priority for item in neighbours) / len(neighbours)
        merged.insert(place, gold)
    return merged
