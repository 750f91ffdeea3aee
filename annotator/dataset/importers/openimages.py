"""Open Images importer: labels CSV + class descriptions [+ hierarchy] [+ mapping] + images.

Job params: ``labels``, ``classes``, ``hierarchy`` (optional), ``mapping`` (optional),
``images_root``. Images are ``<ImageID>.jpg`` under the images root (origin public,
origin_ref = ImageID).

Rows whose Source is not ``machine`` are human-verified: Confidence 1 is a positive,
0 a verified negative (truth, expanded through the closure). ``machine`` rows are
Evidence of the source ``import:openimages:machine`` with their confidence, not truth.

Speed: the labels file is streamed untouched into a TEMP table with COPY (PostgreSQL
parses and checks the UTF-8), validated with one aggregate query, and turned into truth
and evidence with set-based statements. Only when that query finds a problem is the file
read again in Python, to name the first bad row exactly (row = line number).
"""

from __future__ import annotations

import csv
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from annotator.dataset.importers.openimages_taxonomy import (
    SOURCE,
    classes_read,
    hierarchy_read,
    labels_for_classes,
    mapping_read,
    mappings_record,
)
from annotator.dataset.importing.errors import ImportFailed, ProgressFn
from annotator.dataset.importing.images import ImageSpec, images_root_check, register_images
from annotator.dataset.importing.jobs import ImportContext
from annotator.dataset.importing.staging import copy_csv_file, copy_rows, raw_cursor, temp_table_create
from annotator.dataset.importing.textfiles import csv_rows, header_columns, input_file_check
from annotator.dataset.importing.truth import apply_evidence_staged, evidence_source_get_or_create
from annotator.dataset.models import EvidenceSource, HistorySource, Image
from annotator.dataset.services import image_labels_bulk_set_staged

logger = logging.getLogger(__name__)

COLUMNS = ("ImageID", "Source", "LabelName", "Confidence")
MACHINE = "machine"
EVIDENCE_SOURCE_NAME = "openimages:machine"
# The same patterns run in PostgreSQL (fast path) and in Python (naming the bad row).
HUMAN_CONFIDENCE = r"^[01](\.0*)?$"
MACHINE_CONFIDENCE = r"^(0(\.[0-9]*)?|1(\.0*)?|\.[0-9]+)$"
_HUMAN_RE = re.compile(HUMAN_CONFIDENCE)
_MACHINE_RE = re.compile(MACHINE_CONFIDENCE)
_STAGE = "tt_oi_labels"


@dataclass(frozen=True)
class _Files:
    labels: Path
    classes: Path
    hierarchy: Path | None
    mapping: Path | None
    images_root: Path


@dataclass(frozen=True)
class _Layout:
    """The labels file's header: its names, column name -> index, the number of fields per row."""

    header: list[str]
    columns: dict[str, int]

    @property
    def width(self) -> int:
        return len(self.header)


def run(*, ctx: ImportContext) -> dict[str, int]:
    """Import one Open Images labels file (see the module docstring); returns counts."""
    report = ctx.progress
    files = _files_check(ctx.params)
    report("read classes", 0, 0)
    classes = classes_read(files.classes)
    parents = hierarchy_read(files.hierarchy, classes) if files.hierarchy else {}
    counts: dict[str, int] = {}
    mapping: dict[str, list[int]] | None = None
    if files.mapping is not None:
        mapping, counts["mapping_rows_unused"] = mapping_read(files.mapping, classes)

    with raw_cursor() as cur:
        layout = _stage_labels(cur, files.labels, report)
        per_mid = _check_labels(cur, files.labels, layout, classes)
        counts["rows"] = sum(h + m for h, m in per_mid.values())
        counts["machine_rows"] = sum(m for _, m in per_mid.values())
        counts["human_rows"] = counts["rows"] - counts["machine_rows"]
        _images_register(cur, files, layout, report, counts)

        report("taxonomy", 0, 0)
        if mapping is None:
            mapping, label_counts = labels_for_classes(
                mids=per_mid, classes=classes, parents=parents, hierarchy=files.hierarchy
            )
            counts.update(label_counts)
        else:
            counts["mappings_created"] = mappings_record(mapping, classes)
        counts.update(_unmapped_counts(per_mid, mapping, classes))
        temp_table_create(cur, "tt_oi_map", "mid text, label_id bigint, display text")
        copy_rows(
            cur,
            "tt_oi_map",
            ["mid", "label_id", "display"],
            ((mid, lid, classes[mid]) for mid, ids in mapping.items() if mid in per_mid for lid in ids),
        )
        cur.execute("ANALYZE tt_oi_map")

        counts.update(_truth_apply(cur, ctx, files.labels))
        if counts["machine_rows"]:
            counts.update(_evidence_apply(cur, report))
        cur.execute(f"DROP TABLE {_STAGE}")
    return counts


