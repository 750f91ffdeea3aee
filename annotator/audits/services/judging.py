"""A QA lead's judgment of an audit item, and the correction it brings.

- ``audit_judge(*, user, item, verdict) -> AuditItem``: the blind verdict (present / absent);
  the same verdict as the annotator's finishes the item (agreed), another one leaves it
  waiting for a reason;
- ``audit_explain(*, user, item, reason, note="", second_look=False) -> AuditItem``: the reason
  for a disagreement; corrects the dataset truth to the QA verdict (LabelHistory rows of
  source ``audit``, ``source_ref`` ``audit:<id>``; relation rules apply as in review) and the
  decision counts as wrong;
- ``audit_withdraw(*, user, item) -> AuditItem``: the QA lead sees the annotator was right
  after all (before giving a reason): agreed, nothing corrected;
- ``audit_second_look(*, user, item, verdict) -> AuditItem``: another QA lead settles a
  disputed item. The second verdict stands: when it sides with the annotator the correction
  is undone (rows of source ``revert``) and the decision counts as right.

Nobody audits their own decision, and only the QA lead who judged an item explains or
withdraws it. Every change is a conditional update on the locked row, so a double submit
changes nothing twice.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from annotator.audits.models import AuditItem, Reason
from annotator.cleaning.models import ReviewItem, Verdict
from annotator.dataset.models import HistorySource, ImageLabel
from annotator.dataset.services import image_labels_revert, image_labels_set


class AuditStateError(ValueError):
    """The item is not in a state that allows this step (already judged, no reason due …)."""


def _verdict(value: int) -> int:
    verdict = int(Verdict(value))
    if verdict not in (Verdict.PRESENT, Verdict.ABSENT):
        raise AuditStateError(_("An audit verdict is present or absent."))
    return verdict


def _locked(item: AuditItem) -> AuditItem:
    return AuditItem.objects.select_for_update().select_related("decision").get(pk=item.pk)


def _not_own(item: AuditItem, user: Any) -> None:
    if item.annotator_id == user.pk:
        raise PermissionDenied(_("Nobody audits their own decisions."))


def _review_item_sync(item: AuditItem) -> None:
    """Keep the queue item's copy of the dataset state in step with the truth."""
    state = (
        ImageLabel.objects.filter(image_id=item.image_id, label_id=item.label_id)
        .values_list("state", flat=True)
        .first()
    )
    ReviewItem.objects.filter(image_id=item.image_id, label_id=item.label_id).update(dataset_state=state)


@transaction.atomic
def audit_judge(*, user: Any, item: AuditItem, verdict: int) -> AuditItem:
    verdict = _verdict(verdict)
    item = _locked(item)
    _not_own(item, user)
    if item.decision.undone_at is not None:  # services/claims.py marks such items void
        raise AuditStateError(_("The annotator undid this decision: it is no longer audited."))
    if item.status != AuditItem.Status.PENDING:
        raise AuditStateError(_("This item has been judged already."))
    item.qa_user = user
    item.qa_verdict = verdict
    item.judged_at = timezone.now()
    if verdict == item.annotator_verdict:
        item.agrees = True
        item.status = AuditItem.Status.DONE
        item.done_at = item.judged_at
    else:
        item.agrees = False
        item.status = AuditItem.Status.AWAITING_REASON
    item.claimed_by, item.claimed_until = None, None  # judged: the claim has done its job
    item.save(
        update_fields=[
            "qa_user",
            "qa_verdict",
            "judged_at",
            "agrees",
            "status",
            "done_at",
            "claimed_by",
            "claimed_until",
        ]
    )
    return item


def _awaiting_reason_by(item: AuditItem, user: Any) -> None:
    if item.status != AuditItem.Status.AWAITING_REASON:
        raise AuditStateError(_("No reason is due on this item."))
    if item.qa_user_id != user.pk:
        raise PermissionDenied(_("Only the QA lead who judged this item can finish it."))


@transaction.atomic
def audit_explain(*, user: Any, item: AuditItem, reason: str, note: str = "", second_look: bool = False) -> AuditItem:
    reason = Reason(reason).value
    item = _locked(item)
    _awaiting_reason_by(item, user)
    assert item.qa_verdict is not None
    history = image_labels_set(
        image_id=item.image_id,
        states={item.label_id: item.qa_verdict},
        source=HistorySource.AUDIT,
        user=user,
        source_ref=f"audit:{item.pk}",
        reason=f"audit: {reason}",  # the key: history is read in every language
    )
    _review_item_sync(item)
    item.reason = reason
    item.note = note.strip()[:4000]
    item.corrected = bool(history)
    item.second_look_requested = bool(second_look)
    item.status = AuditItem.Status.DONE
    item.done_at = timezone.now()
    item.claimed_by, item.claimed_until = None, None  # judged: the claim has done its job
    item.save(
        update_fields=[
            "reason",
            "note",
            "corrected",
            "second_look_requested",
            "status",
            "done_at",
            "claimed_by",
            "claimed_until",
        ]
    )
    return item


@transaction.atomic
def audit_withdraw(*, user: Any, item: AuditItem) -> AuditItem:
    item = _locked(item)
    _awaiting_reason_by(item, user)
    item.qa_verdict = item.annotator_verdict
    item.agrees = True
    item.status = AuditItem.Status.DONE
    item.done_at = timezone.now()
    item.claimed_by, item.claimed_until = None, None  # judged: the claim has done its job
    item.save(update_fields=["qa_verdict", "agrees", "status", "done_at", "claimed_by", "claimed_until"])
    return item


def _correction_revert(*, user: Any, item: AuditItem) -> None:
    """Restore the states the audit's correction changed, unless someone changed them since."""
    image_labels_revert(
        image_id=item.image_id,
        source_ref=f"audit:{item.pk}",
        user=user,
        reason=f"second look on audit {item.pk} sided with the annotator",
    )


@transaction.atomic
def audit_second_look(*, user: Any, item: AuditItem, verdict: int) -> AuditItem:
    verdict = _verdict(verdict)
    item = _locked(item)
    _not_own(item, user)
    if not item.second_look_requested or item.status != AuditItem.Status.DONE:
        raise AuditStateError(_("No second look was asked for on this item."))
    if item.second_verdict is not None:
        raise AuditStateError(_("This item has had its second look."))
    if item.qa_user_id == user.pk:
        raise PermissionDenied(_("A second look comes from another QA lead."))
    item.second_user = user
    item.second_verdict = verdict
    item.second_at = timezone.now()
    if verdict == item.annotator_verdict:
        _correction_revert(user=user, item=item)
        _review_item_sync(item)
        item.agrees = True
        item.corrected = False
    item.claimed_by, item.claimed_until = None, None  # judged: the claim has done its job
    item.save(
        update_fields=[
            "second_user",
            "second_verdict",
            "second_at",
            "agrees",
            "corrected",
            "claimed_by",
            "claimed_until",
        ]
    )
    return item
