"""A hand-made world for the label health and annotator home tests, with figures worked out by hand.

cat: 6 positives (2 set by an annotator) + 1 verified negative (annotator) → 3 verified;
     queue: 5 open items (priorities .1 .2 .3 .4 .5 → 1.5 expected errors), 2 decided, 1 closed;
     first decisions standing: 3, of which 2 changed the state (→ 2/3); one undone and one
     second opinion do not count.
dog: 2 positives, queue: 2 open items of priority .9 → 1.8 expected errors, no decisions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from annotator.cleaning.models import Decision, ItemStatus, ReviewItem, Verdict
from annotator.dataset.models import HistorySource, ImageLabel
from tests.cleaning.support import World, world_make


@dataclass
class HealthWorld:
    world: World
    cat_items: list[ReviewItem]
    dog_items: list[ReviewItem]


def state(world: World, i: int, key: str, value: int, source: str = HistorySource.IMPORT) -> None:
    ImageLabel.objects.create(image=world.images[i], label=world.label(key), state=value, source=source)


def item(world: World, i: int, key: str, status: int, priority: float) -> ReviewItem:
    return ReviewItem.objects.create(image=world.images[i], label=world.label(key), status=status, priority=priority)


def decision(it: ReviewItem, user: Any, previous: int | None, new: int | None, **extra: Any) -> Decision:
    verdict = Verdict.UNSURE if new is None else new
    return Decision.objects.create(item=it, user=user, verdict=verdict, previous_state=previous, new_state=new, **extra)


def health_world_make(root: Path, annotator: object, other: object) -> HealthWorld:
    world = world_make(root, images=10)
    for i in range(4):
        state(world, i, "cat", 1)
    for i in (4, 5):
        state(world, i, "cat", 1, HistorySource.ANNOTATOR)
    state(world, 6, "cat", 0, HistorySource.ANNOTATOR)
    state(world, 0, "dog", 1)
    state(world, 1, "dog", 1)
    cat_items = [item(world, i, "cat", ItemStatus.OPEN, (i + 1) / 10) for i in range(5)]
    cat_items += [item(world, 5, "cat", ItemStatus.DECIDED, 0.9), item(world, 6, "cat", ItemStatus.DECIDED, 0.9)]
    cat_items.append(item(world, 7, "cat", ItemStatus.CLOSED, 0.99))
    dog_items = [item(world, i, "dog", ItemStatus.OPEN, 0.9) for i in (2, 3)]
    decision(cat_items[5], annotator, None, 1)  # added a missing cat: changed
    decision(cat_items[6], annotator, 1, 0)  # removed a wrong cat: changed
    decision(cat_items[0], annotator, 1, 1)  # confirmed: unchanged
    decision(cat_items[1], annotator, 1, 0, undone_at=world.images[0].created_at)  # undone: not counted
    decision(cat_items[5], other, 1, 1, kind=Decision.Kind.SECOND_OPINION)  # second opinion: not counted
    return HealthWorld(world, cat_items, dog_items)