def _files_check(params: dict[str, Any]) -> _Files:
    def optional(name: str) -> Path | None:
        return input_file_check(params[name], param=name) if params.get(name) else None

    return _Files(
        labels=input_file_check(params.get("labels"), param="labels"),
        classes=input_file_check(params.get("classes"), param="classes"),
        hierarchy=optional("hierarchy"),
        mapping=optional("mapping"),
        images_root=images_root_check(params.get("images_root") or ""),
    )


def _images_register(
    cur: psycopg.Cursor[Any], files: _Files, layout: _Layout, report: ProgressFn, counts: dict[str, int]
) -> None:
    """Register ``<ImageID>.jpg`` for every ImageID; stage ImageID -> image id in tt_oi_images."""
    report("images", 0, 0)
    # ImageID order: the first bad image reported is the same on every run.
    cur.execute(f"SELECT imageid FROM {_STAGE} GROUP BY imageid ORDER BY imageid")
    image_ids = [row[0] for row in cur.fetchall()]
    labels = str(files.labels)
    specs = (
        ImageSpec(path=f"{iid}.jpg", origin=Image.Origin.PUBLIC, origin_ref=iid, file=labels, field="ImageID")
        for iid in image_ids
    )
    try:
        images = register_images(files.images_root, specs, progress=report, counts=counts)
    except ImportFailed as exc:
        raise _with_row(exc, files.labels, layout) from None
    temp_table_create(cur, "tt_oi_images", "imageid text, image_id bigint")
    copy_rows(cur, "tt_oi_images", ["imageid", "image_id"], ((iid, images[f"{iid}.jpg"]) for iid in image_ids))
    cur.execute("ANALYZE tt_oi_images")


def _unmapped_counts(
    per_mid: dict[str, tuple[int, int]], mapping: dict[str, list[int]], classes: dict[str, str]
) -> dict[str, int]:
    """unmapped_classes, unmapped_rows and one ``unmapped <MID> (<name>)`` count per class."""
    unmapped = {mid: h + m for mid, (h, m) in per_mid.items() if not mapping.get(mid)}
    counts = {"unmapped_classes": len(unmapped), "unmapped_rows": sum(unmapped.values())}
    for mid, rows in sorted(unmapped.items(), key=lambda kv: (-kv[1], kv[0])):
        counts[f"unmapped {mid} ({classes[mid]})"] = rows
    return counts


def _truth_apply(cur: psycopg.Cursor[Any], ctx: ImportContext, labels: Path) -> dict[str, int]:
    """Human-verified rows -> positives / verified negatives, through the label services."""
    ctx.progress("truth", 0, 2)
    cur.execute(
        f"""CREATE TEMP TABLE tt_oi_truth ON COMMIT DROP AS
            SELECT i.image_id, m.label_id, (left(s.confidence, 1) = '1')::int::smallint AS state
            FROM {_STAGE} s JOIN tt_oi_images i ON i.imageid = s.imageid JOIN tt_oi_map m ON m.mid = s.labelname
            WHERE s.source <> %s""",
        [MACHINE],
    )
    ctx.progress("truth", 1, 2)
    counts = image_labels_bulk_set_staged(
        table="tt_oi_truth",
        source=HistorySource.IMPORT,
        source_ref=ctx.source_ref,
        reason=f"openimages {labels.name}",
        user_id=ctx.user_id,
    )
    cur.execute("DROP TABLE tt_oi_truth")
    ctx.progress("truth", 2, 2)
    return counts


def _evidence_apply(cur: psycopg.Cursor[Any], report: ProgressFn) -> dict[str, int]:
    """Machine rows -> evidence of ``import:openimages:machine``."""
    report("evidence", 0, 1)
    cur.execute(
        f"""CREATE TEMP TABLE tt_oi_evidence ON COMMIT DROP AS
            SELECT i.image_id, m.label_id, s.confidence::float8 AS score, m.display AS keyword
            FROM {_STAGE} s JOIN tt_oi_images i ON i.imageid = s.imageid JOIN tt_oi_map m ON m.mid = s.labelname
            WHERE s.source = %s""",
        [MACHINE],
    )
    source = evidence_source_get_or_create(kind=EvidenceSource.Kind.IMPORT, name=EVIDENCE_SOURCE_NAME)
    counts = apply_evidence_staged(table="tt_oi_evidence", source=source)
    cur.execute("DROP TABLE tt_oi_evidence")
    report("evidence", 1, 1)
    return counts


