"""The re-predict write path: a version's evidence replaced as a whole, at close to COPY speed.

While a job scores images, ``EvidenceSpool`` turns each batch of scores into evidence rows
(every score at or above the floor; ``suggested`` for the image's top 5 with score >= 0.5)
and appends them, in COPY text format, to a spool file in the job's run folder: memory stays
bounded by one batch whatever the number of images.

``evidence_replace`` then swaps the source's evidence in one transaction: the old rows are
deleted and the spool is COPYed straight into ``dataset_evidence``. Per-row foreign-key
triggers (three lookups and row locks per row) would cost more than the COPY itself, so
when the role may (superuser, or granted on PostgreSQL 15+) they are switched off for this
transaction only and the keys are checked set-based instead: the image and label tables
are locked in SHARE mode (nothing can delete a row they reference until commit; readers
and the cleaning queues are not blocked), and rows of images or labels deleted since the
scoring began are left out. Readers see the old evidence until the commit, then the new.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
from django.db import transaction
from django.utils import timezone

from annotator.dataset.importing.staging import (
    COPY_CHUNK_BYTES,
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
SPOOL_COLUMNS = ("image_id", "label_id", "source_id", "score", "keyword", "suggested", "created_at")


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
    valid = label_ids >= 0
    ranked = np.where(valid[None, :], scores, -np.inf)
    order = np.argsort(-ranked, axis=1, kind="stable")
    sorted_scores = np.take_along_axis(ranked, order, axis=1)
    keep = sorted_scores >= floor
    suggested = keep & (sorted_scores >= SUGGEST_MIN_SCORE)
    suggested[:, SUGGEST_TOP:] = False
    rows, ranks = np.nonzero(keep)
    columns = order[rows, ranks]
    return image_ids[rows], label_ids[columns], sorted_scores[rows, ranks], suggested[rows, ranks]


class EvidenceSpool:
    """Evidence rows of one source appended to a COPY text file (see the module docstring)."""

    def __init__(self, path: Path, *, source_id: int, label_ids: np.ndarray, floor: float) -> None:
        self.path = Path(path)
        self.source_id = source_id
        self.label_ids = np.asarray(label_ids, dtype=np.int64)
        self.floor = floor
        self.counts = SpoolCounts()
        self.stamp = timezone.now().isoformat()
        self._handle: IO[str] | None = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._image_ids: list[np.ndarray] = []

    def add(self, image_ids: Sequence[int] | np.ndarray, scores: np.ndarray) -> None:
        """Append the evidence of one batch (``scores`` in the label_ids' column order)."""
        assert self._handle is not None, "spool closed"
        ids = np.asarray(image_ids, dtype=np.int64)
        if not ids.size:
            return
        images, labels, values, suggested = evidence_rows(ids, scores, self.label_ids, floor=self.floor)
        tail = f"\t{self.source_id}\t"
        stamp = f"\t{self.stamp}\n"
        flags = np.where(suggested, "\tt", "\tf")
        # One format call per row: ~0.5 µs, far below what the database spends on it.
        self._handle.write(
            "".join(
                f"{i}\t{label}{tail}{s:.5f}\t{flag}{stamp}"
                for i, label, s, flag in zip(images.tolist(), labels.tolist(), values.tolist(), flags.tolist())
            )
        )
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


def _missing(cur: Any, *, table: str, staged: str) -> set[int]:
    cur.execute(f"SELECT s.id FROM {staged} s WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE t.id = s.id)")
    return {int(row[0]) for row in cur.fetchall()}


def _copy_spool(cur: Any, path: Path, *, skip_images: set[int], skip_labels: set[int]) -> None:
    columns = ", ".join(SPOOL_COLUMNS)
    with cur.copy(f"COPY dataset_evidence ({columns}) FROM STDIN") as copy, open(path, "rb") as spool:
        if not skip_images and not skip_labels:
            while chunk := spool.read(COPY_CHUNK_BYTES):
                copy.write(chunk)
            return
        # Rare: images or labels deleted while the job scored. Filter line by line.
        for line in spool:
            image, label, _ = line.split(b"\t", 2)
            if int(image) not in skip_images and int(label) not in skip_labels:
                copy.write(line)


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

    Returns counts: deleted (old rows), written, skipped_images / skipped_labels (deleted
    while scoring). Call inside the caller's transaction to commit it together with more.
    """
    with transaction.atomic(), raw_cursor() as cur:
        bulk_session_tune(cur)
        # Two replaces of one source never interleave.
        cur.execute("SELECT id FROM dataset_evidencesource WHERE id = %s FOR UPDATE", [source.pk])
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
        if bypass:
            cur.execute("SET LOCAL session_replication_role = replica")
        _copy_spool(cur, spool_path, skip_images=skip_images, skip_labels=skip_labels)
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
