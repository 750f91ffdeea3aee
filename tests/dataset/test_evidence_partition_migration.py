"""Migration 0008 turns a populated evidence table into partitions by source, and back."""

from __future__ import annotations

import numpy as np
import pytest
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor

from annotator.dataset.models import Evidence, EvidenceSource, Image
from annotator.dataset.partitions import ID_BLOCK, evidence_partition_prepare
from annotator.modeling.evidence import EvidenceSpool, evidence_replace
from annotator.taxonomy.models import Label

BEFORE = [("dataset", "0007_evidence_suggested_refreshed")]
AFTER = [("dataset", "0008_evidence_partitioned")]


def _migrate(target) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)


def _rows() -> list[tuple]:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT id, image_id, label_id, source_id, score, keyword, suggested FROM dataset_evidence ORDER BY id"
        )
        return cur.fetchall()


def _constraints(table: str) -> set[tuple[str, str]]:
    """(type, columns) of the table's own constraints: p primary key, u unique, f foreign key."""
    with connection.cursor() as cur:
        cur.execute(
            """SELECT c.contype, string_agg(a.attname, ',' ORDER BY k.n)
               FROM pg_constraint c, unnest(c.conkey) WITH ORDINALITY k(attnum, n), pg_attribute a
               WHERE c.conrelid = %s::regclass AND c.contype IN ('p', 'u', 'f')
                 AND a.attrelid = c.conrelid AND a.attnum = k.attnum
               GROUP BY c.oid, c.contype""",
            [table],
        )
        return set(cur.fetchall())


def _tables() -> dict[int, str]:
    with connection.cursor() as cur:
        cur.execute("SELECT DISTINCT source_id, tableoid::regclass::text FROM dataset_evidence")
        return dict(cur.fetchall())


@pytest.mark.django_db(transaction=True)
def test_the_migration_moves_each_model_versions_rows_to_its_own_partition_and_back():
    _migrate(BEFORE)
    try:
        with connection.cursor() as cur:
            cur.execute(
                """INSERT INTO dataset_image (content_hash, storage_root, relative_path, size_bytes, width, height,
                                              origin, origin_ref, split, created_at)
                   SELECT lpad(to_hex(n), 64, '0'), '/i', n || '.jpg', 1, 1, 1, 'public', '', 'train', now()
                   FROM generate_series(1, 5) n"""
            )
            cur.execute(
                """INSERT INTO taxonomy_label (key, name_en, name_zh, guideline, is_small_object, is_active,
                                               created_at, updated_at)
                   SELECT 'm' || n, 'M', '', '', false, true, now(), now() FROM generate_series(1, 3) n"""
            )
            cur.execute(
                """INSERT INTO dataset_evidencesource (kind, name, created_at)
                   VALUES ('model', 'v1', now()), ('competitor', 'baidu', now()) RETURNING id"""
            )
            model, competitor = (row[0] for row in cur.fetchall())
            cur.execute(
                """INSERT INTO dataset_evidence (image_id, label_id, source_id, score, keyword, suggested, created_at)
                   SELECT i.id, l.id, s.id, 0.5, s.name, s.kind = 'competitor', now()
                   FROM dataset_image i, taxonomy_label l, dataset_evidencesource s
                   WHERE NOT (s.kind = 'competitor' AND i.id = (SELECT min(id) FROM dataset_image)
                              AND l.id = (SELECT min(id) FROM taxonomy_label))"""
            )
        before = _rows()
        assert len(before) == 29

        _migrate(AFTER)
        assert _rows() == before  # ids and values kept
        assert _tables() == {model: f"dataset_evidence_s{model}", competitor: "dataset_evidence_default"}
        # keys where rows are written one by one; a version's partition has foreign keys only
        assert _constraints("dataset_evidence") == {("f", "image_id"), ("f", "label_id")}
        assert _constraints("dataset_evidence_default") == {
            ("p", "id"),
            ("u", "image_id,label_id,source_id"),
            ("f", "image_id"),
            ("f", "label_id"),
            ("f", "source_id"),
        }
        assert _constraints(f"dataset_evidence_s{model}") == {("f", "image_id"), ("f", "label_id")}
        with connection.cursor() as cur:
            # new rows take ids after the old ones
            cur.execute(
                """INSERT INTO dataset_evidence (image_id, label_id, source_id, score, keyword, created_at)
                   SELECT min(image_id), min(label_id), %s, 0.1, 'new', now() FROM dataset_evidence
                   WHERE source_id = %s RETURNING id""",
                [competitor, model],
            )
            assert cur.fetchone()[0] > max(row[0] for row in before)
        assert _tables()[competitor] == "dataset_evidence_default"

        with connection.cursor() as cur:
            cur.execute("DELETE FROM dataset_evidence WHERE keyword = 'new'")
        _migrate(BEFORE)
        assert _rows() == before
        assert set(_tables().values()) == {"dataset_evidence"}
    finally:
        _migrate(AFTER)


@pytest.mark.django_db(transaction=True)
def test_a_repredicts_block_ids_survive_the_migration_back_and_forth(tmp_path):
    images = [
        Image.objects.create(
            content_hash=f"{n:064x}", storage_root="/x", relative_path=f"{n}.jpg", size_bytes=1, width=1, height=1
        )
        for n in range(2)
    ]
    label = Label.objects.create(key="cat", name_en="Cat")
    model = EvidenceSource.objects.create(kind=EvidenceSource.Kind.MODEL, name="v1")
    spool = EvidenceSpool(tmp_path / "spool", source_id=model.id, label_ids=np.array([label.id]), floor=0.1)
    spool.add([image.id for image in images], np.full((2, 1), 0.7))
    scored = spool.close()
    evidence_partition_prepare(source_id=model.id)
    with transaction.atomic():
        evidence_replace(source=model, spool_path=spool.path, image_ids=scored, label_ids=[label.id], rows=2)
    before = _rows()
    assert [row[0] for row in before] == [model.id * ID_BLOCK + 1, model.id * ID_BLOCK + 2]
    try:
        _migrate(BEFORE)
        assert _rows() == before
        _migrate(AFTER)
        assert _rows() == before
        assert _tables() == {model.id: f"dataset_evidence_s{model.id}"}
        # the default partition's sequence goes on below the blocks
        competitor = EvidenceSource.objects.create(kind=EvidenceSource.Kind.COMPETITOR, name="baidu")
        row = Evidence.objects.create(image=images[0], label=label, source=competitor, score=0.9)
        assert row.id < ID_BLOCK
    finally:
        _migrate(AFTER)
