"""``labelloop.py run``: embedded servers, migrate, demo data, then web, worker and beat until stopped.

Standard library only at import time; the embedded servers and Django are imported inside
the methods, which run in the virtualenv.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from launcher.common import REPO, data_dir_default, manage, say, secret_key_file, static_root_ensure

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_DEMO_IMAGES = 1500
# The Celery queues; the production compose file splits them over two workers.
CELERY_QUEUES = ("celery", "gpu")
# Environment variables the run command sets for its children (the compose file sets the same).
CHILD_ENV_NAMES = ("DATABASE_URL", "REDIS_URL", "SECRET_KEY_FILE", "DEBUG", "LABELLOOP_DATA_DIR")
# How long each child gets to stop after SIGTERM before the next signal.
STOP_GRACE_S = {"web": 10.0, "worker": 15.0, "beat": 5.0}


def child_commands(
    python: Path, *, host: str, port: int, web_workers: int, reload: bool = False
) -> dict[str, list[str]]:
    """The three long-running children of ``run``: the same programs the compose file runs."""
    web = [
        str(python),
        "-m",
        "gunicorn",
        "annotator.wsgi:application",
        "--bind",
        f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "--workers",
        str(web_workers),
        "--threads",
        "4",
        "--timeout",
        "120",
        "--graceful-timeout",
        str(int(STOP_GRACE_S["web"])),
        "--access-logfile",
        "-",
    ]
    if reload:
        web.append("--reload")
    celery = [str(python), "-m", "celery", "-A", "annotator"]
    # One solo worker takes both queues, so training jobs run here too (on the CPU when there is no GPU).
    worker = [
        *celery,
        "worker",
        "-Q",
        ",".join(CELERY_QUEUES),
        "--pool=solo",
        "--concurrency",
        "1",
        "--loglevel",
        "INFO",
        "-n",
        "labelloop@%h",
    ]
    beat = [*celery, "beat", "--loglevel", "INFO"]
    return {"web": web, "worker": worker, "beat": beat}


class ShutdownRequested(BaseException):
    """Raised in the main thread by SIGINT / SIGTERM; a BaseException, like KeyboardInterrupt."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise ShutdownRequested(signum)


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]


