"""Child processes, ports, pid files and the data-folder lock shared by the embedded servers."""

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
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# One logger for the whole package, named as before the split.
logger = logging.getLogger("annotator.embedded")

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
