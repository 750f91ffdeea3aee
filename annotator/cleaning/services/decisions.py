"""Decisions: a person's verdict on a ReviewItem, applied to the dataset truth with history.

- ``decision_record(*, user, item, verdict, time_spent_ms=0, lease_check=True) -> Decision``
- ``decision_undo(*, user, decision=None) -> Decision`` (the user's last decision by default)
- ``image_label_add(*, user, image_id, label, time_spent_ms=0) -> Decision``

Rules:

- an annotator decides only items leased to them (PermissionDenied otherwise); QA leads and
  admins may decide any item;
- present / absent go to ``image_labels_set`` (source annotator, source_ref
  ``decision:<id>``): one LabelHistory row per change, relation rules on the spot (present
  "fold_eared_cat" makes "cat" positive, "forest" makes "tree" positive); unsure changes nothing;
- ``conflicts``: labels the image now carries that the decided label (or its closure)
  excludes — flagged back, not changed;
- a decision on an item someone else already decided is a second opinion: kept, never
  applied; when it differs the item is marked CONFLICT for QA leads;
- deciding one's own item again reverts one's earlier decision first, then applies the new one;
- undo restores the states the decision changed (history rows of source ``revert``), unless
  someone changed that label since (left alone, reported in ``skipped``);
- an answer on a gold item shown to the person (cleaning/gold.py: the most recent GoldShown of
  theirs for the item, in a lease still live, released less than its time ago, or one whose
  item they answered already, so that a late answer after a submit or a logout is still
  recognised) is a decision of kind GOLD, compared with the known answer (``agrees``); it
  changes neither the truth nor the item's status, and its undo just marks it undone. Its
  ``gold_labels`` are the labels a real decision would have changed, with the states it would
  have given them (the relation rules applied to the state the tile showed), written nowhere.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.utils import timezone

from annotator.accounts.roles import Role, user_has_role
from annotator.cleaning.models import Decision, GoldShown, ItemStatus, Lease, ReviewItem, Verdict
from annotator.cleaning.ranking import Source
from annotator.dataset.models import HistorySource, ImageLabel, LabelState
from annotator.dataset.services import image_labels_revert, image_labels_set
from annotator.taxonomy.closure import TaxonomyGraph
from annotator.taxonomy.models import Label, LabelRelation


class NothingToUndo(Exception):  # noqa: N818 - an answer, not a programming error
    """The user has no decision left to undo."""


class ItemHeldByOther(Exception):  # noqa: N818
    """Another annotator is reviewing this item right now."""


@dataclass
class UndoResult:
    decision: Decision
    restored: dict[int, int | None] = field(default_factory=dict)  # label id -> state restored
    skipped: list[int] = field(default_factory=list)  # label ids changed by someone since


def taxonomy_graph_one_query() -> TaxonomyGraph:
    """The label tree and relations as ``taxonomy_graph_get`` builds them, in one round trip."""
    return _taxonomy_read()[0]


def _taxonomy_read() -> tuple[TaxonomyGraph, dict[int, tuple[str, str, str]]]:
    """The graph and every label's (key, name_en, name_zh), in one round trip."""
    parents: list[tuple[int, int | None]] = []
    relations: list[tuple[str, int, int]] = []
    names: dict[int, tuple[str, str, str]] = {}
    with connection.cursor() as cur:
        cur.execute(
            f"""SELECT '', id, parent_id, key, name_en, name_zh FROM {Label._meta.db_table}
               UNION ALL SELECT kind, src_id, dst_id, NULL, NULL, NULL FROM {LabelRelation._meta.db_table}"""
        )
        for kind, a, b, key, name_en, name_zh in cur.fetchall():
            if kind:
                relations.append((kind, a, b))
            else:
                parents.append((a, b))
                names[a] = (key, name_en, name_zh)
    return TaxonomyGraph.build(parents, relations), names


# The taxonomy changes seldom; a decision reads its version in the same query that locks the
# item, and the per-process graph is rebuilt only when the version moved. The version: per
# table, the row count, the sum of the rows' transaction ids (every committed insert, update
# and delete moves it) and the sum of a hash of the columns the graph reads (which also sees a
# change made earlier in the same transaction).
_LABEL_T = Label._meta.db_table
_RELATION_T = LabelRelation._meta.db_table
TAXONOMY_VERSION_SQL = f"""(SELECT count(*) || ':' || coalesce(sum(xmin::text::bigint), 0) || ':'
        || coalesce(sum(hashtext(concat_ws('|', id, parent_id, key, name_en, name_zh))::bigint), 0) FROM {_LABEL_T} t)
    || '/' || (SELECT count(*) || ':' || coalesce(sum(xmin::text::bigint), 0) || ':'
        || coalesce(sum(hashtext(concat_ws('|', id, kind, src_id, dst_id))::bigint), 0) FROM {_RELATION_T} r)"""

