"""The audit API: one view per step of a QA lead's judgment (QA leads and admins only).

Each view fetches the item through the access-checked getter, validates a small serializer,
calls one service and answers with ``audit_payload``: what the page may show once the QA lead
has given a blind verdict. A step the item's state does not allow (a double submit, a
reason on an agreed item) is answered 409 and changes nothing.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.translation import gettext as _
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.accounts.access import STAFF_ROLES, HasRole
from annotator.audits.models import AuditItem, Reason
from annotator.audits.selectors import audit_changes, audit_item_get_for_user
from annotator.audits.selectors_gold import audit_item_gold
from annotator.audits.services import (
    AuditStateError,
    audit_explain,
    audit_judge,
    audit_second_look,
    audit_withdraw,
)
from annotator.audits.services.gold import GoldAlready, audit_item_final_verdict, gold_mark
from annotator.cleaning.models import Verdict

AUDIT_VERDICTS = {"present": Verdict.PRESENT, "absent": Verdict.ABSENT}
_VERDICT_NAMES = {int(value): name for name, value in AUDIT_VERDICTS.items()}
STATUS_NAMES = {
    AuditItem.Status.PENDING: "pending",
    AuditItem.Status.AWAITING_REASON: "awaiting_reason",
    AuditItem.Status.DONE: "done",
    AuditItem.Status.VOID: "void",
}


def _verdict_name(value: int | None) -> str | None:
    return None if value is None else _VERDICT_NAMES.get(int(value))


def _username(user: Any) -> str | None:
    return None if user is None else user.get_username()


def audit_payload(*, item: AuditItem, user: Any) -> dict[str, Any]:
    """Everything about a judged item: both verdicts, who gave them, the reason, the correction.

    Never sent (nor rendered) before ``user`` gave their own blind verdict on the item.
    """
    return {
        "item": item.pk,
        "status": STATUS_NAMES[AuditItem.Status(item.status)],
        "annotator": _username(item.annotator),
        "annotator_verdict": _verdict_name(item.annotator_verdict),
        "qa_user": _username(item.qa_user),
        "qa_verdict": _verdict_name(item.qa_verdict),
        "agrees": item.agrees,
        "mine": item.qa_user_id == user.pk,
        "reason": item.reason,
        "reason_label": str(Reason(item.reason).label) if item.reason else "",
        "note": item.note,
        "corrected": item.corrected,
        "second_look_requested": item.second_look_requested,
        "second_user": _username(item.second_user),
        "second_verdict": _verdict_name(item.second_verdict),
        "changes": [
            {
                "key": change.key,
                "name_en": change.name_en,
                "name_zh": change.name_zh,
                "old_state": change.old_state,
                "new_state": change.new_state,
                "source": change.source,
            }
            for change in audit_changes(item=item)
        ],
        "next_url": reverse("audits:next"),
        # A finished audit can become a gold item (audits/services/gold.py).
        "gold_allowed": audit_item_final_verdict(item) is not None,
        "gold": audit_item_gold(item=item),
    }


def _conflict(error: AuditStateError) -> Response:
    return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)


def _fresh(item: AuditItem, user: Any) -> dict[str, Any]:
    item = AuditItem.objects.select_related("annotator", "qa_user", "second_user").get(pk=item.pk)
    return audit_payload(item=item, user=user)


class VerdictInputSerializer(serializers.Serializer):
    verdict = serializers.ChoiceField(choices=list(AUDIT_VERDICTS))


class ExplainInputSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(choices=Reason.values)
    note = serializers.CharField(required=False, allow_blank=True, max_length=4000, default="")
    second_look = serializers.BooleanField(required=False, default=False)


class AuditJudgeApi(APIView):
    """The QA lead's blind verdict; the answer reveals the annotator's."""

    permission_classes = [HasRole(*STAFF_ROLES)]

    def post(self, request: Request, item_id: int) -> Response:
        item = audit_item_get_for_user(user=request.user, item_id=item_id)
        data = VerdictInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            item = audit_judge(user=request.user, item=item, verdict=AUDIT_VERDICTS[data.validated_data["verdict"]])
        except AuditStateError as error:
            return _conflict(error)
        return Response(_fresh(item, request.user))


class AuditExplainApi(APIView):
    """The reason for a disagreement: corrects the dataset and counts the decision wrong."""

    permission_classes = [HasRole(*STAFF_ROLES)]

    def post(self, request: Request, item_id: int) -> Response:
        item = audit_item_get_for_user(user=request.user, item_id=item_id)
        data = ExplainInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            item = audit_explain(
                user=request.user,
                item=item,
                reason=data.validated_data["reason"],
                note=data.validated_data["note"],
                second_look=data.validated_data["second_look"],
            )
        except AuditStateError as error:
            return _conflict(error)
        return Response(_fresh(item, request.user))


class AuditWithdrawApi(APIView):
    """The annotator was right after all: agreed, nothing corrected."""

    permission_classes = [HasRole(*STAFF_ROLES)]

    def post(self, request: Request, item_id: int) -> Response:
        item = audit_item_get_for_user(user=request.user, item_id=item_id)
        try:
            item = audit_withdraw(user=request.user, item=item)
        except AuditStateError as error:
            return _conflict(error)
        return Response(_fresh(item, request.user))


class AuditSecondLookApi(APIView):
    """Another QA lead's blind verdict on a disputed item; it settles the item."""

    permission_classes = [HasRole(*STAFF_ROLES)]

    def post(self, request: Request, item_id: int) -> Response:
        item = audit_item_get_for_user(user=request.user, item_id=item_id)
        data = VerdictInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            item = audit_second_look(
                user=request.user, item=item, verdict=AUDIT_VERDICTS[data.validated_data["verdict"]]
            )
        except AuditStateError as error:
            return _conflict(error)
        return Response(_fresh(item, request.user))


class GoldMarkApi(APIView):
    """Use a finished audit's item as a gold item, QA's verdict as its answer; 409 when it is one."""

    permission_classes = [HasRole(*STAFF_ROLES)]

    def post(self, request: Request, item_id: int) -> Response:
        item = audit_item_get_for_user(user=request.user, item_id=item_id)
        try:
            gold = gold_mark(user=request.user, item=item)
        except GoldAlready:
            return Response({"detail": _("This item is a gold item already.")}, status=status.HTTP_409_CONFLICT)
        except AuditStateError as error:
            return _conflict(error)
        return Response(
            {"gold": gold.pk, "item": item.pk, "answer": _verdict_name(gold.answer)}, status=status.HTTP_201_CREATED
        )
