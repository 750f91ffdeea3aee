"""Snapshots and label history never change once written, not even behind the ORM's back:
the database refuses an UPDATE of either table, and deleting a user keeps their snapshots."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError

from annotator.dataset.models import HistorySource, Image, LabelHistory, LabelState, Snapshot
from annotator.dataset.services import image_labels_set
from annotator.taxonomy.models import Label

pytestmark = pytest.mark.django_db


@pytest.fixture
def snapshot(admin_user) -> Snapshot:
    return Snapshot.objects.create(
        path="/var/snap/1",
        content_hash="ab" * 32,
        image_count=7,
        label_count=3,
        positive_count=9,
        negative_count=2,
        created_by=admin_user,
    )


@pytest.fixture
def history(annotator_user) -> LabelHistory:
    image = Image.objects.create(
        content_hash="c" * 64, storage_root="/srv", relative_path="x.jpg", size_bytes=1, width=1, height=1
    )
    cat = Label.objects.create(key="cat", name_en="Cat")
    image_labels_set(
        image_id=image.pk, states={cat.pk: LabelState.POSITIVE}, source=HistorySource.ANNOTATOR, user=annotator_user
    )
    return LabelHistory.objects.get()


def refused(sql: str, params: list[object]) -> str:
    with pytest.raises(IntegrityError) as failure, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
    return str(failure.value)


def test_a_raw_update_of_a_snapshot_is_refused(snapshot):
    message = refused("UPDATE dataset_snapshot SET image_count = 8 WHERE id = %s", [snapshot.pk])
    assert "dataset_snapshot" in message and "never change" in message
    with pytest.raises(IntegrityError), transaction.atomic():
        Snapshot.objects.filter(pk=snapshot.pk).update(note="edited")
    assert Snapshot.objects.values_list("image_count", "note").get() == (7, "")


def test_deleting_the_user_who_made_a_snapshot_is_refused(snapshot, admin_user):
    with pytest.raises(ProtectedError), transaction.atomic():
        admin_user.delete()
    assert Snapshot.objects.get().created_by == admin_user


def test_a_raw_update_of_label_history_is_refused(history):
    message = refused("UPDATE dataset_labelhistory SET reason = 'rewritten' WHERE id = %s", [history.pk])
    assert "dataset_labelhistory" in message
    with pytest.raises(IntegrityError), transaction.atomic():
        LabelHistory.objects.filter(pk=history.pk).update(new_state=LabelState.NEGATIVE)
    assert LabelHistory.objects.values_list("reason", "new_state").get() == (history.reason, LabelState.POSITIVE)


def test_history_is_still_appended_and_goes_with_its_image(history, annotator_user):
    cat = Label.objects.get(key="cat")
    image_labels_set(
        image_id=history.image_id,
        states={cat.pk: LabelState.NEGATIVE},
        source=HistorySource.ANNOTATOR,
        user=annotator_user,
    )
    assert LabelHistory.objects.count() == 2

    Image.objects.filter(pk=history.image_id).delete()  # deletes cascade: only UPDATE is refused

    assert not LabelHistory.objects.exists()
