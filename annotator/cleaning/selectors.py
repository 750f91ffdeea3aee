"""Reads of the cleaning app and the access-checked getters its pages and API use.

Getters (one per object, the permission check inside):

- ``label_get_for_user(*, user, key) -> Label``: any role;
- ``lease_get_for_user(*, user, lease_id) -> Lease``: the lease's own holder only;
- ``review_item_get_for_user(*, user, item_id) -> ReviewItem``: the holder of its lease, QA leads, admins,
  and whoever's live lease shows it as a gold item;
- ``image_get_for_user(*, user, image_id) -> Image``: an annotator while the image is in one of
  their batches (gold items included), when they decided one of its items, or when it is a
  guideline example; QA
  leads and admins always.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.db.models import Exists, OuterRef, Q
from django.http import Http404
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from annotator.accounts.roles import Role, user_has_role
from annotator.cleaning.models import Decision, GoldShown, ItemStatus, Lease, ReviewItem, Verdict
from annotator.cleaning.ranking import Reason
from annotator.dataset.models import Evidence, EvidenceSource, HistorySource, Image, ImageLabel, LabelHistory
from annotator.dataset.selectors import evidence_source_current_model
from annotator.taxonomy.models import GuidelineExample, Label

#: Items per page of a queue's read view (QA leads, admins).
QUEUE_READ_PAGE_SIZE = 100
#: History rows shown on the image page, newest first.
IMAGE_HISTORY_LIMIT = 50


def _is_staff(user: Any) -> bool:
    return user_has_role(user, Role.QA_LEAD)


# --- getters --------------------------------------------------------------------------------


def label_get_for_user(*, user: Any, key: str) -> Label:
    if not user_has_role(user, Role.ANNOTATOR, Role.QA_LEAD):
        raise PermissionDenied
    label = Label.objects.filter(key=key).first()
    if label is None:
        raise Http404("no such label")
    return label


def lease_get_for_user(*, user: Any, lease_id: int) -> Lease:
    lease = Lease.objects.select_related("label").filter(pk=lease_id).first()
    if lease is None:
        raise Http404("no such lease")
    if lease.user_id != user.pk:
        raise PermissionDenied
    return lease


def review_item_get_for_user(*, user: Any, item_id: int) -> ReviewItem:
    # The access check needs the holder only (decision_record reads the rest, locked).
    item = ReviewItem.objects.filter(pk=item_id).only("id", "image_id", "label_id", "leased_by_id").first()
    if item is None:
        raise Http404("no such item")
    if item.leased_by_id != user.pk and not _is_staff(user) and not _gold_shown_to(user=user, item_id=item.pk):
        raise PermissionDenied
    return item


def _gold_shown_to(*, user: Any, item_id: int | None = None, image_id: int | None = None) -> bool:
    """The item (or an item of the image) is a gold item shown to ``user``: in a lease of theirs
    still live, released less than its time ago (a late answer after a submit or a logout),
    or one they answered already (services/decisions.py reads the same rule)."""
    answered = Decision.objects.filter(item_id=OuterRef("review_item_id"), user=user, kind=Decision.Kind.GOLD)
    shown = GoldShown.objects.filter(lease__user=user).filter(
        Q(lease__released_at__isnull=True) | Q(lease__expires_at__gt=timezone.now()) | Exists(answered)
    )
    if item_id is not None:
        shown = shown.filter(review_item_id=item_id)
    if image_id is not None:
        shown = shown.filter(review_item__image_id=image_id)
    return shown.exists()


def image_get_for_user(*, user: Any, image_id: int) -> Image:
    image = Image.objects.filter(pk=image_id).first()
    if image is None:
        raise Http404("no such image")
    if _is_staff(user):
        return image
    if ReviewItem.objects.filter(image_id=image_id, leased_by=user).exists():
        return image
    if Decision.objects.filter(item__image_id=image_id, user=user).exists():
        return image
    # Guideline examples are shown to everyone who reviews.
    if GuidelineExample.objects.filter(image_id=image_id).exists():
        return image
    if _gold_shown_to(user=user, image_id=image_id):
        return image
    raise PermissionDenied


# --- the queue list -------------------------------------------------------------------------


@dataclass
class QueueRow:
    label: Label
    open_count: int
    positives: int
    enough_data: bool  # more positives than CLEANING_ENOUGH_DATA_COUNT: not offered unless opened
    opened: bool  # an admin opened it anyway
    my_live_lease: bool

    @property
    def offered(self) -> bool:
        return not self.enough_data or self.opened


def queue_rows(*, user: Any) -> list[QueueRow]:
    """The label queues with open items, as ``user`` may see them (a fixed number of queries).

    Annotators see the queues offered to them: labels without "enough data", or opened by an
    admin (selectors_home.queues_offered's rule). QA leads and admins see every queue, the
    ones not offered marked. Counts are the shared cached ones (selectors_home.label_counts);
    the user's own batches come first.
    """
    from annotator.cleaning.selectors_health import label_has_enough_data, label_queue_opened_ids
    from annotator.cleaning.selectors_home import label_counts

    counts = label_counts()
    opened = label_queue_opened_ids()
    staff = _is_staff(user)
    mine = set(
        Lease.objects.filter(user=user, released_at__isnull=True, items__status=ItemStatus.OPEN).values_list(
            "label_id", flat=True
        )
    )
    rows = []
    wanted = [label_id for label_id, (open_items, _) in counts.items() if open_items > 0 or label_id in mine]
    for label in Label.objects.filter(id__in=wanted, is_active=True):
        open_items, positives = counts.get(label.id, (0, 0))
        row = QueueRow(
            label=label,
            open_count=open_items,
            positives=positives,
            enough_data=label_has_enough_data(positives),
            opened=label.id in opened,
            my_live_lease=label.id in mine,
        )
        if row.offered or staff or row.my_live_lease:
            rows.append(row)
    rows.sort(key=lambda row: (not row.my_live_lease, not row.offered, -row.open_count, row.label.key))
    return rows


# --- tiles ----------------------------------------------------------------------------------


def _reason_table() -> dict[Reason, str]:
    return {
        Reason.PARENT_MISSING: _("a child label is positive, this one is not"),
        Reason.IMPLIED_MISSING: _("a label that implies this one is positive"),
        Reason.EXCLUDED_PAIR: _("positive together with a label it excludes"),
        Reason.MODEL_DISAGREES: _("the model disagrees with the dataset"),
        Reason.SOURCES_DISAGREE: _("another source claims it, the dataset does not"),
        Reason.NEGATIVE_CLAIMED: _("verified absent, yet claimed"),
        Reason.UNSUPPORTED_POSITIVE: _("positive, but no source backs it"),
    }


def reason_texts(bits: int, table: dict[Reason, str] | None = None) -> list[str]:
    """The reasons of an item as short sentences in the user's language (``table``: from
    ``_reason_table()``, built once per batch)."""
    texts = table if table is not None else _reason_table()
    return [text for flag, text in texts.items() if bits & flag]


_URL_SENTINEL = 987654321


def _url_maker(name: str) -> Any:
    """``reverse(name, args=[id])`` for many ids at the cost of one reverse (a batch has dozens)."""
    try:
        before, after = reverse(name, args=[_URL_SENTINEL]).split(str(_URL_SENTINEL), 1)
    except NoReverseMatch:
        return None
    return lambda image_id: f"{before}{image_id}{after}"


_VERDICT_NAMES = {Verdict.PRESENT: "present", Verdict.ABSENT: "absent", Verdict.UNSURE: "unsure"}


def tiles_for_items(*, items: list[ReviewItem], user: Any) -> list[dict[str, Any]]:
    """What the review page shows per item: the three sources, reasons, decision (five queries)."""
    if not items:
        return []
    label_ids = {item.label_id for item in items}
    image_ids = [item.image_id for item in items]
    states = {
        (image_id, label_id): state
        for image_id, label_id, state in ImageLabel.objects.filter(
            image_id__in=image_ids, label_id__in=label_ids
        ).values_list("image_id", "label_id", "state")
    }
    model = evidence_source_current_model()
    model_scores: dict[tuple[int, int], float | None] = {}
    competitors: dict[tuple[int, int], list[dict[str, Any]]] = {}
    others: dict[tuple[int, int], list[dict[str, Any]]] = {}
    evidence = Evidence.objects.filter(image_id__in=image_ids, label_id__in=label_ids).values_list(
        "image_id", "label_id", "source_id", "source__kind", "source__name", "keyword", "score", "suggested"
    )
    for image_id, label_id, source_id, kind, name, keyword, ev_score, suggested in evidence:
        key = (image_id, label_id)
        if kind == EvidenceSource.Kind.MODEL:
            if model is not None and source_id == model.pk:
                model_scores[key] = ev_score
            continue
        entry = {"source": name, "keyword": keyword, "score": ev_score, "kind": kind}
        if kind == EvidenceSource.Kind.COMPETITOR and suggested:
            competitors.setdefault(key, []).append(entry)
        elif suggested:
            others.setdefault(key, []).append(entry)
    mine = dict(
        Decision.objects.filter(item_id__in=[item.pk for item in items], user=user, undone_at__isnull=True)
        .exclude(kind=Decision.Kind.SECOND_OPINION)
        .order_by("id")
        .values_list("item_id", "verdict")
    )
    original_url = _url_maker("cleaning:image_original")
    thumb_url = _url_maker("cleaning:thumbnail")
    detail_url = _url_maker("cleaning:image_detail")
    reasons = _reason_table()
    statuses = {status.value: status.name.lower() for status in ItemStatus}
    tiles = []
    for item in items:
        key = (item.image_id, item.label_id)
        # A gold item shows the state it had before it was decided (gold.gold_merge).
        state = item.shown_state if hasattr(item, "shown_state") else states.get(key)
        original = original_url(item.image_id)
        score = model_scores.get(key) if model is not None else None
        verdict = mine.get(item.pk)
        tiles.append(
            {
                "id": item.pk,
                "image_id": item.image_id,
                # Thumbnails not set up: the original, scaled by the browser.
                "thumb_url": thumb_url(item.image_id) if thumb_url is not None else original,
                "original_url": original,
                "detail_url": detail_url(item.image_id),
                "priority": round(item.priority, 4),
                "status": statuses[item.status],
                "dataset_state": state,
                "model_score": score,
                "model_name": model.name if model is not None else None,
                "competitors": sorted(competitors.get(key, []), key=lambda e: -(e["score"] or 0)),
                "others": others.get(key, []),
                "reasons": reason_texts(item.reasons, reasons),
                "my_verdict": _VERDICT_NAMES.get(Verdict(verdict)) if verdict is not None else None,
            }
        )
    return tiles


def lease_items(*, lease: Lease) -> list[ReviewItem]:
    """The items of a lease still held by its owner, highest priority first, with the gold items
    it shows at their places (gold.py)."""
    items = list(ReviewItem.objects.filter(lease=lease, leased_by_id=lease.user_id).order_by("-priority", "id"))
    if lease.gold_shown:
        from annotator.cleaning.gold import gold_merge

        items = gold_merge(lease=lease, items=items)
    return items


# --- read views ------------------------------------------------------------------------------


def queue_items_page(*, user: Any, label: Label, status: str | None, page: str | int | None) -> Page:
    """One page of a queue for QA leads and admins: every item, holder and decisions (a few queries)."""
    if not _is_staff(user):
        raise PermissionDenied
    items = ReviewItem.objects.filter(label=label).select_related("image", "leased_by").order_by("-priority", "id")
    names = {choice.name.lower(): choice.value for choice in ItemStatus}
    if status in names:
        items = items.filter(status=names[status])
    result = Paginator(items, QUEUE_READ_PAGE_SIZE).get_page(page)
    decisions: dict[int, list[Decision]] = {}
    for decision in Decision.objects.filter(item_id__in=[item.pk for item in result.object_list]).select_related(
        "user"
    ):
        decisions.setdefault(decision.item_id, []).append(decision)
    reasons = _reason_table()
    for item in result.object_list:
        item.decision_list = decisions.get(item.pk, [])  # type: ignore[attr-defined]
        item.reason_list = reason_texts(item.reasons, reasons)  # type: ignore[attr-defined]
    return result


@dataclass
class ImageLabelRow:
    label: Label
    state: int
    source: str


def image_detail_get(*, image: Image, user: Any = None) -> dict[str, Any]:
    """All labels of an image (both names), its evidence per source and its recent history.

    For a person shown one of the image's items as a gold item (and who did not decide it for
    real), that label reads as their tile does (image_gold_view): the state shown, or their
    answer once given, and none of the history the item's real decisions and audits wrote.
    """
    masked = image_gold_view(user=user, image_id=image.pk) if user is not None and not _is_staff(user) else {}
    states = {
        row.label_id: (row.label, row.state, row.source)
        for row in ImageLabel.objects.filter(image=image).select_related("label")
    }
    hidden_refs: set[str] = set()
    cutoffs: dict[int, Any] = {}
    if masked:
        labels = {label.pk: label for label in Label.objects.filter(pk__in=masked)}
        for label_id, view in masked.items():
            if view.state is None:
                states.pop(label_id, None)
            else:
                states[label_id] = (labels[label_id], view.state, str(HistorySource.ANNOTATOR))
            hidden_refs |= view.refs
            cutoffs[label_id] = view.since
    rows = [
        ImageLabelRow(label=label, state=state, source=source)
        for label, state, source in sorted(states.values(), key=lambda row: (-row[1], row[0].key))
    ]
    evidence = list(
        Evidence.objects.filter(image=image, suggested=True).select_related("label", "source").order_by("-score")
    )
    history = list(
        LabelHistory.objects.filter(image=image).select_related("label", "user").order_by("-id")[:IMAGE_HISTORY_LIMIT]
    )
    if masked:

        def hidden(row: LabelHistory) -> bool:
            since = cutoffs.get(row.label_id, False)
            return row.source_ref in hidden_refs or since is None or (since is not False and row.created_at >= since)

        history = [row for row in history if not hidden(row)]
        history += [view.answer for view in masked.values() if view.answer is not None]
        history.sort(key=lambda row: row.created_at, reverse=True)
    return {"labels": rows, "evidence": evidence, "history": history}


@dataclass
class GoldView:
    """How an image's gold label reads to one person (image_gold_view)."""

    state: int | None  # the state their tile shows
    since: Any  # history of the label from then on is left out (None: all of it)
    refs: set[str]  # source_ref of the history rows of other labels the item's decisions wrote
    answer: LabelHistory | None  # their answer, as the history row a real decision writes (unsaved)


