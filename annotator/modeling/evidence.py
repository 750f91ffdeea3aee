"""The re-predict write path: a version's evidence replaced as a whole, at close to COPY speed.

While a job scores images, ``EvidenceSpool`` turns each batch of scores into evidence rows
(every score at or above the floor; ``suggested`` for the image's top 5 with score >= 0.5)
and appends them, as fixed-width binary rows, to a spool file in the job's run folder: memory
stays bounded by one batch whatever the number of images.

``evidence_replace`` then swaps the source's evidence in one transaction: the old rows are
deleted and the spool is COPYed straight into ``dataset_evidence`` in PostgreSQL's binary COPY
format (built with numpy, ids drawn from the table's sequence as one block). Per-row foreign-key
triggers (three lookups and row locks per row) would cost more than the COPY itself, so
when the role may (superuser, or granted on PostgreSQL 15+) they are switched off for this
transaction only and the keys are checked set-based instead: the image and label tables
are locked in SHARE mode (nothing can delete a row they reference until commit; readers
and the cleaning queues are not blocked), and rows of images or labels deleted since the
scoring began are left out. Readers see the old evidence until the commit, then the new.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import numpy as np
from django.db import transaction
from django.utils import timezone

from annotator.dataset.importing.staging import (
    SET_BASED_FK_MIN_ROWS,
    bulk_session_tune,
    copy_rows,
    fk_bypass_allowed,
    raw_cursor,
    temp_table_create,
)
from annotator.dataset.models import EvidenceSource

logger = logging.getLogger(__name__)

SUGGEST_TOP = 5
SUGGEST_MIN_SCORE = 0.5
COPY_COLUMNS = ("id", "image_id", "label_id", "source_id", "score", "keyword", "suggested", "created_at")
#: What the spool file holds per row (native, fixed width: 25 bytes).
SPOOL_ROW = np.dtype([("image", "<i8"), ("label", "<i8"), ("score", "<f8"), ("suggested", "u1")])
#: One row of PostgreSQL's binary COPY format for COPY_COLUMNS: a field count, then (length, value)
#: per field, big-endian. ``keyword`` is the empty string (length 0, no bytes).
COPY_ROW = np.dtype(
    [
        ("fields", ">i2"),
        ("id_len", ">i4"), ("id", ">i8"),
        ("image_len", ">i4"), ("image", ">i8"),
        ("label_len", ">i4"), ("label", ">i8"),
        ("source_len", ">i4"), ("source", ">i8"),
        ("score_len", ">i4"), ("score", ">f8"),
        ("keyword_len", ">i4"),
        ("suggested_len", ">i4"), ("suggested", "u1"),
        ("created_len", ">i4"), ("created", ">i8"),
    ]
)  # fmt: skip
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
COPY_TRAILER = struct.pack("!h", -1)
#: Rows per binary COPY write at replace time (~83 MB of COPY data).
COPY_ROWS_PER_WRITE = 1_000_000
_POSTGRES_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass
class SpoolCounts:
    images: int = 0
    rows: int = 0
    suggested: int = 0


def evidence_rows(
    image_ids: np.ndarray, scores: np.ndarray, label_ids: np.ndarray, *, floor: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(image id, label id, score, suggested) of a batch, image by image, best score first.

    ``scores`` is (images, columns); ``label_ids`` maps columns to label ids (-1 = a label no
    longer in the taxonomy: skipped). Kept: every score >= ``floor``. Suggested: the image's
    top SUGGEST_TOP columns that also score >= SUGGEST_MIN_SCORE.
    """
    scores = np.asarray(scores, dtype=np.float64)
    # Only the kept scores are sorted (~10 of 400 per image): the rest never leave the batch.
    rows, columns = np.nonzero((scores >= floor) & (label_ids >= 0)[None, :])
    values = scores[rows, columns]
    order = np.lexsort((-values, rows))  # image by image, best score first
    rows, columns, values = rows[order], columns[order], values[order]
    starts = np.searchsorted(rows, rows, side="left")
    rank = np.arange(rows.size) - starts
    suggested = (rank < SUGGEST_TOP) & (values >= SUGGEST_MIN_SCORE)
    return image_ids[rows], label_ids[columns], values, suggested


