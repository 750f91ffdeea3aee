"""A model version's evidence lives in a partition of its own, swapped whole by each re-predict;
imports and competitors stay in the default partition, with the same uniqueness rule."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest
from django.db import IntegrityError, connection, transaction

from annotator.dataset.ingest import apply_evidence
from annotator.dataset.models import Evidence, EvidenceSource, Image
from annotator.dataset.partitions import ID_BLOCK, evidence_partition_prepare, guard_name, id_range, partition_name
from annotator.modeling import evidence as evidence_module
from annotator.modeling.evidence import EvidenceSpool, ImageScoredTwiceError, evidence_replace
from annotator.taxonomy.models import Label


def _images(count: int) -> list[Image]:
    return [
        Image.objects.create(
            content_hash=f"{n:064x}", storage_root="/x", relative_path=f"{n}.jpg", size_bytes=1, width=1, height=1
        )
        for n in range(count)
    ]


def _labels(count: int) -> list[Label]:
    return [Label.objects.create(key=f"l{i}", name_en=f"L{i}") for i in range(count)]


def _repredict(tmp_path, source: EvidenceSource, images: list[Image], labels: list[Label], score: float) -> dict:
    label_ids = np.array([label.id for label in labels])
    spool = EvidenceSpool(tmp_path / f"spool-{score}", source_id=source.id, label_ids=label_ids, floor=0.1)
    spool.add([image.id for image in images], np.full((len(images), len(labels)), score))
    scored = spool.close()
    evidence_partition_prepare(source_id=source.id)
    with transaction.atomic():
        return evidence_replace(
            source=source, spool_path=spool.path, image_ids=scored, label_ids=label_ids.tolist(), rows=spool.counts.rows
        )


def _table_of(evidence_ids) -> set[str]:
    with connection.cursor() as cur:
        cur.execute("SELECT DISTINCT tableoid::regclass::text FROM dataset_evidence WHERE id = ANY(%s)", [evidence_ids])
        return {row[0] for row in cur.fetchall()}


def _exists(table: str) -> bool:
    with connection.cursor() as cur:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", [table])
        return bool(cur.fetchone()[0])


@pytest.mark.django_db
def test_a_repredict_replaces_the_versions_evidence_in_its_own_partition(tmp_path):
    images, labels = _images(3), _labels(2)
    source = EvidenceSource.objects.create(kind=EvidenceSource.Kind.MODEL, name="v1.0")
    # a row written before the version had a partition (the default partition held it)
    Evidence.objects.create(image=images[0], label=labels[0], source=source, score=0.123)

    first = _repredict(tmp_path, source, images, labels, 0.7)
    assert first == {"deleted": 0, "written": 6, "skipped_images": 0, "skipped_labels": 0}
    rows = list(Evidence.objects.filter(source=source).values_list("id", "score"))
    assert sorted(score for _, score in rows) == [0.7] * 6  # 0.123 is gone
    assert _table_of([pk for pk, _ in rows]) == {partition_name(source.id)}

    second = _repredict(tmp_path, source, images[:2], labels, 0.9)
    assert second["deleted"] == 6 and second["written"] == 4
    assert sorted(Evidence.objects.filter(source=source).values_list("score", flat=True)) == [0.9] * 4
    assert not Evidence.objects.filter(source=source, image=images[2]).exists()
    # ids stay unique across partitions, and the ORM reads a row by id as before
    all_ids = list(Evidence.objects.values_list("id", flat=True))
    assert len(all_ids) == len(set(all_ids))
    assert Evidence.objects.get(pk=all_ids[0]).source_id == source.id


@pytest.mark.django_db(transaction=True)
def test_readers_see_the_old_evidence_until_the_swap_commits(tmp_path, monkeypatch):
    images, labels = _images(2), _labels(2)
    source = EvidenceSource.objects.create(kind=EvidenceSource.Kind.MODEL, name="v2.0")
    _repredict(tmp_path, source, images, labels, 0.6)
    dsn = connection.get_connection_params()
    dsn.pop("cursor_factory", None)
    dsn.pop("context", None)
    seen: dict[str, object] = {}

    def reader_scores(lock_timeout: str = "5s") -> list[float]:
        with psycopg.connect(**dsn, autocommit=True) as reader:
            reader.execute(f"SET lock_timeout = '{lock_timeout}'")
            rows = reader.execute("SELECT score FROM dataset_evidence WHERE source_id = %s", [source.id]).fetchall()
            return sorted(row[0] for row in rows)

    real_swap = evidence_module.evidence_partition_swap

    def swap_watched(cur, *, source_id, table):
        # Everything is built; readers still get the old rows, without waiting.
        seen["before"] = reader_scores()
        old = real_swap(cur, source_id=source_id, table=table)
        # Swapped but not committed: a reader waits (here: gives up) instead of seeing a gap.
        try:
            seen["during"] = reader_scores(lock_timeout="200ms")
        except psycopg.errors.LockNotAvailable:
            seen["during"] = "waits"
        return old

    monkeypatch.setattr(evidence_module, "evidence_partition_swap", swap_watched)
    _repredict(tmp_path, source, images, labels, 0.8)
    assert seen == {"before": [0.6] * 4, "during": "waits"}
    assert reader_scores() == [0.8] * 4


@pytest.mark.django_db
def test_deleting_a_source_removes_its_evidence_and_partition(tmp_path):
    images, labels = _images(2), _labels(2)
    model = EvidenceSource.objects.create(kind=EvidenceSource.Kind.MODEL, name="v3.0")
    competitor = EvidenceSource.objects.create(kind=EvidenceSource.Kind.COMPETITOR, name="google")
    _repredict(tmp_path, model, images, labels, 0.7)
    Evidence.objects.create(image=images[0], label=labels[0], source=competitor, score=0.9, keyword="cat")
    kept = Evidence.objects.create(image=images[1], label=labels[1], source=competitor, score=0.8, keyword="dog")
    model_id = model.id
    assert _exists(partition_name(model_id))

    model.delete()
    assert not Evidence.objects.filter(source_id=model_id).exists()
    assert not _exists(partition_name(model_id))
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_constraint WHERE conname = %s", [guard_name(model_id)])
        assert cur.fetchone()[0] == 0

    # a source of the default partition: the ORM's cascade deletes its rows there
    assert Evidence.objects.filter(pk=kept.pk).update(score=0.81) == 1
    competitor.delete()
    assert not Evidence.objects.exists()


@pytest.mark.django_db
def test_imported_and_competitor_evidence_land_in_the_default_partition_unique_per_source(tmp_path):
    images, labels = _images(2), _labels(2)
    model = EvidenceSource.objects.create(kind=EvidenceSource.Kind.MODEL, name="v4.0")
    _repredict(tmp_path, model, images, labels, 0.7)
    imported = EvidenceSource.objects.create(kind=EvidenceSource.Kind.IMPORT, name="openimages:machine")
    counts = apply_evidence([(images[0].id, labels[0].id, 0.9, "/m/01yrx")], source=imported)
    assert counts["evidence_created"] == 1
    # a re-import of the same (image, label) updates the row, never adds a second
    counts = apply_evidence([(images[0].id, labels[0].id, 0.95, "/m/01yrx")], source=imported)
    assert counts["evidence_updated"] == 1
    competitor = EvidenceSource.objects.create(kind=EvidenceSource.Kind.COMPETITOR, name="baidu")
    row = Evidence.objects.create(image=images[0], label=labels[0], source=competitor, score=0.5, keyword="猫")
    ids = list(Evidence.objects.filter(source__in=[imported, competitor]).values_list("id", flat=True))
    assert len(ids) == 2 and _table_of(ids) == {"dataset_evidence_default"}
    assert Evidence.objects.get(source=imported).score == 0.95

    with pytest.raises(IntegrityError), transaction.atomic():
        Evidence.objects.create(image=images[0], label=labels[0], source=competitor, score=0.6)
    # the rule holds in a version's partition too
    with pytest.raises(IntegrityError), transaction.atomic():
        Evidence.objects.create(image=images[0], label=labels[0], source=model, score=0.6)
    assert Evidence.objects.get(pk=row.pk).score == 0.5


@pytest.mark.django_db
def test_a_versions_rows_take_ids_of_its_own_block_and_imports_stay_below_every_block(tmp_path):
    images, labels = _images(3), _labels(2)
    model = EvidenceSource.objects.create(kind=EvidenceSource.Kind.MODEL, name="v5.0")
    _repredict(tmp_path, model, images, labels, 0.7)
    first, last = id_range(model.id)
    ids = sorted(Evidence.objects.filter(source=model).values_list("id", flat=True))
    assert ids == list(range(first, first + 6))
    _repredict(tmp_path, model, images, labels, 0.8)  # a re-predict numbers from the start again
    assert sorted(Evidence.objects.filter(source=model).values_list("id", flat=True)) == ids
    imported = EvidenceSource.objects.create(kind=EvidenceSource.Kind.IMPORT, name="csv")
    apply_evidence([(images[0].id, labels[0].id, 0.9, "cat")], source=imported)
    assert Evidence.objects.get(source=imported).id < ID_BLOCK
    # an id out of the default partition's range is refused there
    with pytest.raises(IntegrityError), transaction.atomic():
        Evidence.objects.create(id=ID_BLOCK + 1, image=images[1], label=labels[0], source=imported)


@pytest.mark.django_db
def test_the_spool_refuses_an_image_scored_twice_so_a_versions_rows_stay_unique(tmp_path):
    labels = _labels(2)
    label_ids = np.array([label.id for label in labels])
    spool = EvidenceSpool(tmp_path / "twice", source_id=1, label_ids=label_ids, floor=0.1)
    spool.add([3, 5], np.full((2, 2), 0.7))
    with pytest.raises(ImageScoredTwiceError, match="image 5 is scored twice"):
        spool.add([7, 5], np.full((2, 2), 0.7))
    with pytest.raises(ImageScoredTwiceError, match="image 8 is scored twice"):
        spool.add([8, 9, 8], np.full((3, 2), 0.7))
    spool.add([7], np.full((1, 2), 0.7))  # the refused batches spooled nothing
    assert spool.close().tolist() == [3, 5, 7]
    assert spool.counts.images == 3 and spool.counts.rows == 6
    with pytest.raises(ValueError, match="two score columns map to one label"):
        columns = np.array([labels[0].id, -1, labels[0].id])
        EvidenceSpool(tmp_path / "columns", source_id=1, label_ids=columns, floor=0.1)


@pytest.mark.django_db
def test_a_version_with_a_partition_is_written_only_by_a_repredict(tmp_path):
    images, labels = _images(2), _labels(2)
    model = EvidenceSource.objects.create(kind=EvidenceSource.Kind.MODEL, name="v6.0")
    _repredict(tmp_path, model, images, labels, 0.7)
    with pytest.raises(ValueError, match="written only whole, by a re-predict"):
        apply_evidence([(images[0].id, labels[0].id, 0.9, "")], source=model)
    with pytest.raises(IntegrityError, match="written only whole, by a re-predict"), transaction.atomic():
        Evidence.objects.create(image=images[1], label=labels[1], source=model, score=0.2)
    row = Evidence.objects.filter(source=model).first()
    assert row is not None
    with pytest.raises(IntegrityError), transaction.atomic():
        Evidence.objects.filter(pk=row.pk).update(label=labels[1] if row.label_id == labels[0].id else labels[0])
    # scores may still be read and the rows deleted with their image, as before
    images[0].delete()
    assert sorted(Evidence.objects.filter(source=model).values_list("image_id", flat=True)) == [images[1].id] * 2


@pytest.mark.django_db(transaction=True)
def test_the_admin_reads_a_versions_evidence_and_says_why_it_cannot_change_it(tmp_path, admin_client):
    from django.urls import reverse

    images, labels = _images(2), _labels(1)
    source = EvidenceSource.objects.create(kind=EvidenceSource.Kind.MODEL, name="v1.0")
    _repredict(tmp_path, source, images, labels, 0.8)
    row = Evidence.objects.filter(source=source).first()
    page = admin_client.get(reverse("admin:dataset_evidence_change", args=[row.pk]))
    assert page.status_code == 200 and b'name="_save"' not in page.content  # read-only view
    refused = admin_client.post(
        reverse("admin:dataset_evidence_add"),
        {"image": images[0].pk, "label": labels[0].pk, "source": source.pk, "score": "0.5", "suggested": "on"},
    )
    assert refused.status_code == 200
    assert "written by its re-predict job only" in refused.content.decode()
    assert Evidence.objects.filter(source=source).count() == 2
