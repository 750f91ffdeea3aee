"""Label write services: one truth per (image, label), a history row per change, the closure applied."""

from __future__ import annotations

import pytest

from annotator.dataset.importing import staging
from annotator.dataset.models import HistorySource, Image, ImageLabel, LabelHistory, LabelState
from annotator.dataset.services import image_labels_bulk_set, image_labels_set
from annotator.taxonomy.models import Label, LabelRelation

pytestmark = pytest.mark.django_db

POS, NEG = LabelState.POSITIVE, LabelState.NEGATIVE


@pytest.fixture
def labels() -> dict[str, int]:
    animal = Label.objects.create(key="animal", name_en="Animal")
    cat = Label.objects.create(key="cat", name_en="Cat", parent=animal)
    forest = Label.objects.create(key="forest", name_en="Forest")
    tree = Label.objects.create(key="tree", name_en="Tree")
    LabelRelation.objects.create(kind="implies", src=forest, dst=tree)
    return {label.key: label.pk for label in (animal, cat, forest, tree)}


def make_image(n: int = 0) -> Image:
    return Image.objects.create(
        content_hash=f"{n:064x}", storage_root="/r", relative_path=f"{n}.jpg", size_bytes=1, width=1, height=1
    )


def truth(image: Image) -> dict[str, tuple[int, str]]:
    return {
        row.label.key: (row.state, row.source) for row in ImageLabel.objects.filter(image=image).select_related("label")
    }


def test_a_positive_brings_its_closure_with_relation_history(labels, annotator_user):
    img = make_image()
    written = image_labels_set(
        image_id=img.pk,
        states={labels["cat"]: POS},
        source=HistorySource.ANNOTATOR,
        user=annotator_user,
        source_ref="decision:1",
        reason="looks like a cat",
    )

    assert truth(img) == {"cat": (POS, "annotator"), "animal": (POS, "relation")}
    by_key = {h.label.key: h for h in LabelHistory.objects.filter(image=img).select_related("label")}
    assert (by_key["cat"].reason, by_key["cat"].user, by_key["cat"].source_ref) == (
        "looks like a cat",
        annotator_user,
        "decision:1",
    )
    assert (by_key["animal"].source, by_key["animal"].reason) == ("relation", "implied by cat")
    assert len(written) == 2


def test_setting_the_same_state_again_writes_nothing(labels):
    img = make_image()
    image_labels_set(image_id=img.pk, states={labels["forest"]: POS}, source=HistorySource.ANNOTATOR)

    again = image_labels_set(image_id=img.pk, states={labels["forest"]: POS}, source=HistorySource.ANNOTATOR)

    assert again == []
    assert LabelHistory.objects.filter(image=img).count() == 2  # forest + tree, once


def test_back_to_unknown_deletes_the_row_and_records_it(labels):
    img = make_image()
    image_labels_set(image_id=img.pk, states={labels["tree"]: NEG}, source=HistorySource.ANNOTATOR)

    image_labels_set(image_id=img.pk, states={labels["tree"]: None}, source=HistorySource.ADMIN, expand=False)

    assert truth(img) == {}
    last = LabelHistory.objects.filter(image=img).order_by("id").last()
    assert (last.old_state, last.new_state, last.source) == (NEG, None, "admin")


def test_a_positive_wins_over_a_negative_in_one_call(labels):
    img = make_image()
    image_labels_set(
        image_id=img.pk, states={labels["forest"]: POS, labels["tree"]: NEG}, source=HistorySource.ANNOTATOR
    )
    assert truth(img)["tree"] == (POS, "relation")


def test_bulk_set_matches_the_single_image_service(labels):
    one, two = make_image(1), make_image(2)
    image_labels_set(image_id=one.pk, states={labels["cat"]: POS, labels["forest"]: NEG}, source=HistorySource.IMPORT)

    counts = image_labels_bulk_set(
        rows=[(two.pk, labels["cat"], POS), (two.pk, labels["forest"], NEG)],
        source=HistorySource.IMPORT,
        source_ref="import:1",
        reason="test",
    )

    assert truth(two) == truth(one)
    assert counts == {
        "truth_created": 3,
        "truth_changed": 0,
        "truth_unchanged": 0,
        "truth_implied": 1,
        "kept_decisions": 0,
        "conflicts": 0,
    }


def test_bulk_set_counts_conflicts_and_positive_wins(labels):
    img = make_image()
    counts = image_labels_bulk_set(
        rows=[(img.pk, labels["cat"], NEG), (img.pk, labels["cat"], POS), (img.pk, labels["animal"], NEG)],
        source=HistorySource.IMPORT,
        source_ref="import:1",
        reason="test",
    )
    assert truth(img) == {"cat": (POS, "import"), "animal": (POS, "relation")}
    assert counts["conflicts"] == 2


def test_bulk_set_keeps_what_a_person_decided_unless_told_otherwise(labels, qa_user):
    img = make_image()
    image_labels_set(image_id=img.pk, states={labels["tree"]: NEG}, source=HistorySource.AUDIT, user=qa_user)
    rows = [(img.pk, labels["forest"], POS)]

    kept = image_labels_bulk_set(rows=rows, source=HistorySource.IMPORT, source_ref="import:1", reason="r")
    assert (kept["kept_decisions"], truth(img)["tree"]) == (1, (NEG, "audit"))

    forced = image_labels_bulk_set(
        rows=rows, source=HistorySource.IMPORT, source_ref="import:2", reason="r", overwrite_decisions=True
    )
    assert (forced["truth_changed"], truth(img)["tree"]) == (1, (POS, "relation"))


def test_bulk_set_with_set_based_foreign_key_checks_gives_the_same_result(labels, monkeypatch):
    monkeypatch.setattr(staging, "SET_BASED_FK_MIN_ROWS", 0)
    images = [make_image(n) for n in range(5)]
    counts = image_labels_bulk_set(
        rows=[(img.pk, labels["forest"], POS) for img in images],
        source=HistorySource.IMPORT,
        source_ref="import:1",
        reason="r",
    )
    assert counts["truth_created"] == 10
    assert all(truth(img) == {"forest": (POS, "import"), "tree": (POS, "relation")} for img in images)
    assert LabelHistory.objects.count() == 10
