"""What imports write: truth (through the label services) and evidence, both set-based."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import transaction

from annotator.dataset.importing.staging import (
    SetBasedForeignKeys,
    bulk_session_tune,
    copy_rows,
    fk_rows_lock,
    raw_cursor,
    temp_table_create,
)
from annotator.dataset.models import EvidenceSource, HistorySource
from annotator.dataset.partitions import DEFAULT, evidence_partition_owned
from annotator.dataset.services import ConcurrentLabelChange, image_labels_bulk_set
from annotator.taxonomy.closure import TaxonomyGraph

logger = logging.getLogger(__name__)


def apply_truth(
    rows: Iterable[tuple[int, int, int]],
    *,
    source_ref: str,
    reason: str,
    user_id: int | None = None,
    expand: bool = True,
    overwrite_decisions: bool = False,
    graph: TaxonomyGraph | None = None,
) -> dict[str, int]:
    """Set ``(image_id, label_id, state)`` rows (state 1 positive, 0 verified negative) as an import.

    History rows get source ``import`` (``relation`` with reason ``implied by <key>`` for
    positives added by the closure), ``source_ref`` (``import:<job id>``) and ``reason``
    (e.g. ``openimages labels.csv``). Unchanged rows get no history row, so importing the
    same file twice changes nothing; states a person decided are kept. Returns counts:
    truth_created, truth_changed, truth_unchanged, truth_implied, kept_decisions,
    conflicts. The rules are those of ``annotator.dataset.services``.
    """
    return image_labels_bulk_set(
        rows=rows,
        source=HistorySource.IMPORT,
        source_ref=source_ref,
        reason=reason,
        user_id=user_id,
        expand=expand,
        overwrite_decisions=overwrite_decisions,
        graph=graph,
    )


@transaction.atomic
def apply_evidence(rows: Iterable[tuple[int, int, float | None, str]], *, source: EvidenceSource) -> dict[str, int]:
    """Upsert ``(image_id, label_id, score, keyword)`` evidence of one source (no history: not truth).

    Duplicate (image, label) rows keep the highest score. Returns counts evidence_created,
    evidence_updated, evidence_unchanged.
    """
    with raw_cursor() as cur:
        temp_table_create(
            cur, "tt_evidence_rows", "image_id bigint, label_id bigint, score double precision, keyword text"
        )
        copy_rows(cur, "tt_evidence_rows", ["image_id", "label_id", "score", "keyword"], rows)
    return apply_evidence_staged(table="tt_evidence_rows", source=source)


@transaction.atomic
def apply_evidence_staged(*, table: str, source: EvidenceSource) -> dict[str, int]:
    """Upsert the evidence staged in TEMP ``table(image_id, label_id, score, keyword)``.

    Into the default partition, whose unique (image, label, source) the upsert relies on
    (annotator/dataset/partitions.py): a model version whose evidence has a partition of its
    own is written only whole, by a re-predict, and is refused here.
    """
    if evidence_partition_owned(source_id=source.pk):
        raise ValueError(f"the evidence of {source} is written only whole, by a re-predict, not by an import")
    with raw_cursor() as cur:
        bulk_session_tune(cur)
        cur.execute(f"ANALYZE {table}")
        cur.execute(f"SELECT count(*) FROM (SELECT DISTINCT image_id, label_id FROM {table}) d")
        distinct_row = cur.fetchone()
        assert distinct_row is not None
        distinct = int(distinct_row[0])
        fks = SetBasedForeignKeys(cur, rows=distinct)
        if fks.active:
            missing = fk_rows_lock(cur, table="dataset_image", ids_query=f"SELECT image_id FROM {table}")
            missing += fk_rows_lock(cur, table="taxonomy_label", ids_query=f"SELECT label_id FROM {table}")
            missing += fk_rows_lock(cur, table="dataset_evidencesource", ids_query="SELECT %s", params=[source.pk])
            if missing:
                raise ConcurrentLabelChange(f"{missing} images, labels or sources were deleted meanwhile")
        with fks:
            cur.execute(
                # Whether a row is new comes from the join that picks the rows to write (the
                # default partition's RETURNING could read xmax, the parent's could not).
                f"""WITH src AS (
                      SELECT s.image_id, s.label_id, s.score, s.keyword, e.id IS NULL AS is_new
                      FROM (SELECT DISTINCT ON (image_id, label_id) image_id, label_id, score,
                                   left(keyword, 300) AS keyword
                            FROM {table} ORDER BY image_id, label_id, score DESC NULLS LAST) s
                      -- Only new or changed rows reach the upsert: a re-import reads, never writes.
                      LEFT JOIN {DEFAULT} e
                        ON e.image_id = s.image_id AND e.label_id = s.label_id AND e.source_id = %(source)s
                      WHERE e.id IS NULL OR e.score IS DISTINCT FROM s.score OR e.keyword <> s.keyword),
                    up AS (
                      INSERT INTO {DEFAULT} AS d (image_id, label_id, source_id, score, keyword, created_at)
                      SELECT image_id, label_id, %(source)s, score, keyword, now() FROM src
                      ORDER BY image_id, label_id
                      ON CONFLICT (image_id, label_id, source_id) DO UPDATE
                        SET score = EXCLUDED.score, keyword = EXCLUDED.keyword
                        WHERE d.score IS DISTINCT FROM EXCLUDED.score OR d.keyword <> EXCLUDED.keyword
                      RETURNING image_id, label_id)
                    SELECT count(*) FILTER (WHERE src.is_new), count(*) FILTER (WHERE NOT src.is_new)
                    FROM up JOIN src USING (image_id, label_id)""",
                {"source": source.pk},
            )
            row = cur.fetchone()
        assert row is not None
        created, updated = row
    counts = {
        "evidence_created": created,
        "evidence_updated": updated,
        "evidence_unchanged": distinct - created - updated,
    }
    logger.info("evidence %s: %s", source, counts)
    return counts


def evidence_source_get_or_create(*, kind: str, name: str) -> EvidenceSource:
    """The EvidenceSource ``kind:name``, created when missing."""
    source, _ = EvidenceSource.objects.get_or_create(kind=kind, name=name)
    return source