class EvidenceSpool:
    """Evidence rows of one source appended to a spool file (see the module docstring)."""

    def __init__(self, path: Path, *, source_id: int, label_ids: np.ndarray, floor: float) -> None:
        self.path = Path(path)
        self.source_id = source_id
        self.label_ids = np.asarray(label_ids, dtype=np.int64)
        self.floor = floor
        self.counts = SpoolCounts()
        self._handle: IO[bytes] | None = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        self._image_ids: list[np.ndarray] = []

    def add(self, image_ids: Sequence[int] | np.ndarray, scores: np.ndarray) -> None:
        """Append the evidence of one batch (``scores`` in the label_ids' column order)."""
        assert self._handle is not None, "spool closed"
        ids = np.asarray(image_ids, dtype=np.int64)
        if not ids.size:
            return
        images, labels, values, suggested = evidence_rows(ids, scores, self.label_ids, floor=self.floor)
        rows = np.empty(images.size, dtype=SPOOL_ROW)
        rows["image"], rows["label"], rows["score"], rows["suggested"] = images, labels, values, suggested
        self._handle.write(rows.tobytes())
        self._image_ids.append(ids)
        self.counts.images += int(ids.size)
        self.counts.rows += int(images.size)
        self.counts.suggested += int(suggested.sum())

    def close(self) -> np.ndarray:
        """Close the file; returns every image id scored (for the foreign-key check)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        return np.concatenate(self._image_ids) if self._image_ids else np.zeros(0, dtype=np.int64)


def copy_binary_chunks(
    spool_path: Path,
    *,
    first_id: int,
    source_id: int,
    created: datetime,
    skip_images: set[int] = frozenset(),  # type: ignore[assignment]
    skip_labels: set[int] = frozenset(),  # type: ignore[assignment]
) -> Iterator[bytes]:
    """The spool as PostgreSQL binary COPY data for COPY_COLUMNS, ids from ``first_id`` on.

    Vectorised: a million rows cost a few tens of milliseconds here, so COPY parsing and the
    table's indexes are all that is left to pay. Rows of ``skip_images`` / ``skip_labels`` are
    left out (and take no id).
    """
    micros = int((created - _POSTGRES_EPOCH).total_seconds() * 1_000_000)
    next_id = first_id
    yield COPY_HEADER
    with open(spool_path, "rb") as spool:
        while block := spool.read(COPY_ROWS_PER_WRITE * SPOOL_ROW.itemsize):
            rows = np.frombuffer(block, dtype=SPOOL_ROW)
            if skip_images or skip_labels:
                keep = ~np.isin(rows["image"], list(skip_images)) & ~np.isin(rows["label"], list(skip_labels))
                rows = rows[keep]
            out = np.zeros(rows.size, dtype=COPY_ROW)
            out["fields"] = len(COPY_COLUMNS)
            for name, size in (("id", 8), ("image", 8), ("label", 8), ("source", 8), ("score", 8), ("created", 8)):
                out[f"{name}_len"] = size
            out["suggested_len"] = 1
            out["id"] = np.arange(next_id, next_id + rows.size, dtype=np.int64)
            out["image"], out["label"], out["score"] = rows["image"], rows["label"], rows["score"]
            out["suggested"] = rows["suggested"]
            out["source"], out["created"] = source_id, micros
            next_id += rows.size
            yield out.tobytes()
    yield COPY_TRAILER


def _missing(cur: Any, *, table: str, staged: str) -> set[int]:
    cur.execute(f"SELECT s.id FROM {staged} s WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE t.id = s.id)")
    return {int(row[0]) for row in cur.fetchall()}


def _ids_reserve(cur: Any, count: int) -> int:
    """The first of ``count`` consecutive evidence ids taken from the table's sequence.

    The caller holds dataset_evidence in SHARE ROW EXCLUSIVE mode, so no other insert draws
    from the sequence between the two statements. Saves the per-row sequence call of COPY.
    """
    cur.execute("SELECT pg_get_serial_sequence('dataset_evidence', 'id')")
    sequence = cur.fetchone()[0]
    cur.execute("SELECT nextval(%s)", [sequence])
    first = int(cur.fetchone()[0])
    if count > 1:
        cur.execute("SELECT setval(%s, %s)", [sequence, first + count - 1])
    return first


def evidence_replace(
    *,
    source: EvidenceSource,
    spool_path: Path,
    image_ids: np.ndarray,
    label_ids: Sequence[int],
    rows: int,
    fk_bypass_min_rows: int = SET_BASED_FK_MIN_ROWS,
) -> dict[str, int]:
    """Replace ``source``'s evidence with the spooled rows and set its refreshed_at; one transaction.

    Other writers of evidence (imports) wait for the commit; readers never do. Returns counts:
    deleted (old rows), written, skipped_images / skipped_labels (deleted while scoring).
    Call inside the caller's transaction to commit it together with more.
    """
    with transaction.atomic(), raw_cursor() as cur:
        bulk_session_tune(cur)
        # One writer of evidence at a time for the length of the swap (readers go on).
        cur.execute("LOCK TABLE dataset_evidence IN SHARE ROW EXCLUSIVE MODE")
        bypass = rows >= fk_bypass_min_rows and fk_bypass_allowed(cur)
        if bypass:
            # Nothing deletes an image or a label until commit; reads go on.
            cur.execute("LOCK TABLE dataset_image, taxonomy_label IN SHARE MODE")
        temp_table_create(cur, "tt_scored_images", "id bigint")
        copy_rows(cur, "tt_scored_images", ["id"], ((int(i),) for i in np.unique(image_ids)))
        temp_table_create(cur, "tt_scored_labels", "id bigint")
        copy_rows(cur, "tt_scored_labels", ["id"], ((int(i),) for i in set(label_ids) if i >= 0))
        skip_images = _missing(cur, table="dataset_image", staged="tt_scored_images")
        skip_labels = _missing(cur, table="taxonomy_label", staged="tt_scored_labels")
        cur.execute("DELETE FROM dataset_evidence WHERE source_id = %s", [source.pk])
        deleted = cur.rowcount
        first_id = _ids_reserve(cur, rows) if rows else 0
        if bypass:
            cur.execute("SET LOCAL session_replication_role = replica")
        columns = ", ".join(COPY_COLUMNS)
        with cur.copy(f"COPY dataset_evidence ({columns}) FROM STDIN WITH (FORMAT binary)") as copy:
            for chunk in copy_binary_chunks(
                spool_path,
                first_id=first_id,
                source_id=source.pk,
                created=timezone.now(),
                skip_images=skip_images,
                skip_labels=skip_labels,
            ):
                copy.write(chunk)
        if bypass:
            cur.execute("SET LOCAL session_replication_role = origin")
        written = rows
        if skip_images or skip_labels:
            cur.execute("SELECT count(*) FROM dataset_evidence WHERE source_id = %s", [source.pk])
            found = cur.fetchone()
            written = int(found[0]) if found else 0
        EvidenceSource.objects.filter(pk=source.pk).update(refreshed_at=timezone.now())
    counts = {
        "deleted": deleted,
        "written": written,
        "skipped_images": len(skip_images),
        "skipped_labels": len(skip_labels),
    }
    logger.info("evidence of %s replaced: %s (foreign keys %s)", source, counts, "set-based" if bypass else "per row")
    return counts