class Supervisor:
    """Starts the embedded servers and the children, and stops them all in order."""

    def __init__(self, args: argparse.Namespace) -> None:
        from annotator.embedded import EmbeddedServices

        self.args = args
        self.python = Path(sys.executable)
        self.data_dir = data_dir_default()
        self.env = dict(os.environ)
        self.env["LABELLOOP_DATA_DIR"] = str(self.data_dir)
        self.env.setdefault("DEBUG", "1")
        self.env["PYTHONUNBUFFERED"] = "1"
        if not self.env.get("SECRET_KEY") and not self.env.get("SECRET_KEY_FILE"):
            self.env["SECRET_KEY_FILE"] = str(secret_key_file(self.data_dir))
        self.debug = self.env["DEBUG"].strip().lower() in ("1", "true", "yes", "on")
        if not self.debug:
            self.env.setdefault("SESSION_COOKIE_SECURE", "0")  # plain http on this machine
            self.env.setdefault("CSRF_COOKIE_SECURE", "0")
        if "ALLOWED_HOSTS" not in self.env:
            if args.host in ("0.0.0.0", "::"):
                say("listening on every interface: set ALLOWED_HOSTS to the names clients use for this machine")
            elif args.host not in ("127.0.0.1", "localhost", "::1"):
                self.env["ALLOWED_HOSTS"] = f"{args.host},127.0.0.1,localhost"
        static_root_ensure(self.env, self.data_dir)
        self.services = EmbeddedServices.for_environment(self.data_dir, self.env)
        self.children: list[Child] = []

    def foreground(self, name: str, command: list[str]) -> None:
        """Run one step to completion (migrate, load_demo); a failure stops the start-up."""
        from annotator.embedded import popen_child, stop_process

        process = popen_child(command, env=self.env, cwd=REPO)
        try:
            code = process.wait()
        except ShutdownRequested:
            stop_process(process, timeout=10, name=name)
            raise
        if code != 0:
            raise RuntimeError(f"{name} failed with exit status {code}")

    def start_children(self) -> None:
        from annotator.embedded import popen_child

        commands = child_commands(
            self.python,
            host=self.args.host,
            port=self.args.port,
            web_workers=self.args.web_workers,
            reload=self.args.reload,
        )
        for name, command in commands.items():
            self.children.append(Child(name, popen_child(command, env=self.env, cwd=REPO)))

    def wait_for_web(self, timeout: float = 120.0) -> None:
        host = "127.0.0.1" if self.args.host in ("0.0.0.0", "::") else self.args.host
        url = f"http://{f'[{host}]' if ':' in host else host}:{self.args.port}/healthz"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_children()
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        raise RuntimeError(f"the web server did not answer {url} within {timeout:.0f} s")

    def check_children(self) -> None:
        for child in self.children:
            code = child.process.poll()
            if code is not None:
                raise RuntimeError(f"{child.name} (pid {child.process.pid}) exited with status {code}")

    def demo_credentials(self) -> list[tuple[str, str, str]]:
        """(username, role, password) of the demo users, read from the code that creates them."""
        os.environ.update({k: self.env[k] for k in ("DATABASE_URL", "REDIS_URL", "DEBUG") if k in self.env})
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotator.settings")
        import django

        django.setup()
        from annotator.accounts.services import DEMO_USERS

        return [(user.username, str(user.role), user.password) for user in DEMO_USERS]

    def process_ids(self) -> list[tuple[str, int]]:
        """(name, pid) of every process this command started, embedded servers included."""
        ids = [(child.name, child.process.pid) for child in self.children]
        for name, server in (("postgres", self.services.postgres), ("redis", self.services.redis)):
            if server is not None and server.process is not None:
                ids.append((name, server.process.pid))
        return ids

    def banner(self, credentials: list[tuple[str, str, str]]) -> None:
        shown_host = "127.0.0.1" if self.args.host in ("0.0.0.0", "::") else self.args.host
        lines = [
            "",
            f"LabelLoop is running at http://{shown_host}:{self.args.port}/  (Ctrl-C stops everything)",
            f"  data folder: {self.data_dir}",
            f"  database:    {self.env['DATABASE_URL']}{'  (embedded)' if self.services.postgres else ''}",
            f"  redis:       {self.env['REDIS_URL']}{'  (embedded)' if self.services.redis else ''}",
            "  processes:   " + ", ".join(f"{name} {pid}" for name, pid in self.process_ids()),
        ]
        if credentials:
            lines.append("  demo users (a password changed since keeps its new value):")
            lines += [f"    {name:<10} {role:<10} password: {password}" for name, role, password in credentials]
        print("\n".join(lines) + "\n", flush=True)

    def stop_all(self) -> None:
        """Web first (no new work), then beat and the worker, then Redis and PostgreSQL."""
        from annotator.embedded import stop_process

        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        order = {"web": 0, "beat": 1, "worker": 2}
        for child in sorted(self.children, key=lambda c: order.get(c.name, 9)):
            grace = STOP_GRACE_S.get(child.name, 10.0)
            if child.name == "worker" and child.process.poll() is None:
                # SIGTERM lets the current task finish; after the grace a cold shutdown (SIGQUIT)
                # gives it back to the queue (acks_late), and it runs again on the next start.
                child.process.send_signal(signal.SIGTERM)
                try:
                    child.process.wait(grace)
                except subprocess.TimeoutExpired:
                    say("the worker is still busy: cold shutdown, its task goes back to the queue")
                    stop_process(child.process, sig=signal.SIGQUIT, timeout=10, name=child.name)
            else:
                stop_process(child.process, timeout=grace, name=child.name)
        self.children.clear()
        self.services.stop()

    def run(self) -> int:
        signal.signal(signal.SIGINT, _raise_stop)
        signal.signal(signal.SIGTERM, _raise_stop)
        started = time.monotonic()
        try:
            try:
                urls = self.services.start()
            except ShutdownRequested:
                raise
            except Exception as exc:
                say(f"cannot start the embedded servers: {exc}")
                return 1
            self.env.update(urls)
            for name, url in urls.items():
                say(f"embedded {name.split('_')[0].lower()}: {url}")
            self.foreground("migrate", manage(self.python, "migrate", "--noinput"))
            if not self.debug:
                self.foreground("collectstatic", manage(self.python, "collectstatic", "--noinput"))
            credentials: list[tuple[str, str, str]] = []
            if self.debug and not self.args.no_demo:
                command = manage(self.python, "load_demo", "--images", str(self.args.demo_images))
                self.foreground("load_demo", command)
                credentials = self.demo_credentials()
            elif not self.debug:
                say("DEBUG is off: no demo data and no demo users")
            self.start_children()
            self.wait_for_web()
            say(f"ready in {time.monotonic() - started:.1f} s")
            self.banner(credentials)
            while True:
                self.check_children()
                time.sleep(0.5)
        except ShutdownRequested as stop:
            say(f"{stop}: stopping web, beat, worker and the embedded servers")
            self.stop_all()
            say("stopped")
            return 0
        except RuntimeError as exc:
            say(f"{exc}; stopping everything")
            self.stop_all()
            return 1
        except BaseException:
            self.stop_all()
            raise
