"""Judging an audit item: agreement, a disagreement that corrects the dataset (relation rules
included), withdrawing, the second look that settles a dispute, and the refusals."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from annotator.accounts.roles import Role
from annotator.accounts.services import user_create_with_role
from annotator.audits.models import AuditItem, Reason
from annotator.audits.services import (
    AuditStateError,
    audit_explain,
    audit_judge,
    audit_second_look,
    audit_withdraw,
)
from annotator.cleaning.models import ReviewItem, Verdict
from annotator.dataset.models import ImageLabel, LabelHistory
from tests.audits.support import audited

# forest ⇒ tree and forest ⇒ outdoor; scene ⊃ forest, plant ⊃ tree (tests/taxonomy/sample.py).
FOREST_AND_CLOSURE = {"forest": 1, "scene": 1, "tree": 1, "plant": 1, "outdoor": 1}


def _states(image) -> dict[str, int]:
    return dict(ImageLabel.objects.filter(image=image).values_list("label__key", "state"))


@pytest.fixture
def second_qa(db):
    return user_create_with_role(username="quinn", password="persona-password-1", role=Role.QA_LEAD)


@pytest.fixture
def missed_forest(world, annotator_user):
    """The annotator said there is no forest on image 0 (the truth says absent since)."""
    return audited(user=annotator_user, image=world.images[0], label=world.label("forest"), verdict=Verdict.ABSENT)


def test_the_same_verdict_finishes_the_item_as_agreed(world, annotator_user, qa_user):
    item = audited(user=annotator_user, image=world.images[1], label=world.label("cat"), verdict=Verdict.PRESENT)
    before = _states(world.images[1])
    item = audit_judge(user=qa_user, item=item, verdict=Verdict.PRESENT)
    item.refresh_from_db()
    assert (item.status, item.agrees, item.qa_user_id) == (AuditItem.Status.DONE, True, qa_user.pk)
    assert item.done_at is not None and not item.corrected
    assert _states(world.images[1]) == before
    assert not LabelHistory.objects.filter(source="audit").exists()


def test_a_disagreement_waits_for_a_reason_then_corrects_the_truth_with_relation_rules(
    world, annotator_user, qa_user, missed_forest
):
    image = world.images[0]
    assert _states(image) == {"forest": 0}
    item = audit_judge(user=qa_user, item=missed_forest, verdict=Verdict.PRESENT)
    assert item.status == AuditItem.Status.AWAITING_REASON and item.agrees is False
    assert _states(image) == {"forest": 0}  # nothing corrected before the reason

    item = audit_explain(user=qa_user, item=item, reason=Reason.MISSED, note="  a forest behind the house  ")
    item.refresh_from_db()
    assert item.status == AuditItem.Status.DONE
    assert (item.agrees, item.corrected, item.reason, item.note) == (
        False,
        True,
        "missed",
        "a forest behind the house",
    )
    assert _states(image) == FOREST_AND_CLOSURE
    history = {
        row.label.key: (row.source, row.old_state, row.new_state, row.user_id)
        for row in LabelHistory.objects.filter(image=image, source_ref=f"audit:{item.pk}").select_related("label")
    }
    assert history == {
        "forest": ("audit", 0, 1, qa_user.pk),
        "scene": ("relation", None, 1, qa_user.pk),
        "tree": ("relation", None, 1, qa_user.pk),
        "plant": ("relation", None, 1, qa_user.pk),
        "outdoor": ("relation", None, 1, qa_user.pk),
    }
    # The queue item shows the corrected truth too.
    assert ReviewItem.objects.get(image=image, label=world.label("forest")).dataset_state == 1


def test_withdrawing_agrees_and_corrects_nothing(world, qa_user, missed_forest):
    item = audit_judge(user=qa_user, item=missed_forest, verdict=Verdict.PRESENT)
    item = audit_withdraw(user=qa_user, item=item)
    item.refresh_from_db()
    assert (item.status, item.agrees, item.corrected) == (AuditItem.Status.DONE, True, False)
    assert item.qa_verdict == Verdict.ABSENT
    assert _states(world.images[0]) == {"forest": 0}
    assert not LabelHistory.objects.filter(source_ref=f"audit:{item.pk}").exists()


def test_a_second_look_siding_with_the_annotator_reverts_the_correction(world, qa_user, second_qa, missed_forest):
    item = audit_judge(user=qa_user, item=missed_forest, verdict=Verdict.PRESENT)
    item = audit_explain(user=qa_user, item=item, reason=Reason.AMBIGUOUS, second_look=True)
    assert item.second_look_requested and _states(world.images[0]) == FOREST_AND_CLOSURE

    item = audit_second_look(user=second_qa, item=item, verdict=Verdict.ABSENT)
    item.refresh_from_db()
    assert (item.agrees, item.corrected, item.second_verdict, item.second_user_id) == (
        True,
        False,
        Verdict.ABSENT,
        second_qa.pk,
    )
    assert _states(world.images[0]) == {"forest": 0}
    reverted = set(
        LabelHistory.objects.filter(source_ref=f"undo:audit:{item.pk}", source="revert").values_list(
            "label__key", flat=True
        )
    )
    assert reverted == set(FOREST_AND_CLOSURE)
    assert ReviewItem.objects.get(image=world.images[0], label=world.label("forest")).dataset_state == 0


def test_a_second_look_siding_with_the_first_qa_lead_keeps_the_correction(world, qa_user, second_qa, missed_forest):
    item = audit_judge(user=qa_user, item=missed_forest, verdict=Verdict.PRESENT)
    item = audit_explain(user=qa_user, item=item, reason=Reason.MISSED, second_look=True)
    item = audit_second_look(user=second_qa, item=item, verdict=Verdict.PRESENT)
    item.refresh_from_db()
    assert (item.agrees, item.corrected) == (False, True)
    assert _states(world.images[0]) == FOREST_AND_CLOSURE
    with pytest.raises(AuditStateError):
        audit_second_look(user=second_qa, item=item, verdict=Verdict.ABSENT)


def test_nobody_audits_their_own_decision(world, qa_user):
    item = audited(user=qa_user, image=world.images[2], label=world.label("cat"), verdict=Verdict.PRESENT)
    with pytest.raises(PermissionDenied):
        audit_judge(user=qa_user, item=item, verdict=Verdict.ABSENT)
    item.refresh_from_db()
    assert item.status == AuditItem.Status.PENDING and item.qa_user_id is None


def test_judging_twice_is_refused_and_changes_nothing(world, qa_user, second_qa, missed_forest):
    audit_judge(user=qa_user, item=missed_forest, verdict=Verdict.PRESENT)
    with pytest.raises(AuditStateError):
        audit_judge(user=qa_user, item=missed_forest, verdict=Verdict.ABSENT)
    with pytest.raises(AuditStateError):
        audit_judge(user=second_qa, item=missed_forest, verdict=Verdict.ABSENT)
    missed_forest.refresh_from_db()
    assert (missed_forest.qa_user_id, missed_forest.qa_verdict) == (qa_user.pk, Verdict.PRESENT)


def test_only_the_judging_qa_lead_explains_and_only_another_one_looks_again(world, qa_user, second_qa, missed_forest):
    item = audit_judge(user=qa_user, item=missed_forest, verdict=Verdict.PRESENT)
    with pytest.raises(PermissionDenied):
        audit_explain(user=second_qa, item=item, reason=Reason.MISSED)
    with pytest.raises(PermissionDenied):
        audit_withdraw(user=second_qa, item=item)
    item = audit_explain(user=qa_user, item=item, reason=Reason.MISSED, second_look=True)
    with pytest.raises(AuditStateError):
        audit_explain(user=qa_user, item=item, reason=Reason.OTHER)  # a double submit
    assert LabelHistory.objects.filter(source_ref=f"audit:{item.pk}").count() == len(FOREST_AND_CLOSURE)
    with pytest.raises(PermissionDenied):
        audit_second_look(user=qa_user, item=item, verdict=Verdict.ABSENT)


def test_unsure_is_no_audit_verdict(world, qa_user, missed_forest):
    with pytest.raises(AuditStateError):
        audit_judge(user=qa_user, item=missed_forest, verdict=Verdict.UNSURE)
