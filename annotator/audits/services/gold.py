"""Gold items: a QA lead turns a finished audit into an item with a known answer.

- ``gold_mark(*, user, item) -> GoldItem``: from an audit whose outcome is final (agreed, or
  overturned with a reason, and no second look pending): the answer is QA's final verdict,
  the tile will show the dataset state the annotator saw (the audited decision's
  ``previous_state``), with the reasons and priority the ranking gives that state
  (``gold_shown_fields``). A review item is gold at most once (GoldAlready).
- ``gold_deactivate(*, user, gold) -> GoldItem``: no longer mixed into batches; its answers stay.

Mixing into batches and answering live in annotator/cleaning/gold.py and the decision service.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from annotator.accounts.roles import Role, user_has_role
from annotator.audits.models import AuditItem, GoldItem
from annotator.audits.services.judging import AuditStateError
from annotator.cleaning.gold import gold_label_ids_forget, gold_relation_bits, gold_shown_ranking
from annotator.cleaning.models import ReviewItem


class GoldAlready(Exception):  # noqa: N818 - an answer, not a programming error
    """The item is a gold item already."""


def audit_item_final_verdict(item: AuditItem) -> int | None:
    """QA's verdict once the outcome is final (the second look's when it settled it), else None."""
    if item.status != AuditItem.Status.DONE or item.qa_verdict is None:
        return None
    if item.second_look_requested and item.second_verdict is None:
        return None
    return item.second_verdict if item.second_verdict is not None else item.qa_verdict


def gold_shown_fields(*, item_id: int, shown_state: int | None) -> dict[str, Any]:
    """``shown_reasons`` / ``shown_priority`` of a gold item whose tile shows ``shown_state``:
    what the ranking gives the item at that state, the image's other labels and the item's
    scores as they are now (so the reasons never speak of the verified answer)."""
    from annotator.cleaning.services.rerank import calibration_fit
    from annotator.taxonomy.selectors import taxonomy_graph_get

    item = ReviewItem.objects.get(pk=item_id)
    bits = gold_relation_bits(
        image_id=item.image_id, label_id=item.label_id, state=shown_state, graph=taxonomy_graph_get()
    )
    calibration = (
        calibration_fit(label_ids=[item.label_id]).get(item.label_id, (1.0, 0.0))
        if item.model_score is not None
        else (1.0, 0.0)
    )
    reasons, priority = gold_shown_ranking(
        item=item, shown_state=shown_state, relation_bits=bits, calibration=calibration
    )
    return {"shown_reasons": reasons, "shown_priority": priority}


@transaction.atomic
def gold_mark(*, user: Any, item: AuditItem) -> GoldItem:
    if not user_has_role(user, Role.QA_LEAD):
        raise PermissionDenied
    item = AuditItem.objects.select_for_update().select_related("decision").get(pk=item.pk)
    answer = audit_item_final_verdict(item)
    if answer is None:
        raise AuditStateError(_("Only an audit with a final outcome can become a gold item."))
    decision = item.decision
    if GoldItem.objects.filter(review_item_id=decision.item_id).exists():
        raise GoldAlready
    try:
        with transaction.atomic():
            gold = GoldItem.objects.create(
                review_item_id=decision.item_id,
                answer=answer,
                shown_state=decision.previous_state,
                created_by=user,
                **gold_shown_fields(item_id=decision.item_id, shown_state=decision.previous_state),
            )
    except IntegrityError:  # marked by someone else a moment ago
        raise GoldAlready from None
    transaction.on_commit(gold_label_ids_forget)
    return gold


@transaction.atomic
def gold_deactivate(*, user: Any, gold: GoldItem) -> GoldItem:
    if not user_has_role(user, Role.QA_LEAD):
        raise PermissionDenied
    GoldItem.objects.filter(pk=gold.pk).update(active=False)
    gold.active = False
    transaction.on_commit(gold_label_ids_forget)
    return gold
