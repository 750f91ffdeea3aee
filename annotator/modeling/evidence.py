"""The re-predict write path: a version's evidence replaced as a whole, at close to COPY speed.

While a job scores images, ``EvidenceSpool`` turns each batch of scores into evidence rows
(every score at or above the floor; ``suggested`` for the image's top 5 with score >= 0.5)
and appends them, finished, to a spool file in the job's run folder: each row as PostgreSQL's
binary COPY format has it (built with numpy), its id numbered in the source's own block
(annotator/dataset/partitions.py), created_at the time its batch was scored. Memory
stays bounded by one batch whatever the number of images (plus one flag per image id scored,
a megabyte per million). An image scored twice is refused: a version's partition has no unique
index, its rows are unique per (image, label) because the spool writes each image once.

``evidence_replace`` then swaps the source's evidence whole. ``dataset_evidence`` is
partitioned by source (annotator/dataset/partitions.py): the spool file is streamed as it is
to COPY, into a fresh table with no index and no foreign key (the COPY pays for nothing but
parsing the rows: nothing is formatted at write time, and no sequence value is drawn per
row); its two indexes are then built in bulk (one sort each, far
cheaper than millions of incremental inserts into live indexes), the image and label foreign
keys added (each checked by one anti-join), and at the very end the source's old partition is
detached and dropped and the new table attached in its place. Readers see the old evidence
until the commit, then the new; only the last few milliseconds (detach, attach) make them
wait. Images or labels deleted while the job scored are left out.
"""

from __future__ import annotations

import logging
import os
import secrets
import struct
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import numpy as np
from django.db import transaction
from django.utils import timezone

from annotator.dataset.importing.staging import bulk_session_tune, raw_cursor, temp_table_create
from annotator.dataset.models import EvidenceSource
from annotator.dataset.partitions import (
    PARENT,
    REFUSE_FUNCTION,
    evidence_partition_guard,
    evidence_partition_swap,
    id_range,
    partition_name,
)

logger = logging.getLogger(__name__)

SUGGEST_TOP = 5
SUGGEST_MIN_SCORE = 0.5
COPY_COLUMNS = ("id", "image_id", "label_id", "source_id", "score", "keyword", "suggested", "created_at")
#: One row of PostgreSQL's binary COPY format for COPY_COLUMNS, what the spool file holds
#: (fixed width: 83 bytes): a field count, then (length, value) per field, big-endian.
#: ``keyword`` is the empty string (length 0, no bytes).
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
#: A COPY_ROW with every constant field set: a batch's rows start as copies of it.
_ROW_TEMPLATE = np.zeros(1, dtype=COPY_ROW)
_ROW_TEMPLATE["fields"] = len(COPY_COLUMNS)
for _field in ("id", "image", "label", "source", "score", "created"):
    _ROW_TEMPLATE[f"{_field}_len"] = 8
_ROW_TEMPLATE["suggested_len"] = 1

COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
COPY_TRAILER = struct.pack("!h", -1)
#: Bytes per write of the spool file to COPY.
COPY_CHUNK_BYTES = 16 << 20
#: maintenance_work_mem of the index builds: a 9M-row sort fits in memory (no spill to disk).
EVIDENCE_INDEX_MEMORY = "1GB"
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