_taxonomy_cache: dict[str, tuple[TaxonomyGraph, dict[int, tuple[str, str, str]]]] = {}
_taxonomy_lock = threading.Lock()


def taxonomy_cached(version: str) -> tuple[TaxonomyGraph, dict[int, tuple[str, str, str]]]:
    """The graph and label names of taxonomy ``version`` (see TAXONOMY_VERSION_SQL), per process."""
    cached = _taxonomy_cache.get(version)
    if cached is None:
        cached = _taxonomy_read()
        with _taxonomy_lock:
            _taxonomy_cache.clear()
            _taxonomy_cache[version] = cached
    return cached


def _state_of(image_id: int, label_id: int) -> int | None:
    return ImageLabel.objects.filter(image_id=image_id, label_id=label_id).values_list("state", flat=True).first()


def _excluded_conflicts(*, image_id: int, label_id: int, graph: TaxonomyGraph) -> list[str]:
    """Keys of positive labels of the image excluded by ``label_id`` or anything its positive implies."""
    mine = graph.expand([label_id])
    excluded = {other for own in mine for other in graph.excludes.get(own, ())} - mine
    if not excluded:
        return []
    return sorted(
        ImageLabel.objects.filter(image_id=image_id, label_id__in=excluded, state=LabelState.POSITIVE).values_list(
            "label__key", flat=True
        )
    )


def _may_decide_any(user: Any) -> bool:
    return user_has_role(user, Role.QA_LEAD)


def _revert(*, user: Any, decision: Decision) -> UndoResult:
    """Restore the states ``decision`` changed (its history rows), newest first; caller holds the item lock."""
    restored, skipped = image_labels_revert(
        image_id=decision.item.image_id,
        source_ref=f"decision:{decision.pk}",
        user=user,
        reason=f"undo of decision {decision.pk}",
    )
    result = UndoResult(decision=decision, restored=restored, skipped=skipped)
    decision.undone_at = timezone.now()
    decision.save(update_fields=["undone_at"])
    return result


def _status_after(item: ReviewItem) -> int:
    """The item's status from its decisions that stand (not undone)."""
    standing = list(item.decisions.filter(undone_at__isnull=True).exclude(kind=Decision.Kind.GOLD).order_by("id"))
    firsts = [d for d in standing if d.kind != Decision.Kind.SECOND_OPINION]
    if not firsts:
        return int(ItemStatus.OPEN)
    if any(d.kind == Decision.Kind.SECOND_OPINION and d.agrees is False for d in standing):
        return int(ItemStatus.CONFLICT)
    return int(ItemStatus.UNSURE if firsts[-1].verdict == Verdict.UNSURE else ItemStatus.DECIDED)


def _item_locked(item_id: int, user_id: int) -> ReviewItem:
    """The item, ``SELECT ... FOR UPDATE``, annotated with ``standing_id`` / ``standing_user_id`` /
    ``standing_verdict`` (the last first or changed decision not undone), ``state_now`` and
    ``gold_lease_id`` (the lease of ``user_id`` that last showed the item as a gold item, if any,
    see the module rules: looked up only for an item that is not open and leased to
    ``user_id``, which the real items one decides always are)."""
    sql = f"""
        SELECT ri.*, s.id AS standing_id, s.user_id AS standing_user_id, s.verdict AS standing_verdict,
               (SELECT il.state FROM {ImageLabel._meta.db_table} il
                 WHERE il.image_id = ri.image_id AND il.label_id = ri.label_id LIMIT 1) AS state_now,
               CASE WHEN ri.status <> %s OR ri.leased_by_id IS DISTINCT FROM %s THEN (
                    SELECT gs.lease_id FROM {GoldShown._meta.db_table} gs
                      JOIN {Lease._meta.db_table} l ON l.id = gs.lease_id
                     WHERE gs.review_item_id = ri.id AND l.user_id = %s
                       AND (l.released_at IS NULL OR l.expires_at > now() OR EXISTS (
                            SELECT 1 FROM {Decision._meta.db_table} g
                             WHERE g.item_id = ri.id AND g.user_id = %s AND g.kind = %s))
                     ORDER BY gs.lease_id DESC LIMIT 1) END AS gold_lease_id,
               {TAXONOMY_VERSION_SQL} AS taxonomy_version
          FROM {ReviewItem._meta.db_table} ri
          LEFT JOIN LATERAL (
               SELECT d.id, d.user_id, d.verdict FROM {Decision._meta.db_table} d
                WHERE d.item_id = ri.id AND d.undone_at IS NULL AND d.kind IN (%s, %s)
                ORDER BY d.id DESC LIMIT 1) s ON true
         WHERE ri.id = %s
           FOR UPDATE OF ri"""
    params = [
        int(ItemStatus.OPEN),
        user_id,
        user_id,
        user_id,
        int(Decision.Kind.GOLD),
        int(Decision.Kind.FIRST),
        int(Decision.Kind.CHANGE),
        item_id,
    ]
    rows = list(ReviewItem.objects.raw(sql, params))
    if not rows:
        raise ReviewItem.DoesNotExist(f"no review item {item_id}")
    return rows[0]


