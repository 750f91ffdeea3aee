"""Gold items in review batches: picked when a lease is taken, shown like any other tile.

A gold item (audits.GoldItem) is a decided review item whose answer a QA lead knows. When
AUDIT_GOLD_RATE (LABELLOOP_GOLD_RATE) is above 0, ``lease_take`` leaves ``gold_slots`` places
of the batch free, takes the real items first, then asks ``gold_pick`` for ``gold_count`` of
the label's active, decided gold items the person has not answered (never more than rate ÷
(1 − rate) of the real items: gold is at most ``rate`` of any batch, and a queue's last few
items get none), and ``gold_attach`` records them (GoldShown) at random places of the batch.
``lease_items`` puts them back at those places. The tile of a gold item looks like an open
item's (status open, the dataset state the item had before it was decided, the reasons and
priority ranking.py gives that state: GoldItem.shown_reasons / shown_priority), and once the
person answered it like their decided tile (status decided or unsure, their verdict as the
state, their verdict shown).

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

from annotator.cleaning.models import Decision, GoldShown, ItemStatus, Lease, ReviewItem, Verdict
from annotator.cleaning.ranking import (
    STATE_UNKNOWN,
    Reason,
    priority_array,
    reasons_array,
)
from annotator.dataset.models import ImageLabel, LabelState

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


def gold_slots(*, rate: float, size: int) -> int:
    """Places of a batch of ``size`` kept for gold items: floor(rate × size)."""
    if rate <= 0 or size <= 1:
        return 0
    return min(size - 1, int(min(rate, 0.5) * size + 1e-9))


def gold_count(*, rate: float, real: int) -> int:
    """How many gold tiles go with ``real`` real ones: at most real × rate ÷ (1 − rate), so that
    gold is never more than ``rate`` of the batch (none when that allows less than one), and
    never more than the real items."""
    if rate <= 0 or real <= 0:
        return 0
    rate = min(rate, 0.5)
    return min(real, int(real * rate / (1 - rate) + 1e-9))


def gold_pick(*, user: Any, label_id: int, real: int, slots: int) -> list[tuple[int, int | None]]:
    """(review item id, shown state) of up to ``gold_count`` (and ``slots``) of the label's active
    gold items, at random, that are decided (an item whose decision was undone is open: it
    belongs to the queue), that ``user`` has not decided or answered and that no live lease of
    theirs shows."""
    wanted = min(slots, gold_count(rate=gold_rate(), real=real))
    if not wanted or label_id not in gold_label_ids():
        return []
    from annotator.audits.models import GoldItem

    answered = Decision.objects.filter(item_id=OuterRef("review_item_id"), user=user, undone_at__isnull=True)
    on_screen = GoldShown.objects.filter(
        review_item_id=OuterRef("review_item_id"), lease__user=user, lease__released_at__isnull=True
    )
    rows = (
        GoldItem.objects.filter(review_item__label_id=label_id, active=True)
        .exclude(review_item__status__in=[ItemStatus.OPEN, ItemStatus.CLOSED])
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
    dressed as the person's own tiles (see the module docstring); the caller checked
    ``lease.gold_shown``."""
    shown = list(
        GoldShown.objects.filter(lease=lease)
        .select_related("review_item", "review_item__gold_item")
        .order_by("position")
    )
    answers = dict(
        Decision.objects.filter(
            item_id__in=[row.review_item_id for row in shown],
            user_id=lease.user_id,
            kind=Decision.Kind.GOLD,
            undone_at__isnull=True,
        )
        .order_by("id")
        .values_list("item_id", "verdict")
    )
    merged = list(items)
    for row in shown:
        gold = row.review_item
        known = getattr(gold, "gold_item", None)
        place = min(row.position, len(merged))
        verdict = answers.get(gold.pk)
        if verdict is None:
            gold.status = int(ItemStatus.OPEN)
            gold.shown_state = row.shown_state  # type: ignore[attr-defined]
        else:  # answered: as the person's decided tile reads
            gold.status = int(ItemStatus.UNSURE if verdict == Verdict.UNSURE else ItemStatus.DECIDED)
            gold.shown_state = row.shown_state if verdict == Verdict.UNSURE else verdict  # type: ignore[attr-defined]
        if known is not None and known.shown_reasons is not None:
            gold.reasons, priority = known.shown_reasons, known.shown_priority
        else:  # marked before these were kept: the same rules on the stored scores
            gold.reasons, priority = gold_shown_ranking(item=gold, shown_state=row.shown_state)
        gold.priority = _between(priority, merged[max(0, place - 1) : place + 1])
        merged.insert(place, gold)
    return merged


def _between(priority: float | None, neighbours: list[ReviewItem]) -> float:
    """``priority`` kept between the neighbours' (the batch reads highest first)."""
    if not neighbours:
        return float(priority or 0.0)
    if priority is None:
        return sum(item.priority for item in neighbours) / len(neighbours)
    high, low = neighbours[0].priority, neighbours[-1].priority
    return min(max(priority, low), high)


def gold_relation_bits(*, image_id: int, label_id: int, state: int | None, graph: Any) -> int:
    """The relation reasons the rerank would give (image, label) with the label at ``state`` and
    the image's other labels as they are now (services/rerank.py: closure and exclude rows)."""
    positives = set(
        ImageLabel.objects.filter(image_id=image_id, state=LabelState.POSITIVE)
        .exclude(label_id=label_id)
        .values_list("label_id", flat=True)
    )
    bits = 0
    if state != LabelState.POSITIVE:
        for src in positives:
            if label_id in graph.closure(src):
                ancestors = set(graph.ancestors(src))
                bits |= int(Reason.PARENT_MISSING if label_id in ancestors else Reason.IMPLIED_MISSING)
    elif positives & set(graph.excludes.get(label_id, ())):
        bits |= int(Reason.EXCLUDED_PAIR)
    return bits


def gold_shown_ranking(
    *, item: ReviewItem, shown_state: int | None, relation_bits: int | None = None, calibration: Any = (1.0, 0.0)
) -> tuple[int, float]:
    """(reasons, priority) ranking.py gives ``item`` with the dataset at ``shown_state`` and the
    item's stored scores: what its tile shows as an open item. ``relation_bits``: see
    ``gold_relation_bits`` (default: the item's stored ones)."""
    relation = Reason.PARENT_MISSING | Reason.IMPLIED_MISSING | Reason.EXCLUDED_PAIR
    bits = int(item.reasons) & int(relation) if relation_bits is None else relation_bits

    def nan(value: float | None) -> float:
        return float("nan") if value is None else float(value)

    state = [STATE_UNKNOWN if shown_state is None else shown_state]
    model, competitor, other = [nan(item.model_score)], [nan(item.competitor_score)], [nan(item.other_score)]
    reasons = int(
        reasons_array(
            state=state, model_score=model, competitor_score=competitor, other_score=other, relation_reasons=[bits]
        )[0]
    )
    scale, shift = calibration
    priority = float(
        priority_array(
            state=state,
            model_score=model,
            competitor_score=competitor,
            other_score=other,
            reasons=[reasons],
            model_scale=scale,
            model_shift=shift,
        )[0]
    )
    return reasons, priority
