"""Reads about gold items: the list page, gold accuracy per person (apart from audit accuracy)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import Http404

from annotator.accounts.roles import Role, user_has_role
from annotator.audits.models import AuditItem, GoldItem
from annotator.audits.selectors import Accuracy
from annotator.cleaning.models import Decision, GoldShown

#: Gold items listed on the gold page, newest first.
GOLD_LIST_LIMIT = 500

_GOLD = {"audited": Count("id", filter=Q(agrees__isnull=False)), "agreed": Count("id", filter=Q(agrees=True))}


def _answers(start: date | None = None, end: date | None = None) -> Any:
    query = Decision.objects.filter(kind=Decision.Kind.GOLD, undone_at__isnull=True)
    if start is not None:
        query = query.filter(created_at__date__gte=start)
    if end is not None:
        query = query.filter(created_at__date__lte=end)
    return query


@dataclass
class GoldRow:
    user_id: int
    username: str
    accuracy: Accuracy  # agreed ÷ answered (present / absent answers; unsure ones left out)


def gold_accuracy_by_annotator(*, start: date, end: date) -> list[GoldRow]:
    """One row per person who answered gold items in the range, worst first (two queries)."""
    totals = {
        row["user_id"]: Accuracy(audited=row["audited"], agreed=row["agreed"])
        for row in _answers(start, end).values("user_id").annotate(**_GOLD).order_by()
        if row["audited"]
    }
    names = dict(get_user_model().objects.filter(pk__in=totals).values_list("pk", "username"))
    rows = [GoldRow(user_id=pk, username=names.get(pk, str(pk)), accuracy=acc) for pk, acc in totals.items()]
    rows.sort(key=lambda row: (row.accuracy.value or 0.0, row.username))
    return rows


def gold_accuracy_for(*, user_id: int, start: date, end: date) -> Accuracy:
    row = _answers(start, end).filter(user_id=user_id).aggregate(**_GOLD)
    return Accuracy(audited=int(row["audited"] or 0), agreed=int(row["agreed"] or 0))


@dataclass
class GoldListRow:
    gold: GoldItem
    shown: int
    right: int
    wrong: int


def gold_rows(*, user: Any) -> list[GoldListRow]:
    """The gold items with how often they were shown and answered right / wrong (four queries)."""
    if not user_has_role(user, Role.QA_LEAD):
        raise PermissionDenied
    golds = list(
        GoldItem.objects.select_related("review_item__label", "review_item__image", "created_by").order_by("-id")[
            :GOLD_LIST_LIMIT
        ]
    )
    item_ids = [gold.review_item_id for gold in golds]
    shown = dict(
        GoldShown.objects.filter(review_item_id__in=item_ids)
        .values("review_item_id")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("review_item_id", "n")
    )
    answers = {
        row["item_id"]: row
        for row in _answers()
        .filter(item_id__in=item_ids)
        .values("item_id")
        .annotate(right=Count("id", filter=Q(agrees=True)), wrong=Count("id", filter=Q(agrees=False)))
        .order_by()
    }
    empty = {"right": 0, "wrong": 0}
    return [
        GoldListRow(
            gold=gold,
            shown=shown.get(gold.review_item_id, 0),
            right=answers.get(gold.review_item_id, empty)["right"],
            wrong=answers.get(gold.review_item_id, empty)["wrong"],
        )
        for gold in golds
    ]


def gold_get_for_user(*, user: Any, gold_id: int) -> GoldItem:
    if not user_has_role(user, Role.QA_LEAD):
        raise PermissionDenied
    gold = GoldItem.objects.filter(pk=gold_id).first()
    if gold is None:
        raise Http404("no such gold item")
    return gold


def audit_item_gold(*, item: AuditItem) -> bool:
    """The audited decision's review item is a gold item already."""
    return GoldItem.objects.filter(review_item__decisions__id=item.decision_id).exists()
