"""The servers a command needs, started and stopped together under one data-folder lock."""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

from annotator.embedded.postgres import EmbeddedPostgres
from annotator.embedded.process import DataDirLock
from annotator.embedded.redis import EmbeddedRedis


class EmbeddedServices:
    """The servers a command needs that the environment does not already name.

    ``start`` returns the environment variables to hand to children (``DATABASE_URL``,
    ``REDIS_URL``); ``stop`` stops in reverse order and releases the data folder.
    """

    def __init__(self, data_dir: Path, *, postgres: bool = True, redis: bool = True) -> None:
        self.data_dir = data_dir.resolve()
        self.lock = DataDirLock(self.data_dir)
        self.postgres = EmbeddedPostgres(self.data_dir) if postgres else None
        self.redis = EmbeddedRedis(self.data_dir) if redis else None

    @classmethod
    def for_environment(cls, data_dir: Path, environ: dict[str, str] | None = None) -> EmbeddedServices:
        """Embed each server whose URL is not set in ``environ`` (default: os.environ)."""
        env = os.environ if environ is None else environ
        return cls(data_dir, postgres=not env.get("DATABASE_URL"), redis=not env.get("REDIS_URL"))

    @property
    def needed(self) -> bool:
        return self.postgres is not None or self.redis is not None

    def start(self) -> dict[str, str]:
        if not self.needed:
            return {}
        self.lock.acquire()
        env: dict[str, str] = {}
        try:
            if self.postgres is not None:
                env["DATABASE_URL"] = self.postgres.start()
            if self.redis is not None:
                env["REDIS_URL"] = self.redis.start()
        except BaseException:
            self.stop()
            raise
        return env

    def stop(self) -> None:
        try:
            if self.redis is not None:
                self.redis.stop()
            if self.postgres is not None:
                self.postgres.stop()
        finally:
            self.lock.release()

    def pids(self) -> list[int]:
        """Pids of the running servers (for tests and the start-up banner)."""
        return [
            server.process.pid
            for server in (self.postgres, self.redis)
            if server is not None and server.process is not None and server.process.poll() is None
        ]

    def __enter__(self) -> dict[str, str]:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
