"""The cleaning API: one view per operation; each validates, calls one service, serializes."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils.translation import gettext as _
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.accounts.access import ANY_ROLE, HasRole
from annotator.accounts.roles import Role
from annotator.cleaning.leases import lease_release, lease_renew, lease_take
from annotator.cleaning.models import Decision, Lease, Verdict
from annotator.cleaning.selectors import (
    image_get_for_user,
    label_get_for_user,
    lease_get_for_user,
    lease_items,
    review_item_get_for_user,
    tiles_for_items,
)
from annotator.cleaning.services import (
    ItemHeldByOther,
    NothingToUndo,
    decision_record,
    decision_undo,
    image_label_add,
)
from annotator.cleaning.services.decisions import gold_answer_labels, taxonomy_graph_one_query
from annotator.cleaning.tasks import queues_rerank_enqueue
from annotator.dataset.models import ImageLabel
from annotator.taxonomy.models import Label

VERDICTS = {"present": Verdict.PRESENT, "absent": Verdict.ABSENT, "unsure": Verdict.UNSURE}


def lease_payload(*, lease: Lease, user: Any) -> dict[str, Any]:
    return {
        "lease": lease.pk,
        "label": lease.label.key,
        "expires_at": lease.expires_at.isoformat(),
        "items": tiles_for_items(items=lease_items(lease=lease), user=user),
    }


def _labels_of(
    image_id: int, label_ids: set[int], names: dict[int, tuple[str, str, str]] | None = None
) -> list[dict[str, Any]]:
    """The image's current state for these labels (after a decision or an undo), both names
    (``names``: label id -> (key, name_en, name_zh), as decision_record read them)."""
    if names is not None and label_ids <= names.keys():
        states = dict(
            ImageLabel.objects.filter(image_id=image_id, label_id__in=label_ids).values_list("label_id", "state")
        )
        return [
            {"key": names[i][0], "name_en": names[i][1], "name_zh": names[i][2], "state": states.get(i)}
            for i in sorted(label_ids, key=lambda i: names[i][0])
        ]
    state = ImageLabel.objects.filter(image_id=image_id, label_id=OuterRef("pk")).values("state")[:1]
    rows = Label.objects.filter(id__in=label_ids).annotate(state=Subquery(state)).order_by("key")
    return [
        {"key": label.key, "name_en": label.name_en, "name_zh": label.name_zh, "state": label.state}  # type: ignore[attr-defined]
        for label in rows.only("key", "name_en", "name_zh")
    ]


def _shown_labels(decision: Decision, states: dict[int, int | None]) -> list[dict[str, Any]]:
    """A gold answer's labels as its tile's page would read them (never the verified answer the
    truth holds): ``states`` from decisions.gold_answer_labels."""
    names = getattr(decision, "label_names", None) or {}
    if not states.keys() <= names.keys():
        names = {
            pk: (key, name_en, name_zh)
            for pk, key, name_en, name_zh in Label.objects.filter(pk__in=states).values_list(
                "pk", "key", "name_en", "name_zh"
            )
        }
    return [
        {"key": names[i][0], "name_en": names[i][1], "name_zh": names[i][2], "state": state}
        for i, state in sorted(states.items(), key=lambda pair: names[pair[0]][0])
    ]


def _gold_payload(decision: Decision) -> dict[str, Any]:
    """An answer on a gold item, answered like a first decision on an open item: the labels a
    real decision would have changed (relation rules included), nothing written."""
    shown = decision.previous_state
    new_state = shown if decision.verdict == Verdict.UNSURE else decision.verdict
    return {
        "decision": decision.pk,
        "item": decision.item.pk,
        "verdict": {v: k for k, v in VERDICTS.items()}[Verdict(decision.verdict)],
        "kind": Decision.Kind.FIRST.name.lower(),
        "previous_state": shown,
        "new_state": new_state,
        "second_opinion": False,
        "agrees": None,
        "conflicts": [],
        "labels": _shown_labels(decision, decision.gold_labels),  # type: ignore[attr-defined]
    }


def decision_payload(decision: Decision) -> dict[str, Any]:
    if decision.kind == Decision.Kind.GOLD:
        return _gold_payload(decision)
    item = decision.item
    changed = set(getattr(decision, "changed_label_ids", ()))  # set by decision_record
    return {
        "decision": decision.pk,
        "item": item.pk,
        "verdict": {v: k for k, v in VERDICTS.items()}[Verdict(decision.verdict)],
        "kind": Decision.Kind(decision.kind).name.lower(),
        "previous_state": decision.previous_state,
        "new_state": decision.new_state,
        "second_opinion": decision.kind == Decision.Kind.SECOND_OPINION,
        "agrees": decision.agrees,
        "conflicts": decision.conflicts,
        "labels": _labels_of(item.image_id, changed | {item.label_id}, getattr(decision, "label_names", None)),
    }


class LeaseTakeApi(APIView):
    """Take the next batch of a label's queue (the page prefetches it before it is needed)."""

    permission_classes = [HasRole(*ANY_ROLE)]

    def post(self, request: Request, key: str) -> Response:
        label = label_get_for_user(user=request.user, key=key)
        lease = lease_take(user=request.user, label=label)
        return Response(lease_payload(lease=lease, user=request.user), status=status.HTTP_201_CREATED)


