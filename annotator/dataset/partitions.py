"""The partitions of ``dataset_evidence``: one per model version's source, a DEFAULT for the rest.

``dataset_evidence`` is partitioned by LIST (source_id) (migration 0008). A model version's
evidence is written only as a whole (a re-predict), into a fresh table of its own that is
swapped in as the source's partition ``dataset_evidence_s<id>``; imports, competitors and
crawls write row by row into the DEFAULT partition.

ATTACH PARTITION must prove that the DEFAULT partition holds no row of the new partition's
source, or it scans the whole default partition under an ACCESS EXCLUSIVE lock. The proof is
a validated CHECK (source_id <> <id>) on the default partition, the *guard* of that source:
added NOT VALID in a short transaction of its own (``evidence_partition_prepare``), validated
by the swap (a scan that blocks neither readers nor writers), kept while the source exists
and dropped with it (``evidence_partition_drop``).

Keys and indexes belong to each partition, as each is written. The parent has none but the
image and label foreign keys (which guard against deletes, and which ATTACH adopts from a new
partition that already carries them). The default partition, written row by row (imports'
``ON CONFLICT``, competitor syncs, the ORM), keeps what the unpartitioned table had: primary
key (id), unique (image_id, label_id, source_id), the source foreign key, and (source_id,
label_id) for its reads by label. A model version's partition is written only whole, by a
re-predict, and gets only what its readers need, each built with one sort: (image_id) (review
page, image page, the rerank's join by image and label) and (label_id) WHERE suggested (the
queues' candidate query, a fifth of the rows). Its rows are unique per (image, label) by
construction (the spool refuses an image scored twice; annotator/modeling/evidence.py), and a
trigger refuses any row-by-row write there, so nothing else can break that. It needs no
source foreign key: its CHECK (source_id = <id>) and the re-predict's lock on the source row
hold while it is written, and it is dropped with its source (``evidence_source_deleting``).

Ids are unique across the table without an index spanning it: the default partition draws
them from the sequence and a CHECK keeps them below ID_BLOCK; a re-predict numbers its rows
``source_id * ID_BLOCK + n`` (n = 1, 2, ...), checked by its partition's CHECK, so a COPY of
millions of rows draws no sequence value. Partitions written by migration 0008 keep the ids
they had (sequence values).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from django.db import OperationalError, connection, transaction
from psycopg.errors import LockNotAvailable

logger = logging.getLogger(__name__)
T = TypeVar("T")

PARENT = "dataset_evidence"
DEFAULT = "dataset_evidence_default"
#: The default partition's ids stay below it; a version's partition holds the block
#: source_id * ID_BLOCK + 1 .. (source_id + 1) * ID_BLOCK - 1 (bigint: source ids below 2**23).
ID_BLOCK = 2**40
MAX_SOURCE_ID = 2**23 - 1
#: The trigger function (migration 0008) that refuses row-by-row writes to a version's partition.
REFUSE_FUNCTION = "dataset_evidence_version_write_refuse"
#: How long the swap's ACCESS EXCLUSIVE lock requests wait before stepping back: while one
#: waits (for a long import, say), every new reader queues behind it, so it gives way, pauses
#: and tries again, SWAP_TRIES times, the last without limit.
SWAP_LOCK_TIMEOUT_MS = 2000
SWAP_TRIES = 30
SWAP_PAUSE_S = 1.0


@contextmanager
def _deferred_checks_run(cur: Any) -> Iterator[None]:
    """Run the foreign-key checks this transaction deferred, so that its own earlier writes to
    the evidence tables do not stop ALTER TABLE ("pending trigger events"); defer them again
    after (Django declares every foreign key DEFERRABLE INITIALLY DEFERRED)."""
    cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
    yield
    cur.execute("SET CONSTRAINTS ALL DEFERRED")


def _locking(cur: Any, action: Callable[[], T], *, what: str) -> T:
    """Run ``action`` (DDL that takes ACCESS EXCLUSIVE locks) in a savepoint, giving way on lock waits."""
    cur.execute("SELECT current_setting('lock_timeout')")
    before = cur.fetchone()[0]
    for attempt in range(1, SWAP_TRIES + 1):
        try:
            with transaction.atomic():
                timeout = 0 if attempt == SWAP_TRIES else SWAP_LOCK_TIMEOUT_MS
                cur.execute(f"SET LOCAL lock_timeout = {timeout}")
                result = action()
        except (LockNotAvailable, OperationalError) as error:
            if not isinstance(error, LockNotAvailable) and not isinstance(error.__cause__, LockNotAvailable):
                raise
            logger.info("%s: readers or writers hold the evidence tables, try %d again", what, attempt)
            time.sleep(SWAP_PAUSE_S)
            continue
        cur.execute("SELECT set_config('lock_timeout', %s, true)", [before])
        return result
    raise AssertionError("unreachable: the last try waits without limit")


def partition_name(source_id: int) -> str:
    return f"{PARENT}_s{int(source_id)}"


def id_range(source_id: int) -> tuple[int, int]:
    """The ids of ``source_id``'s partition: (first, last)."""
    if not 0 < source_id <= MAX_SOURCE_ID:
        raise ValueError(f"evidence source id {source_id} is past the id blocks' range (1..{MAX_SOURCE_ID})")
    return source_id * ID_BLOCK + 1, (source_id + 1) * ID_BLOCK - 1