def image_gold_view(*, user: Any, image_id: int) -> dict[int, GoldView]:
    """Label id -> GoldView of the image's gold items shown to ``user`` that they did not decide
    for real (one query; a few more only when there is one)."""
    shown = list(
        GoldShown.objects.filter(lease__user=user, review_item__image_id=image_id)
        .order_by("-lease_id")
        .values_list("review_item_id", "review_item__label_id", "shown_state")
    )
    if not shown:
        return {}
    items = {item_id: (label_id, state) for item_id, label_id, state in reversed(shown)}  # the latest wins
    decisions = list(Decision.objects.filter(item_id__in=items).select_related("item__label").order_by("id"))
    real_mine = {d.item_id for d in decisions if d.user_id == user.pk and d.kind != Decision.Kind.GOLD}
    from annotator.audits.models import AuditItem

    audits = dict(AuditItem.objects.filter(decision__item_id__in=items).values_list("decision_id", "pk"))
    views: dict[int, GoldView] = {}
    for item_id, (label_id, shown_state) in items.items():
        if item_id in real_mine:
            continue
        on_item = [d for d in decisions if d.item_id == item_id]
        real = [d for d in on_item if d.kind != Decision.Kind.GOLD]
        refs = set()
        for d in real:
            refs |= {f"decision:{d.pk}", f"undo:decision:{d.pk}"}
            if d.pk in audits:
                refs |= {f"audit:{audits[d.pk]}", f"undo:audit:{audits[d.pk]}"}
        mine = [d for d in on_item if d.kind == Decision.Kind.GOLD and d.user_id == user.pk and d.undone_at is None]
        state, answer = shown_state, None
        if mine and mine[-1].verdict != Verdict.UNSURE:
            state = mine[-1].verdict
            if state != shown_state:
                answer = LabelHistory(
                    image_id=image_id,
                    label=mine[-1].item.label,
                    old_state=shown_state,
                    new_state=state,
                    source=HistorySource.ANNOTATOR,
                    source_ref=f"decision:{mine[-1].pk}",
                    user=user,
                    reason="cleaning decision",
                    created_at=mine[-1].created_at,
                )
        views[label_id] = GoldView(state=state, since=real[0].created_at if real else None, refs=refs, answer=answer)
    return views
