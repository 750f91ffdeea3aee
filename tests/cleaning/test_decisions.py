"""Decisions change the dataset with history, relation rules on the spot; undo restores;
second opinions are kept and surfaced; excluded pairs are flagged; leases are respected."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from annotator.cleaning.leases import lease_take
from annotator.cleaning.models import Decision, ItemStatus, ReviewItem, Verdict
from annotator.cleaning.services import NothingToUndo, decision_record, decision_undo, image_label_add, queues_rerank
from annotator.dataset.models import ImageLabel, LabelHistory
from tests.cleaning.support import evidence, truth


def _states(image) -> dict[str, int]:
    return dict(ImageLabel.objects.filter(image=image).values_list("label__key", "state"))


def _leased_item(world, user, key: str, image_index: int) -> ReviewItem:
    label = world.label(key)
    queues_rerank(label_ids=[label.pk])
    lease_take(user=user, label=label)
    return ReviewItem.objects.get(image=world.images[image_index], label=label, leased_by=user)


def test_present_applies_relation_rules_with_history(world, annotator_user):
    image = world.images[0]
    evidence(image, world.label("fold_eared_cat"), world.model, 0.9)
    item = _leased_item(world, annotator_user, "fold_eared_cat", 0)

    decision = decision_record(user=annotator_user, item=item, verdict=Verdict.PRESENT, time_spent_ms=1800)

    assert _states(image) == {"fold_eared_cat": 1, "cat": 1, "animal": 1}
    history = {h.label.key: h for h in LabelHistory.objects.filter(image=image).select_related("label")}
    assert history["fold_eared_cat"].source == "annotator" and history["fold_eared_cat"].user == annotator_user
    assert history["cat"].source == "relation" and history["cat"].reason == "implied by fold_eared_cat"
    assert {h.source_ref for h in history.values()} == {f"decision:{decision.pk}"}
    assert decision.previous_state is None and decision.new_state == 1 and decision.time_spent_ms == 1800
    item.refresh_from_db()
    assert item.status == ItemStatus.DECIDED and item.dataset_state == 1


def test_forest_makes_tree_and_outdoor_positive(world, annotator_user):
    image = world.images[1]
    evidence(image, world.label("forest"), world.competitor, 0.9, keyword="森林")
    item = _leased_item(world, annotator_user, "forest", 1)
    decision_record(user=annotator_user, item=item, verdict=Verdict.PRESENT)
    assert _states(image) == {"forest": 1, "tree": 1, "plant": 1, "outdoor": 1, "scene": 1}


def test_absent_turns_a_wrong_positive_into_a_verified_negative(world, annotator_user):
    image = world.images[2]
    truth(image, world.label("cat"), 1)
    item = _leased_item(world, annotator_user, "cat", 2)
    decision = decision_record(user=annotator_user, item=item, verdict=Verdict.ABSENT)
    assert _states(image)["cat"] == 0
    assert (decision.previous_state, decision.new_state) == (1, 0)


def test_unsure_changes_nothing(world, annotator_user):
    image = world.images[2]
    truth(image, world.label("cat"), 1)
    item = _leased_item(world, annotator_user, "cat", 2)
    decision_record(user=annotator_user, item=item, verdict=Verdict.UNSURE)
    assert _states(image) == {"cat": 1}
    assert not LabelHistory.objects.filter(image=image).exists()
    item.refresh_from_db()
    assert item.status == ItemStatus.UNSURE


def test_undo_restores_every_state_the_decision_changed(world, annotator_user):
    image = world.images[0]
    evidence(image, world.label("fold_eared_cat"), world.model, 0.9)
    truth(image, world.label("animal"), 1)
    item = _leased_item(world, annotator_user, "fold_eared_cat", 0)
    decision = decision_record(user=annotator_user, item=item, verdict=Verdict.PRESENT)
    assert _states(image) == {"fold_eared_cat": 1, "cat": 1, "animal": 1}

    result = decision_undo(user=annotator_user)

    assert result.decision.pk == decision.pk
    assert _states(image) == {"animal": 1}
    reverts = LabelHistory.objects.filter(image=image, source="revert")
    assert {(h.label.key, h.old_state, h.new_state) for h in reverts} == {
        ("fold_eared_cat", 1, None),
        ("cat", 1, None),
    }
    assert {h.source_ref for h in reverts} == {f"undo:decision:{decision.pk}"}
    item.refresh_from_db()
    assert item.status == ItemStatus.OPEN and item.leased_by == annotator_user
    with pytest.raises(NothingToUndo):
        decision_undo(user=annotator_user)


def test_undo_leaves_alone_a_label_someone_changed_since(world, annotator_user, admin_user):
    from annotator.dataset.services import image_labels_set

    image = world.images[0]
    evidence(image, world.label("cat"), world.model, 0.9)
    item = _leased_item(world, annotator_user, "cat", 0)
    decision_record(user=annotator_user, item=item, verdict=Verdict.PRESENT)
    image_labels_set(image_id=image.pk, states={world.label("animal").pk: 0}, source="admin", user=admin_user)

    result = decision_undo(user=annotator_user)

    assert result.skipped == [world.label("animal").pk]
    assert _states(image) == {"animal": 0}


def test_changing_ones_mind_reverts_first(world, annotator_user):
    image = world.images[0]
    evidence(image, world.label("fold_eared_cat"), world.model, 0.9)
    item = _leased_item(world, annotator_user, "fold_eared_cat", 0)
    decision_record(user=annotator_user, item=item, verdict=Verdict.PRESENT)
    second = decision_record(user=annotator_user, item=item, verdict=Verdict.UNSURE)
    assert second.kind == Decision.Kind.CHANGE
    assert _states(image) == {}
    assert Decision.objects.filter(item=item, undone_at__isnull=True).count() == 1


def test_excluded_pair_is_flagged(world, annotator_user):
    image = world.images[3]
    truth(image, world.label("indoor"), 1)
    evidence(image, world.label("forest"), world.model, 0.8)
    item = _leased_item(world, annotator_user, "forest", 3)
    decision = decision_record(user=annotator_user, item=item, verdict=Verdict.PRESENT)
    # forest implies outdoor, which excludes indoor: flagged, nothing else touched.
    assert decision.conflicts == ["indoor"]
    assert _states(image)["indoor"] == 1


def test_second_opinion_is_kept_and_surfaced_never_applied(world, annotator_user, qa_user):
    image = world.images[0]
    truth(image, world.label("cat"), 1)
    item = _leased_item(world, annotator_user, "cat", 0)
    decision_record(user=annotator_user, item=item, verdict=Verdict.ABSENT)

    agreeing = decision_record(user=qa_user, item=item, verdict=Verdict.ABSENT)
    item.refresh_from_db()
    assert agreeing.kind == Decision.Kind.SECOND_OPINION and agreeing.agrees is True
    assert item.status == ItemStatus.DECIDED

    differing = decision_record(user=qa_user, item=item, verdict=Verdict.PRESENT)
    item.refresh_from_db()
    assert differing.agrees is False and item.status == ItemStatus.CONFLICT
    assert _states(image)["cat"] == 0  # the first decision stands
    assert Decision.objects.filter(item=item).count() == 3

    decision_undo(user=qa_user)  # the differing opinion withdrawn
    item.refresh_from_db()
    assert item.status == ItemStatus.DECIDED


def test_an_annotator_decides_only_leased_items(world, annotator_user):
    from annotator.accounts.roles import Role
    from annotator.accounts.services import user_create_with_role

    other = user_create_with_role(username="ann2", password="x-password-1", role=Role.ANNOTATOR)
    truth(world.images[0], world.label("cat"), 1)
    item = _leased_item(world, annotator_user, "cat", 0)
    with pytest.raises(PermissionDenied):
        decision_record(user=other, item=item, verdict=Verdict.ABSENT)
    assert _states(world.images[0]) == {"cat": 1}
    assert not Decision.objects.exists()


def test_adding_a_missing_label_from_the_image_page(world, annotator_user):
    image = world.images[0]
    truth(image, world.label("cat"), 1)
    _leased_item(world, annotator_user, "cat", 0)
    decision = image_label_add(user=annotator_user, image_id=image.pk, label=world.label("forest"))
    assert decision.new_state == 1
    assert _states(image)["tree"] == 1
    assert ReviewItem.objects.get(image=image, label=world.label("forest")).status == ItemStatus.DECIDED


def test_the_one_query_graph_is_the_taxonomy_graph(world):
    from annotator.cleaning.services.decisions import taxonomy_graph_one_query
    from annotator.taxonomy.selectors import taxonomy_graph_get

    mine, theirs = taxonomy_graph_one_query(), taxonomy_graph_get()
    assert (mine.parent, mine.implies, mine.excludes, mine.overlaps) == (
        theirs.parent,
        theirs.implies,
        theirs.excludes,
        theirs.overlaps,
    )
    assert mine.implies and mine.excludes  # the sample taxonomy has both
