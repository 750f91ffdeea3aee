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


class _AuditStepApi(APIView):
    """One step on an audit item: the access-checked item, the input validated by ``input_class``
    (none when None), one service called by ``step``; 409 when the item's state refuses it."""

    permission_classes = [HasRole(*STAFF_ROLES)]
    input_class: type[serializers.Serializer] | None = None

    def step(self, *, user: Any, item: AuditItem, data: dict[str, Any]) -> AuditItem:
        raise NotImplementedError

    def post(self, request: Request, item_id: int) -> Response:
        item = audit_item_get_for_user(user=request.user, item_id=item_id)
        data: dict[str, Any] = {}
        if self.input_class is not None:
            serializer = self.input_class(data=request.data)
            serializer.is_valid(raise_exception=True)
            data = dict(serializer.validated_data)
        try:
            item = self.step(user=request.user, item=item, data=data)
        except AuditStateError as error:
            return _conflict(error)
        return Response(_fresh(item, request.user))


class AuditJudgeApi(_AuditStepApi):
    """The QA lead's blind verdict; the answer reveals the annotator's."""

    input_class = VerdictInputSerializer

    def step(self, *, user: Any, item: AuditItem, data: dict[str, Any]) -> AuditItem:
        return audit_judge(user=user, item=item, verdict=AUDIT_VERDICTS[data["verdict"]])


class AuditExplainApi(_AuditStepApi):
    """The reason for a disagreement: corrects the dataset and counts the decision wrong."""

    input_class = ExplainInputSerializer

    def step(self, *, user: Any, item: AuditItem, data: dict[str, Any]) -> AuditItem:
        return audit_explain(
            user=user, item=item, reason=data["reason"], note=data["note"], second_look=data["second_look"]
        )


class AuditWithdrawApi(_AuditStepApi):
    """The annotator was right after all: agreed, nothing corrected."""

    def step(self, *, user: Any, item: AuditItem, data: dict[str, Any]) -> AuditItem:
        return audit_withdraw(user=user, item=item)


class AuditSecondLookApi(_AuditStepApi):
    """Another QA lead's blind verdict on a disputed item; it settles the item."""

    input_class = VerdictInputSerializer

    def step(self, *, user: Any, item: AuditItem, data: dict[str, Any]) -> AuditItem:
        return audit_second_look(user=user, item=item, verdict=AUDIT_VERDICTS[data["verdict"]])


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