def _gold_answer(*, user: Any, item: ReviewItem, lease_id: int, verdict: int, time_spent_ms: int) -> Decision:
    """An answer on a gold item shown in ``user``'s lease: a GOLD decision, compared with the
    known answer; the truth and the item's status stay as they are. Answering again replaces
    one's earlier answer (it is marked undone)."""
    from annotator.audits.models import GoldItem

    gold = GoldItem.objects.filter(review_item_id=item.pk).values_list("answer", "shown_state").first()
    answer, shown_state = gold if gold is not None else (None, None)
    Decision.objects.filter(item=item, user=user, kind=Decision.Kind.GOLD, undone_at__isnull=True).update(
        undone_at=timezone.now()
    )
    return Decision.objects.create(
        item=item,
        user=user,
        lease_id=lease_id,
        verdict=verdict,
        kind=Decision.Kind.GOLD,
        previous_state=shown_state,
        new_state=shown_state,
        agrees=None if verdict == Verdict.UNSURE or answer is None else verdict == answer,
        time_spent_ms=time_spent_ms,
    )


def gold_answer_labels(*, decision: Decision, graph: TaxonomyGraph, undo: bool = False) -> dict[int, int | None]:
    """Label id -> state of the labels a real decision with ``decision``'s verdict would have
    changed on the gold item's image, from the state its tile showed (``previous_state``):
    the label itself, and for present the labels it implies that the image lacks, made
    positive. With ``undo``: the states an undo would have put back (the shown state, and the
    implied labels as they are). Reads the image's states once; writes nothing."""
    item = decision.item
    shown = decision.previous_state
    verdict = decision.verdict
    labels: dict[int, int | None] = {item.label_id: shown if undo or verdict == Verdict.UNSURE else verdict}
    implied = graph.closure(item.label_id) - {item.label_id} if verdict == Verdict.PRESENT else frozenset()
    if implied:
        states = dict(
            ImageLabel.objects.filter(image_id=item.image_id, label_id__in=implied).values_list("label_id", "state")
        )
        for label_id in implied:
            if states.get(label_id) != LabelState.POSITIVE:
                labels[label_id] = states.get(label_id) if undo else int(LabelState.POSITIVE)
    return labels


@transaction.atomic
def decision_record(
    *,
    user: Any,
    item: ReviewItem,
    verdict: int,
    time_spent_ms: int = 0,
    lease_check: bool = True,
    graph: TaxonomyGraph | None = None,
) -> Decision:
    """Record ``user``'s ``verdict`` (Verdict) on ``item`` and apply it (see the module rules).

    Raises PermissionDenied when an annotator does not hold the item's lease (unless
    ``lease_check`` is False: image_label_add checks access its own way).
    """
    verdict = int(Verdict(verdict))
    # One round trip, written out (an ORM query with three subqueries costs more to compile
    # than to run): the item, locked, with the decision that stands on it and the dataset's
    # current state (a decision is on the annotator's critical path).
    item = _item_locked(item.pk, user.pk)
    gold_lease_id: int | None = item.gold_lease_id  # type: ignore[attr-defined]
    if lease_check and gold_lease_id is None and item.leased_by_id != user.pk and not _may_decide_any(user):
        raise PermissionDenied("this item is not leased to you")
    standing_id: int | None = item.standing_id  # type: ignore[attr-defined]
    now_state: int | None = item.state_now  # type: ignore[attr-defined]
    graph_now, label_names = taxonomy_cached(item.taxonomy_version)  # type: ignore[attr-defined]
    graph = graph or graph_now
    time_spent_ms = max(0, min(int(time_spent_ms), 3_600_000))
    if gold_lease_id is not None:
        decision = _gold_answer(
            user=user, item=item, lease_id=gold_lease_id, verdict=verdict, time_spent_ms=time_spent_ms
        )
        decision.label_names = label_names  # type: ignore[attr-defined]
        decision.gold_labels = gold_answer_labels(decision=decision, graph=graph)  # type: ignore[attr-defined]
        return decision
    if standing_id is not None and item.standing_user_id != user.pk:  # type: ignore[attr-defined]
        agrees = item.standing_verdict == verdict  # type: ignore[attr-defined]
        decision = Decision.objects.create(
            item=item,
            user=user,
            lease_id=item.lease_id if item.leased_by_id == user.pk else None,
            verdict=verdict,
            kind=Decision.Kind.SECOND_OPINION,
            previous_state=now_state,
            new_state=now_state,
            agrees=agrees,
            time_spent_ms=time_spent_ms,
        )
        if not agrees:
            ReviewItem.objects.filter(pk=item.pk).update(status=ItemStatus.CONFLICT)
        decision.label_names = label_names  # type: ignore[attr-defined]
        return decision
    kind = Decision.Kind.FIRST
    if standing_id is not None:  # the same person changes their mind: their earlier change goes first
        _revert(user=user, decision=Decision.objects.select_related("item").get(pk=standing_id))
        kind = Decision.Kind.CHANGE
        now_state = _state_of(item.image_id, item.label_id)
    decision = Decision.objects.create(
        item=item,
        user=user,
        lease_id=item.lease_id if item.leased_by_id == user.pk else None,
        verdict=verdict,
        kind=kind,
        previous_state=now_state,
        # Present / absent always land: image_labels_set overwrites whatever was there.
        new_state=now_state if verdict == Verdict.UNSURE else verdict,
        time_spent_ms=time_spent_ms,
    )
    decision.changed_label_ids = []  # type: ignore[attr-defined]
    decision.label_names = label_names  # type: ignore[attr-defined]
    if verdict != Verdict.UNSURE:
        history = image_labels_set(
            image_id=item.image_id,
            states={item.label_id: verdict},
            source=HistorySource.ANNOTATOR,
            user=user,
            source_ref=f"decision:{decision.pk}",
            reason="cleaning decision",
            graph=graph,
        )
        decision.changed_label_ids = [row.label_id for row in history]  # type: ignore[attr-defined]
        if verdict == Verdict.PRESENT:
            decision.conflicts = _excluded_conflicts(image_id=item.image_id, label_id=item.label_id, graph=graph)
            if decision.conflicts:
                Decision.objects.filter(pk=decision.pk).update(conflicts=decision.conflicts)
    ReviewItem.objects.filter(pk=item.pk).update(
        status=ItemStatus.UNSURE if verdict == Verdict.UNSURE else ItemStatus.DECIDED,
        dataset_state=decision.new_state,
    )
    return decision


