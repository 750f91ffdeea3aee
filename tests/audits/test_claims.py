"""Handing items to QA leads: never the same item to two at once, reloads keep it, stale work
moves on, and decisions undone since the draw are not audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from annotator.accounts.roles import Role
from annotator.accounts.services import user_create_with_role
from annotator.audits.models import AuditItem
from annotator.audits.services import AuditStateError, audit_explain, audit_judge
from annotator.audits.services.claims import REASON_TAKEOVER, audit_claim_next
from annotator.audits.services.sampling import sample_draw
from annotator.cleaning.models import Verdict
from annotator.cleaning.services.decisions import decision_undo
from tests.audits.support import decided, yesterday


@pytest.fixture
def sampled(world, annotator_user):
    for n, image in enumerate(world.images[:4]):
        decided(user=annotator_user, image=image, label=world.label("cat"), verdict=Verdict.PRESENT, minute=n)
    sample_draw(day=yesterday(), rate=1.0, minimum=0)
    return list(AuditItem.objects.order_by("position"))


def _qa(name: str):
    return user_create_with_role(username=name, password="pw-123456789", role=Role.QA_LEAD)


def test_two_qa_leads_are_handed_different_items_and_a_reload_keeps_mine(sampled, qa_user):
    other = _qa("quinn")
    mine = audit_claim_next(user=qa_user)
    theirs = audit_claim_next(user=other)
    assert mine is not None and theirs is not None and mine.pk != theirs.pk
    assert audit_claim_next(user=qa_user).pk == mine.pk  # the page reloaded
    # A lapsed claim frees the item for the next who asks.
    AuditItem.objects.filter(pk=mine.pk).update(claimed_until=timezone.now() - timedelta(seconds=1))
    assert audit_claim_next(user=_qa("rita")).pk == mine.pk


def test_a_disagreement_left_without_its_reason_goes_back_to_be_judged_blind(sampled, qa_user):
    item = sampled[0]
    audit_judge(user=qa_user, item=item, verdict=Verdict.ABSENT)
    other = _qa("quinn")
    assert audit_claim_next(user=other).pk != item.pk  # still the first QA lead's, for now
    AuditItem.objects.filter(pk=item.pk).update(judged_at=timezone.now() - REASON_TAKEOVER - timedelta(minutes=1))
    AuditItem.objects.update(claimed_by=None, claimed_until=None)
    handed = audit_claim_next(user=other)
    assert handed.pk == item.pk
    handed.refresh_from_db()
    assert (handed.status, handed.qa_verdict, handed.qa_user_id) == (AuditItem.Status.PENDING, None, None)


def test_a_decision_undone_after_the_draw_is_not_audited(sampled, qa_user, annotator_user):
    last = sampled[-1]
    decision_undo(user=annotator_user, decision=last.decision)
    with pytest.raises(AuditStateError, match="undid"):
        audit_judge(user=qa_user, item=last, verdict=Verdict.PRESENT)
    handed = {audit_claim_next(user=_qa(f"qa{n}")).pk for n in range(3)}
    assert last.pk not in handed
    last.refresh_from_db()
    assert last.status == AuditItem.Status.VOID
    assert audit_claim_next(user=_qa("qa9")) is None  # three handed out, one void: none left


def test_a_second_look_goes_to_another_qa_lead(sampled, qa_user):
    for item in sampled:
        judged = audit_judge(user=qa_user, item=item, verdict=Verdict.ABSENT)
        audit_explain(user=qa_user, item=judged, reason="guideline", second_look=item is sampled[0])
    assert audit_claim_next(user=qa_user) is None  # never one's own second look
    assert audit_claim_next(user=_qa("quinn")).pk == sampled[0].pk


def test_an_annotator_is_handed_nothing(sampled, annotator_user):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        audit_claim_next(user=annotator_user)


def test_a_mistake_waiting_for_its_second_look_is_not_shown_yet(sampled, qa_user, annotator_user):
    from annotator.audits.selectors import feedback_mistakes

    first, second = sampled[:2]
    for item, look in ((first, True), (second, False)):
        audit_explain(user=qa_user, item=audit_judge(user=qa_user, item=item, verdict=Verdict.ABSENT),
                      reason="guideline", second_look=look)  # fmt: skip
    assert [m.pk for m in feedback_mistakes(annotator_id=annotator_user.pk)] == [second.pk]