def _distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values, ascending: a sort and a comparison of neighbours (np.unique takes
    ~40x as long for 900k ids)."""
    values = np.sort(values)
    if values.size < 2:
        return values
    return values[np.concatenate(([True], values[1:] != values[:-1]))]


class ImageScoredTwiceError(ValueError):
    """A batch holds an image already spooled (or twice): its evidence would not be unique."""


class EvidenceSpool:
    """Evidence rows of one source appended to a spool file (see the module docstring)."""

    def __init__(self, path: Path, *, source_id: int, label_ids: np.ndarray, floor: float) -> None:
        self.path = Path(path)
        self.source_id = source_id
        self.label_ids = np.asarray(label_ids, dtype=np.int64)
        known = self.label_ids[self.label_ids >= 0]
        if _distinct(known).size != known.size:
            raise ValueError("two score columns map to one label: its evidence would not be unique per image")
        self.floor = floor
        self.counts = SpoolCounts()
        self._next_id, _ = id_range(source_id)
        self._handle: IO[bytes] | None = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        self._handle.write(COPY_HEADER)
        self._scored = np.zeros(0, dtype=bool)  # by image id: scored already

    def _images_check(self, ids: np.ndarray) -> None:
        """Refuse the batch (spooling nothing) when it holds an image scored before, or twice."""
        if ids.min() < 0:
            raise ValueError(f"image id {int(ids.min())} is not an image id")
        top = int(ids.max())
        if top >= self._scored.size:
            grown = np.zeros(max(top + 1, 2 * self._scored.size), dtype=bool)
            grown[: self._scored.size] = self._scored
            self._scored = grown
        if self._scored[ids].any() or _distinct(ids).size != ids.size:
            seen = ids[self._scored[ids]]
            twice = int(seen[0]) if seen.size else int(ids[np.flatnonzero(np.diff(np.sort(ids)) == 0)[0]])
            raise ImageScoredTwiceError(f"image {twice} is scored twice in one re-predict")

    def add(self, image_ids: Sequence[int] | np.ndarray, scores: np.ndarray) -> None:
        """Append the evidence of one batch (``scores`` in the label_ids' column order)."""
        assert self._handle is not None, "spool closed"
        ids = np.asarray(image_ids, dtype=np.int64)
        if not ids.size:
            return
        self._images_check(ids)
        images, labels, values, suggested = evidence_rows(ids, scores, self.label_ids, floor=self.floor)
        rows = np.repeat(_ROW_TEMPLATE, images.size)
        rows["id"] = np.arange(self._next_id, self._next_id + images.size, dtype=np.int64)
        rows["image"], rows["label"], rows["score"], rows["suggested"] = images, labels, values, suggested
        rows["source"], rows["created"] = self.source_id, _postgres_micros(timezone.now())
        self._handle.write(rows.tobytes())
        self._next_id += images.size
        self._scored[ids] = True
        self.counts.images += int(ids.size)
        self.counts.rows += int(images.size)
        self.counts.suggested += int(suggested.sum())

    def close(self) -> np.ndarray:
        """Close the file; returns every image id scored, ascending (for the foreign-key check)."""
        if self._handle is not None:
            self._handle.write(COPY_TRAILER)
            # On disk before the write reads it: the COPY's WAL then does not share the disk
            # with the spool's own writeback (in a job, only its last seconds are still dirty).
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
            self._handle = None
        return np.flatnonzero(self._scored).astype(np.int64)


def _postgres_micros(moment: datetime) -> int:
    """A timestamptz as binary COPY has it: microseconds since 2000-01-01 UTC."""
    return int((moment - _POSTGRES_EPOCH).total_seconds() * 1_000_000)


def copy_chunks(spool_path: Path, *, skip_labels: set[int] = frozenset()) -> Iterator[bytes]:  # type: ignore[assignment]
    """The spool file, as COPY data: the file's own bytes, or, when ``skip_labels`` (labels
    deleted while the job scored) is not empty, its rows less those labels'."""
    with open(spool_path, "rb") as spool:
        if not skip_labels:
            while chunk := spool.read(COPY_CHUNK_BYTES):
                yield chunk
            return
        header = spool.read(len(COPY_HEADER))
        rows_left = (Path(spool_path).stat().st_size - len(header) - len(COPY_TRAILER)) // COPY_ROW.itemsize
        yield header
        skip = np.fromiter(skip_labels, dtype=np.int64)
        while rows_left:
            count = min(rows_left, COPY_CHUNK_BYTES // COPY_ROW.itemsize)
            rows = np.frombuffer(spool.read(count * COPY_ROW.itemsize), dtype=COPY_ROW)
            yield rows[~np.isin(rows["label"], skip)].tobytes()
            rows_left -= count
        yield COPY_TRAILER


_ID_ROW = np.dtype([("fields", ">i2"), ("length", ">i4"), ("id", ">i8")])


def _ids_stage(cur: Any, table: str, ids: np.ndarray) -> None:
    """TEMP ``table(id)`` filled with ``ids`` by one binary COPY (900k ids: milliseconds)."""
    temp_table_create(cur, table, "id bigint")
    rows = np.zeros(ids.size, dtype=_ID_ROW)
    rows["fields"], rows["length"], rows["id"] = 1, 8, ids
    with cur.copy(f"COPY {table} (id) FROM STDIN WITH (FORMAT binary)") as copy:
        copy.write(COPY_HEADER + rows.tobytes() + COPY_TRAILER)
    cur.execute(f"ANALYZE {table}")


def _missing(cur: Any, *, table: str, staged: str) -> set[int]:
    cur.execute(f"SELECT s.id FROM {staged} s WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE t.id = s.id)")
    return {int(row[0]) for row in cur.fetchall()}


def evidence_replace(
    *,
    source: EvidenceSource,
    spool_path: Path,
    image_ids: np.ndarray,
    label_ids: Sequence[int],
    rows: int,
) -> dict[str, int]:
    """Replace ``source``'s evidence with the spooled rows and set its refreshed_at; one transaction.

    Other writers of evidence (imports, competitors) go on meanwhile, and so do readers, but
    for the swap itself at the end. Returns counts: deleted (old rows), written,
    skipped_images / skipped_labels (deleted while scoring). Call inside the caller's
    transaction to commit it together with more; call ``evidence_partition_prepare`` in a
    transaction of its own before, so the first swap of a source does not lock the default
    partition (see annotator/dataset/partitions.py).
    """
    # A name of its own per write: the indexes' names must not clash with the old partition's.
    table = f"{partition_name(source.pk)}_{secrets.token_hex(4)}"
    first_id, last_id = id_range(source.pk)
    phases = _Phases()
    with transaction.atomic(), raw_cursor() as cur:
        # One re-predict of a source at a time, and the source stays until the commit.
        cur.execute("SELECT id FROM dataset_evidencesource WHERE id = %s FOR UPDATE", [source.pk])
        bulk_session_tune(cur)
        cur.execute(f"SET LOCAL maintenance_work_mem = '{EVIDENCE_INDEX_MEMORY}'")
        # Each statement here is one scan or one sort of millions of rows, run once: compiling
        # its expressions (JIT, ~0.2 s a statement at 9M rows) costs more than it saves.
        cur.execute("SET LOCAL jit = off")
        _ids_stage(cur, "tt_scored_images", _distinct(np.asarray(image_ids, dtype=np.int64)))
        _ids_stage(cur, "tt_scored_labels", _distinct(np.asarray([i for i in label_ids if i >= 0], dtype=np.int64)))
        # Labels now (a few hundred); images once, under lock, before the keys are added.
        skip_labels = _missing(cur, table="taxonomy_label", staged="tt_scored_labels")
        phases.done("check")
        # Created in this transaction: COPY FREEZE writes the rows frozen and all-visible, so
        # the first readers do not rewrite every page to set hint bits. The CHECKs, tested per
        # row as COPY goes: the source's lets ATTACH skip its scan, the ids' keeps them in the
        # source's block (unique across the table; annotator/dataset/partitions.py).
        cur.execute(
            f"CREATE TABLE {table} (LIKE {PARENT} INCLUDING DEFAULTS, "
            f"CONSTRAINT {table}_source CHECK (source_id = {int(source.pk)}), "
            f"CONSTRAINT {table}_ids CHECK (id BETWEEN {first_id} AND {last_id}))"
        )
        columns = ", ".join(COPY_COLUMNS)  # ids numbered by the spool: no sequence value drawn per row
        with cur.copy(f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT binary, FREEZE)") as copy:
            for chunk in copy_chunks(spool_path, skip_labels=skip_labels):
                copy.write(chunk)
        written = int(cur.rowcount)
        phases.done("copy")
        _indexes_build(cur, table)
        phases.done("indexes")
        skip_images, removed = _foreign_keys_add(cur, table)
        written -= removed
        phases.done("keys")
        evidence_partition_guard(cur, source_id=source.pk)
        phases.done("guard")
        deleted = evidence_partition_swap(cur, source_id=source.pk, table=table)
        EvidenceSource.objects.filter(pk=source.pk).update(refreshed_at=timezone.now())
        phases.done("swap")
    phases.done("commit")
    counts = {
        "deleted": deleted,
        "written": written,
        "skipped_images": len(skip_images),
        "skipped_labels": len(skip_labels),
    }
    logger.info("evidence of %s replaced: %s; seconds: %s", source, counts, phases)
    return counts


class _Phases:
    """Seconds spent in each phase of a replace, for the log."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def done(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = round(now - self._last, 2)
        self._last = now

    def __str__(self) -> str:
        return ", ".join(f"{name} {seconds}" for name, seconds in self.seconds.items())


def _indexes_build(cur: Any, table: str) -> None:
    """The indexes of a model version's partition, each built by one sort; then statistics.

    No key: its ids and its (image, label) pairs are unique as written, and the trigger added
    here refuses any later row-by-row write (annotator/dataset/partitions.py).
    """
    # Every read by image (review page, image page, the rerank's join by image and label).
    cur.execute(f"CREATE INDEX {table}_image ON {table} (image_id)")
    # The queues' reads by label take only suggested rows (~2 in 10): a partial index.
    cur.execute(f"CREATE INDEX {table}_label_suggested ON {table} (label_id) WHERE suggested")
    cur.execute(
        f"CREATE TRIGGER {table}_whole BEFORE INSERT OR UPDATE OF image_id, label_id ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {REFUSE_FUNCTION}()"
    )
    # The queues re-rank right after the commit: they plan with real statistics (a sample).
    cur.execute(f"ANALYZE {table}")


def _foreign_keys_add(cur: Any, table: str) -> tuple[set[int], int]:
    """The parent's foreign keys (image, label), added to ``table`` and checked.

    Returns the images deleted since the scoring began and how many rows of theirs were dropped.

    Images and labels are locked (SHARE) from here to the commit, so none of the rows checked
    can lose its image or label before the swap. Rows of images deleted since the scoring began
    are dropped first (found through the unique index, image first). ATTACH then adopts these
    keys instead of checking them again.
    """
    cur.execute("LOCK TABLE dataset_image, taxonomy_label IN SHARE MODE")
    gone = _missing(cur, table="dataset_image", staged="tt_scored_images")
    removed = 0
    if gone:
        cur.execute(f"DELETE FROM {table} WHERE image_id = ANY(%s)", [sorted(gone)])
        removed = int(cur.rowcount)
    cur.execute(
        """SELECT c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c
           WHERE c.conrelid = %s::regclass AND c.contype = 'f' ORDER BY c.conname""",
        [PARENT],
    )
    for name, definition in cur.fetchall():
        # The image key's check is best a merge of two index-only scans, the table's (image_id)
        # (its pages all-visible: COPY FREEZE) and the images' primary key: half the time of
        # the hash join the planner picks. The label key's, a hash join on 400 labels.
        merge = definition.startswith("FOREIGN KEY (image_id)")
        if merge:
            cur.execute("SELECT current_setting('enable_hashjoin'), set_config('enable_hashjoin', 'off', true)")
            hash_joins = cur.fetchone()[0]
        cur.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
        if merge:
            cur.execute("SELECT set_config('enable_hashjoin', %s, true)", [hash_joins])
    return gone, removed