def guard_name(source_id: int) -> str:
    return f"{DEFAULT}_not_s{int(source_id)}"


def _guard_state(cur: Any, source_id: int) -> tuple[bool, bool]:
    """(exists, validated) of the source's guard on the default partition."""
    cur.execute(
        "SELECT convalidated FROM pg_constraint WHERE conrelid = %s::regclass AND conname = %s",
        [DEFAULT, guard_name(source_id)],
    )
    row = cur.fetchone()
    return (row is not None, bool(row[0]) if row else False)


def _guard_add(cur: Any, source_id: int) -> None:
    # NOT VALID: no scan, so the ACCESS EXCLUSIVE lock this takes lasts an instant; new rows
    # of the source are refused by the default partition from here on.
    cur.execute(
        f"ALTER TABLE {DEFAULT} ADD CONSTRAINT {guard_name(source_id)} CHECK (source_id <> {int(source_id)}) NOT VALID"
    )


def evidence_partition_owned(*, source_id: int) -> bool:
    """Whether the source's evidence lives (or is about to live) in a partition of its own:
    written only whole, by a re-predict, never row by row into the default partition."""
    with connection.cursor() as cur:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", [partition_name(source_id)])
        owned = bool(cur.fetchone()[0])
        return owned or _guard_state(cur, source_id)[0]


def evidence_partition_prepare(*, source_id: int) -> None:
    """Add the source's guard (not yet validated) to the default partition, when missing.

    Run it in a transaction of its own before the swap's: inside the swap's transaction the
    lock it takes would be held until that commits.
    """
    with connection.cursor() as cur:
        exists, _ = _guard_state(cur, source_id)
        if not exists:
            with _deferred_checks_run(cur):
                _locking(cur, lambda: _guard_add(cur, source_id), what="evidence guard")


def evidence_partition_guard(cur: Any, *, source_id: int) -> int:
    """Make the guard hold (inside the swap's transaction); returns the rows it moved out.

    Rows of the source still in the default partition (written before it had a partition of
    its own) are deleted: the swap replaces all of the source's evidence anyway, and readers
    see them until the commit.
    """
    exists, validated = _guard_state(cur, source_id)
    if validated:
        return 0
    with _deferred_checks_run(cur):
        if not exists:
            _locking(cur, lambda: _guard_add(cur, source_id), what="evidence guard")
        cur.execute(f"DELETE FROM ONLY {DEFAULT} WHERE source_id = %s", [source_id])
        moved = int(cur.rowcount or 0)
        # Scans the default partition with SHARE UPDATE EXCLUSIVE: reads and writes go on.
        cur.execute(f"ALTER TABLE {DEFAULT} VALIDATE CONSTRAINT {guard_name(source_id)}")
    return moved


def evidence_partition_swap(cur: Any, *, source_id: int, table: str) -> int:
    """Replace the source's partition by ``table`` (built, indexed, keyed); returns the old row count.

    Call last in the transaction: DETACH takes an ACCESS EXCLUSIVE lock on ``dataset_evidence``,
    so readers wait from here to the commit (milliseconds: nothing left to scan or build).
    """
    current = partition_name(source_id)
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", [current])
    replacing = bool(cur.fetchone()[0])
    old_rows = 0
    if replacing:
        cur.execute(f"SELECT count(*) FROM {current}")
        old_rows = int(cur.fetchone()[0])

    def swap() -> None:
        if replacing:
            cur.execute(f"ALTER TABLE {PARENT} DETACH PARTITION {current}")
            cur.execute(f"DROP TABLE {current}")
        cur.execute(f"ALTER TABLE {PARENT} ATTACH PARTITION {table} FOR VALUES IN ({int(source_id)})")
        cur.execute(f"ALTER TABLE {table} RENAME TO {current}")

    with _deferred_checks_run(cur):
        _locking(cur, swap, what="evidence swap")
    return old_rows


def evidence_partition_drop(*, source_id: int) -> None:
    """Drop the source's partition (all its rows at once) and its guard; before deleting the source."""
    with connection.cursor() as cur, _deferred_checks_run(cur):
        cur.execute(f"DROP TABLE IF EXISTS {partition_name(source_id)}")
        cur.execute(f"ALTER TABLE {DEFAULT} DROP CONSTRAINT IF EXISTS {guard_name(source_id)}")


def evidence_source_deleting(sender: type, instance: Any, **kwargs: Any) -> None:
    """pre_delete of an EvidenceSource: its partition and guard go with it."""
    evidence_partition_drop(source_id=instance.pk)
