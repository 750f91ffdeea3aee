"""Raw PostgreSQL helpers for the bulk paths: the psycopg connection, TEMP tables, COPY.

Everything here runs on Django's own connection, inside the import's atomic block, so
staged rows and the final writes share one transaction (all-or-nothing).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import IO, Any

import psycopg
from django.db import connection

# Bytes handed to COPY per write: large enough that the Python loop costs nothing.
COPY_CHUNK_BYTES = 1 << 20

_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")


def raw_connection() -> psycopg.Connection[Any]:
    """Django's own psycopg connection (same transaction as the ORM)."""
    connection.ensure_connection()
    raw = connection.connection
    assert raw is not None
    return raw


def raw_cursor() -> psycopg.Cursor[Any]:
    """A cursor on Django's connection; the caller closes it (``with raw_cursor() as cur``)."""
    return raw_connection().cursor()


def _ident(name: str) -> str:
    if not _IDENT.match(name):
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return name


def temp_table_create(cur: psycopg.Cursor[Any], name: str, columns: str) -> str:
    """(Re)create ``pg_temp.<name>`` (``columns`` is the SQL column list), dropped at commit.

    Dropped first when it exists: inside tests (one outer transaction) or when one import
    stages twice, ON COMMIT DROP has not fired yet.
    """
    _ident(name)
    cur.execute(f"DROP TABLE IF EXISTS pg_temp.{name}")
    cur.execute(f"CREATE TEMP TABLE {name} ({columns}) ON COMMIT DROP")
    return name


def temp_table_as(cur: psycopg.Cursor[Any], name: str, query: str, params: Sequence[Any] | dict[str, Any] = ()) -> int:
    """(Re)create ``pg_temp.<name>`` from a query; returns its row count."""
    _ident(name)
    cur.execute(f"DROP TABLE IF EXISTS pg_temp.{name}")
    cur.execute(f"CREATE TEMP TABLE {name} ON COMMIT DROP AS {query}", params or None)
    return cur.rowcount


def copy_rows(cur: psycopg.Cursor[Any], table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """COPY Python rows into ``table(columns)``; returns the number of rows."""
    count = 0
    cols = ", ".join(_ident(c) for c in columns)
    with cur.copy(f"COPY {_ident(table)} ({cols}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def copy_csv_file(
    cur: psycopg.Cursor[Any],
    table: str,
    columns: Sequence[str],
    stream: IO[bytes],
    *,
    on_chunk: Any = None,
) -> None:
    """COPY an open CSV file (header line already consumed) into ``table(columns)``.

    The bytes go to PostgreSQL untouched: parsing and UTF-8 checking happen server side,
    which is what makes this as fast as a bare COPY. ``on_chunk(bytes_sent)`` is called
    after each chunk (progress).
    """
    cols = ", ".join(_ident(c) for c in columns)
    sent = 0
    with cur.copy(f"COPY {_ident(table)} ({cols}) FROM STDIN WITH (FORMAT csv, ENCODING 'UTF8')") as copy:
        while chunk := stream.read(COPY_CHUNK_BYTES):
            copy.write(chunk)
            sent += len(chunk)
            if on_chunk is not None:
                on_chunk(sent)


def bulk_session_tune(cur: psycopg.Cursor[Any]) -> None:
    """Transaction-local settings for big set-based statements.

    A large work_mem keeps the hash joins and aggregates of a 1M-row import in memory;
    synchronous_commit off only skips waiting for the WAL flush of this one commit
    (a crash right after may lose the import, never corrupt anything).
    """
    cur.execute("SET LOCAL work_mem = '256MB'")
    cur.execute("SET LOCAL synchronous_commit = off")


# Bulk writes of at least this many rows check their foreign keys set-based (below).
SET_BASED_FK_MIN_ROWS = 10_000


def fk_bypass_allowed(cur: psycopg.Cursor[Any]) -> bool:
    """Whether this role may set ``session_replication_role`` (superuser, or granted on PG 15+)."""
    cur.execute("SELECT current_setting('is_superuser') = 'on', current_setting('server_version_num')::int")
    row = cur.fetchone()
    assert row is not None
    superuser, version = row
    if superuser:
        return True
    if version >= 150000:
        cur.execute("SELECT has_parameter_privilege('session_replication_role', 'SET')")
        granted = cur.fetchone()
        return bool(granted and granted[0])
    return False


def fk_rows_lock(cur: psycopg.Cursor[Any], *, table: str, ids_query: str, params: Sequence[Any] = ()) -> int:
    """Lock (FOR KEY SHARE) the rows of ``table`` whose ids ``ids_query`` yields; returns how many are missing.

    This is what PostgreSQL's per-row foreign-key triggers do, in one statement: the
    referenced rows must exist and cannot be deleted before this transaction ends.
    """
    cur.execute(
        f"""WITH wanted AS (SELECT DISTINCT id FROM ({ids_query}) q (id) WHERE id IS NOT NULL),
                 locked AS (SELECT t.id FROM {_ident(table)} t WHERE t.id IN (SELECT id FROM wanted) FOR KEY SHARE)
            SELECT (SELECT count(*) FROM wanted) - (SELECT count(*) FROM locked)""",
        params or None,
    )
    row = cur.fetchone()
    assert row is not None
    return int(row[0])


class SetBasedForeignKeys:
    """Run big INSERTs without PostgreSQL's per-row foreign-key triggers, checking them set-based.

    Each inserted row normally fires one trigger per foreign key at commit (a lookup and
    a row lock each): for a 1M-row import that is most of the time. When the caller has
    locked every referenced row with ``fk_rows_lock`` (same guarantees), the inserts run
    with ``session_replication_role = replica`` (triggers off, as pg_restore does) for
    this block only. Without the privilege, or for small writes, nothing changes: the
    triggers run as usual. ``active`` says which way it went.
    """

    def __init__(self, cur: psycopg.Cursor[Any], *, rows: int) -> None:
        self.cur = cur
        self.active = rows >= SET_BASED_FK_MIN_ROWS and fk_bypass_allowed(cur)

    def __enter__(self) -> SetBasedForeignKeys:
        if self.active:
            self.cur.execute("SET LOCAL session_replication_role = replica")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.active and exc[0] is None:
            self.cur.execute("SET LOCAL session_replication_role = origin")