def _stage_labels(cur: psycopg.Cursor[Any], file: Path, report: ProgressFn) -> _Layout:
    """COPY the labels file into the TEMP stage table; returns the header's layout."""
    total = file.stat().st_size
    with file.open("rb") as fh:
        first = fh.readline()
        try:
            header_text = first.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ImportFailed("not UTF-8 text", file=file, row=1) from None
        header = next(csv.reader([header_text.rstrip("\r\n")]), [])
        if not "".join(header).strip():
            raise ImportFailed("the file is empty", file=file)
        layout = _Layout([name.strip() for name in header], header_columns(file, header, COLUMNS))
        columns = layout.columns
        # Stage every column (COPY needs them all); only the four named ones are used.
        names = {index: name.lower() for name, index in columns.items() if name in COLUMNS}
        stage_columns = [names.get(i, f"extra_{i}") for i in range(len(header))]
        temp_table_create(cur, _STAGE, ", ".join(f"{c} text" for c in stage_columns))
        report("stage labels", len(first), total)
        try:
            copy_csv_file(cur, _STAGE, stage_columns, fh, on_chunk=lambda sent: report("stage labels", sent, total))
        except psycopg.Error as exc:
            logger.info("COPY of %s failed (%s); looking for the bad row", file, exc)
            _rescan(file, layout, classes=None, database_error=str(exc).splitlines()[0])
    cur.execute(f"SELECT count(*) FROM {_STAGE}")
    row = cur.fetchone()
    if not row or not row[0]:
        raise ImportFailed("no label rows after the header", file=file, row=2)
    return layout


def _check_labels(
    cur: psycopg.Cursor[Any], file: Path, layout: _Layout, classes: dict[str, str]
) -> dict[str, tuple[int, int]]:
    """One aggregate pass: per MID (human rows, machine rows); any bad row -> its exact error."""
    cur.execute(
        f"""SELECT labelname,
                   count(*) FILTER (WHERE source IS DISTINCT FROM %(machine)s),
                   count(*) FILTER (WHERE source = %(machine)s),
                   bool_or(imageid IS NULL OR imageid = '' OR source IS NULL OR source = '' OR confidence IS NULL
                           OR CASE WHEN source = %(machine)s THEN confidence !~ %(machine_re)s
                                   ELSE confidence NOT IN ('0', '1') AND confidence !~ %(human_re)s END)
            FROM {_STAGE} GROUP BY labelname""",
        {"machine": MACHINE, "machine_re": MACHINE_CONFIDENCE, "human_re": HUMAN_CONFIDENCE},
    )
    per_mid: dict[str, tuple[int, int]] = {}
    bad = False
    for mid, human, machine, any_bad in cur:
        per_mid[mid] = (human, machine)
        bad = bad or bool(any_bad) or mid not in classes
    if bad:
        _rescan(file, layout, classes=classes, database_error="a row failed the checks")
    return per_mid


def _row_problem(row: list[str], layout: _Layout, classes: dict[str, str] | None) -> tuple[str, str] | None:
    """(field, message) for the first problem of a data row, or None."""
    if len(row) != layout.width:
        return "", f"expected {layout.width} fields, found {len(row)}"
    columns = layout.columns
    # Raw values, as PostgreSQL sees them: " 1" is not "1".
    image_id = row[columns["ImageID"]]
    source = row[columns["Source"]]
    mid = row[columns["LabelName"]]
    confidence = row[columns["Confidence"]]
    if not image_id:
        return "ImageID", "empty ImageID"
    if not source:
        return "Source", "empty Source"
    if not mid:
        return "LabelName", "empty LabelName"
    if classes is not None and mid not in classes:
        return "LabelName", f'unknown class "{mid}" (not in the class descriptions)'
    if source == MACHINE:
        if not _MACHINE_RE.match(confidence):
            return "Confidence", f'"{confidence}" is not a number between 0 and 1 (machine row)'
    elif not _HUMAN_RE.match(confidence):
        return "Confidence", f'"{confidence}" must be 0 or 1 for a human-verified row (Source "{source}")'
    return None


def _rescan(file: Path, layout: _Layout, *, classes: dict[str, str] | None, database_error: str) -> None:
    """Read the file in Python and raise ImportFailed for its first bad row."""
    for row_number, row in csv_rows(file, names=layout.header):
        if row_number == 1:
            continue
        if not row:
            raise ImportFailed("empty line", file=file, row=row_number)
        problem = _row_problem(row, layout, classes)
        if problem is not None:
            field, message = problem
            raise ImportFailed(message, file=file, row=row_number, field=field or None)
    raise ImportFailed(f"the database refused the file ({database_error})", file=file)


def _with_row(exc: ImportFailed, file: Path, layout: _Layout) -> ImportFailed:
    """Give an image error the row of the first line naming that image."""
    if exc.row is not None or not exc.subject:
        return exc
    image_id = exc.subject.removesuffix(".jpg")
    index = layout.columns["ImageID"]
    for row_number, row in csv_rows(file):
        if row_number > 1 and len(row) > index and row[index] == image_id:
            return ImportFailed(exc.message, file=exc.path, row=row_number, field=exc.field, subject=exc.subject)
    return exc


__all__ = ["SOURCE", "run"]