@transaction.atomic
def decision_undo(*, user: Any, decision: Decision | None = None) -> UndoResult:
    """Undo ``decision`` (default: the user's last one that stands); raises NothingToUndo.

    Only one's own decisions can be undone (PermissionDenied otherwise). The item returns to
    the state its remaining decisions give it (open, held by the same lease, when none remain).
    """
    if decision is None:
        decision = Decision.objects.filter(user=user, undone_at__isnull=True).order_by("-id").first()
        if decision is None:
            raise NothingToUndo
    elif decision.user_id != user.pk:
        raise PermissionDenied("only your own decisions can be undone")
    item = ReviewItem.objects.select_for_update().get(pk=decision.item_id)
    decision = Decision.objects.select_for_update().select_related("item").get(pk=decision.pk)
    if decision.undone_at is not None:
        raise NothingToUndo
    if decision.kind == Decision.Kind.GOLD:  # it changed nothing: nothing to restore
        decision.undone_at = timezone.now()
        decision.save(update_fields=["undone_at"])
        return UndoResult(decision=decision)
    result = _revert(user=user, decision=decision)
    ReviewItem.objects.filter(pk=item.pk).update(
        status=_status_after(item), dataset_state=_state_of(item.image_id, item.label_id)
    )
    return result


@transaction.atomic
def image_label_add(*, user: Any, image_id: int, label: Label, time_spent_ms: int = 0) -> Decision:
    """Mark ``label`` present on the image from its page (a label no queue offered, or any other).

    The caller has checked that ``user`` may open the image (review.image_get_for_user). The
    decision goes on the (image, label) item, created when missing (source ANNOTATOR); an
    item another annotator holds right now is refused (ItemHeldByOther); one someone else
    decided already gets a second opinion.
    """
    item, _ = ReviewItem.objects.get_or_create(
        image_id=image_id,
        label=label,
        defaults={"status": ItemStatus.OPEN, "sources": int(Source.ANNOTATOR), "priority": 0.0},
    )
    item = ReviewItem.objects.select_for_update().get(pk=item.pk)
    held = (
        item.status == ItemStatus.OPEN
        and item.leased_by_id not in (None, user.pk)
        and item.lease_expires_at is not None
        and item.lease_expires_at > timezone.now()
    )
    if held and not _may_decide_any(user):
        raise ItemHeldByOther
    if not item.sources & Source.ANNOTATOR:
        ReviewItem.objects.filter(pk=item.pk).update(sources=item.sources | int(Source.ANNOTATOR))
    return decision_record(
        user=user, item=item, verdict=Verdict.PRESENT, time_spent_ms=time_spent_ms, lease_check=False
    )