class LeaseRenewApi(APIView):
    permission_classes = [HasRole(*ANY_ROLE)]

    def post(self, request: Request, lease_id: int) -> Response:
        lease = lease_get_for_user(user=request.user, lease_id=lease_id)
        lease = lease_renew(user=request.user, lease=lease)
        return Response(
            {"lease": lease.pk, "expires_at": lease.expires_at.isoformat(), "released": bool(lease.released_at)}
        )


class LeaseReleaseApi(APIView):
    permission_classes = [HasRole(*ANY_ROLE)]

    def post(self, request: Request, lease_id: int) -> Response:
        lease = lease_get_for_user(user=request.user, lease_id=lease_id)
        return Response({"lease": lease.pk, "released": lease_release(user=request.user, lease=lease)})


class DecisionInputSerializer(serializers.Serializer):
    verdict = serializers.ChoiceField(choices=list(VERDICTS))
    time_spent_ms = serializers.IntegerField(required=False, min_value=0, max_value=3_600_000, default=0)


class DecisionRecordApi(APIView):
    """Record a verdict on an item leased to you (QA leads and admins: any item)."""

    permission_classes = [HasRole(*ANY_ROLE)]

    def post(self, request: Request, item_id: int) -> Response:
        item = review_item_get_for_user(user=request.user, item_id=item_id)
        data = DecisionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        decision = decision_record(
            user=request.user,
            item=item,
            verdict=VERDICTS[data.validated_data["verdict"]],
            time_spent_ms=data.validated_data["time_spent_ms"],
        )
        return Response(decision_payload(decision), status=status.HTTP_201_CREATED)


class DecisionUndoApi(APIView):
    """Undo your last decision; 404 when there is none left."""

    permission_classes = [HasRole(*ANY_ROLE)]

    def post(self, request: Request) -> Response:
        try:
            with transaction.atomic():
                result = decision_undo(user=request.user)
        except NothingToUndo:
            return Response({"detail": _("Nothing to undo.")}, status=status.HTTP_404_NOT_FOUND)
        decision = result.decision
        item = decision.item
        if decision.kind == Decision.Kind.GOLD:  # the tile goes back to the state it showed
            back = gold_answer_labels(decision=decision, graph=taxonomy_graph_one_query(), undo=True)
            labels = _shown_labels(decision, back)
            # What a real undo would have put back: the label when the verdict changed it, and the
            # labels it implied.
            restored = len(back) - 1 + int(decision.verdict not in (Verdict.UNSURE, decision.previous_state))
        else:
            labels = _labels_of(item.image_id, set(result.restored) | set(result.skipped) | {item.label_id})
            restored = len(result.restored)
        return Response(
            {
                "decision": decision.pk,
                "item": item.pk,
                "restored": restored,
                "skipped": len(result.skipped),
                "labels": labels,
            }
        )


class ImageLabelAddInputSerializer(serializers.Serializer):
    # "label" is also Field.label (its caption) in the DRF stubs.
    label = serializers.SlugField(max_length=100)  # type: ignore[assignment]


class ImageLabelAddApi(APIView):
    """Mark a label present on an image from its page (a label no source offered)."""

    permission_classes = [HasRole(*ANY_ROLE)]

    def post(self, request: Request, image_id: int) -> Response:
        image = image_get_for_user(user=request.user, image_id=image_id)
        data = ImageLabelAddInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        label = Label.objects.filter(key=data.validated_data["label"]).first()
        if label is None:
            return Response({"label": [_("No label has this key.")]}, status=status.HTTP_400_BAD_REQUEST)
        try:
            decision = image_label_add(user=request.user, image_id=image.pk, label=label)
        except ItemHeldByOther:
            return Response(
                {"detail": _("Someone else is reviewing this label on this image right now.")},
                status=status.HTTP_409_CONFLICT,
            )
        return Response(decision_payload(decision), status=status.HTTP_201_CREATED)


class QueueRerankApi(APIView):
    """Queue a rerank of one label's queue (admins)."""

    permission_classes = [HasRole(Role.ADMIN)]

    def post(self, request: Request, key: str) -> Response:
        label = label_get_for_user(user=request.user, key=key)
        queues_rerank_enqueue(label_ids=[label.pk])
        return Response({"queued": True, "label": label.key}, status=status.HTTP_202_ACCEPTED)
