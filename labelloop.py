#!/usr/bin/env python3
"""LabelLoop's two commands: ``python3 labelloop.py run`` and ``python3 labelloop.py test``.

Both need only Python 3.11+ and a C compiler on the machine. They create a virtualenv in
``.venv`` (or ``$LABELLOOP_VENV``) when it is missing, install the pinned requirements
into it when the requirement files changed since the last install (their hash is kept
in the venv), and re-run themselves inside it.

``run``: when ``DATABASE_URL`` / ``REDIS_URL`` are not set, starts an embedded PostgreSQL
and Redis under the data folder (``LABELLOOP_DATA_DIR``, default ``./var``); migrates;
on the first start loads the demo dataset and the demo users; then runs the web server
(gunicorn), a Celery worker (queues ``celery`` and ``gpu``, ``--pool=solo``) and Celery
beat as child processes until Ctrl-C or SIGTERM, which stops them all, servers included.

``test [pytest args]``: ruff (lint and format), mypy, a migrations check and pytest, against
``DATABASE_URL`` / ``REDIS_URL`` when set and embedded servers (``<data dir>/test-services``)
otherwise. Exits non-zero when any step fails; pytest collecting no tests is a failure.

Until it runs inside the venv this file uses the standard library only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

REPO = Path(__file__).resolve().parent
MIN_PYTHON = (3, 11)
RUN_REQUIREMENTS = "requirements.txt"
TEST_REQUIREMENTS = "requirements-dev.txt"
STAMP_NAME = "labelloop-requirements.json"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_DEMO_IMAGES = 1500
# The Celery queues; the production compose file splits them over two workers.
CELERY_QUEUES = ("celery", "gpu")
# Environment variables the run command sets for its children (the compose file sets the same).
CHILD_ENV_NAMES = ("DATABASE_URL", "REDIS_URL", "SECRET_KEY_FILE", "DEBUG", "LABELLOOP_DATA_DIR")
# How long each child gets to stop after SIGTERM before the next signal.
STOP_GRACE_S = {"web": 10.0, "worker": 15.0, "beat": 5.0}
PYTEST_NO_TESTS = 5


def say(message: str) -> None:
    """One line from the supervisor, set apart from its children's logs."""
    print(f"labelloop: {message}", flush=True)


def fail(message: str, code: int = 2) -> NoReturn:
    print(f"labelloop: error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(code)


# --------------------------------------------------------------------------- virtualenv


def venv_dir() -> Path:
    return Path(os.environ.get("LABELLOOP_VENV") or REPO / ".venv").absolute()


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def inside_venv(venv: Path) -> bool:
    return Path(sys.prefix).resolve() == venv.resolve()


def requirement_files(name: str, seen: set[Path] | None = None) -> list[Path]:
    """``name`` and every file it pulls in with ``-r`` / ``--requirement``, in order."""
    path = (REPO / name).resolve()
    seen = set() if seen is None else seen
    if path in seen:
        return []
    seen.add(path)
    files = [path]
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("#", 1)[0].split()
        if len(parts) == 2 and parts[0] in ("-r", "--requirement"):
            files.extend(requirement_files(str(path.parent.joinpath(parts[1]).relative_to(REPO)), seen))
    return files


def requirements_hash(name: str) -> str:
    digest = hashlib.sha256()
    for path in requirement_files(name):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def read_stamp(venv: Path) -> dict[str, str]:
    try:
        data = json.loads((venv / STAMP_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def venv_ensure(requirements: str) -> Path:
    """Create the venv when missing and install ``requirements`` when its hash changed."""
    venv = venv_dir()
    python = venv_python(venv)
    if not python.exists():
        say(f"creating a virtualenv in {venv}")
        result = subprocess.run([sys.executable, "-m", "venv", str(venv)])
        if result.returncode != 0 or not python.exists():
            fail(
                f"'{sys.executable} -m venv {venv}' failed. On Debian/Ubuntu install the venv module "
                "(apt-get install python3-venv), then run this command again"
            )
    stamp = read_stamp(venv)
    wanted = requirements_hash(requirements)
    if stamp.get(requirements) == wanted:
        return python
    say(f"installing {requirements} into {venv} (the first time takes a few minutes)")
    started = time.monotonic()
    result = subprocess.run(
        [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-r", str(REPO / requirements)]
    )
    if result.returncode != 0:
        fail(f"pip install -r {requirements} failed (exit {result.returncode}); see the pip output above")
    # Every file the install covered is now satisfied (requirements-dev.txt includes requirements.txt).
    for path in requirement_files(requirements):
        stamp[path.name] = requirements_hash(path.name)
    (venv / STAMP_NAME).write_text(json.dumps(stamp, indent=2) + "\n", encoding="utf-8")
    say(f"installed {requirements} in {time.monotonic() - started:.0f} s")
    return python


def python_ensure() -> None:
    """Re-run under a newer python3.X from PATH when this interpreter is too old."""
    if sys.version_info >= MIN_PYTHON:
        return
    for minor in range(14, MIN_PYTHON[1] - 1, -1):
        candidate = shutil.which(f"python3.{minor}")
        if candidate:
            os.execv(candidate, [candidate, str(Path(__file__).resolve()), *sys.argv[1:]])
    fail(f"LabelLoop needs Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer; this is {sys.version.split()[0]}")


def reexec_in_venv(requirements: str) -> None:
    """Make sure the venv is ready and continue this command inside it."""
    venv = venv_dir()
    python = venv_ensure(requirements)
    if inside_venv(venv):
        return
    if os.environ.get("LABELLOOP_REEXEC") == str(venv):
        fail(f"re-running inside {venv} did not switch interpreters (sys.prefix is {sys.prefix})")
    os.environ["LABELLOOP_REEXEC"] = str(venv)
    os.execv(str(python), [str(python), str(Path(__file__).resolve()), *sys.argv[1:]])


# --------------------------------------------------------------------------- shared helpers


def data_dir_default() -> Path:
    return Path(os.environ.get("LABELLOOP_DATA_DIR") or REPO / "var").resolve()


def secret_key_file(data_dir: Path) -> Path:
    """A SECRET_KEY generated on the first start and kept (mode 0600) so sessions survive restarts."""
    path = data_dir / "secret_key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(secrets.token_urlsafe(50) + "\n")
    return path


def static_root_ensure(env: dict[str, str], data_dir: Path) -> None:
    """Create the default STATIC_ROOT: whitenoise warns on every request when it is missing."""
    if not env.get("STATIC_ROOT"):
        (data_dir / "staticfiles").mkdir(parents=True, exist_ok=True)


def manage(python: Path, *args: str) -> list[str]:
    return [str(python), str(REPO / "manage.py"), *args]


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


# --------------------------------------------------------------------------- run


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


# --------------------------------------------------------------------------- test


@dataclass
class Step:
    name: str
    command: list[str]
    needs_services: bool = False
    # Variables set only when the environment lacks them.
    env_defaults: dict[str, str] = field(default_factory=dict)


def test_steps(python: Path, pytest_args: Sequence[str]) -> list[Step]:
    """What ``test`` runs, in order: the cheap static checks first, then the suite."""
    bin_dir = python.parent
    return [
        Step("ruff check", [str(bin_dir / "ruff"), "check", "."]),
        Step("ruff format", [str(bin_dir / "ruff"), "format", "--check", "."]),
        Step(
            "mypy",
            [str(python), "-m", "mypy", "annotator", "training", "labelloop.py"],
            # The django-stubs plugin imports the settings, which insist on a database URL;
            # mypy never connects, so the servers need not be up yet.
            env_defaults={"DATABASE_URL": "postgresql://mypy@127.0.0.1:1/unused"},
        ),
        Step("migrations", manage(python, "makemigrations", "--check", "--dry-run"), needs_services=True),
        Step("pytest", [str(python), "-m", "pytest", *pytest_args], needs_services=True),
    ]


def run_tests(pytest_args: Sequence[str]) -> int:
    """Run every step (a failure does not skip the rest) and summarise; non-zero if any failed."""
    from annotator.embedded import EmbeddedServices

    python = Path(sys.executable)
    env = dict(os.environ)
    # Settings load as in development: DEBUG (Django's test runner turns it off while tests
    # run), a throw-away SECRET_KEY, and a fresh data folder that the suite may write into.
    env.setdefault("DEBUG", "1")
    if not env.get("SECRET_KEY") and not env.get("SECRET_KEY_FILE"):
        env["SECRET_KEY"] = secrets.token_urlsafe(50)
    env["PYTHONUNBUFFERED"] = "1"
    test_data = Path(tempfile.mkdtemp(prefix="labelloop-test-data-"))
    env["LABELLOOP_DATA_DIR"] = str(test_data)
    static_root_ensure(env, test_data)
    services = EmbeddedServices.for_environment(data_dir_default() / "test-services", env)
    results: list[tuple[str, int, float]] = []
    started_services = False
    try:
        for step in test_steps(python, pytest_args):
            if step.needs_services and not started_services:
                started_services = True
                try:
                    env.update(services.start())
                except Exception as exc:
                    say(f"cannot start the embedded servers: {exc}")
                    results.append(("embedded servers", 1, 0.0))
                    break
                say(f"database {env.get('DATABASE_URL')}, redis {env.get('REDIS_URL')}")
            say(f"$ {' '.join(step.command)}")
            step_started = time.monotonic()
            code = subprocess.run(step.command, env={**step.env_defaults, **env}, cwd=REPO).returncode
            results.append((step.name, code, time.monotonic() - step_started))
    except KeyboardInterrupt:
        say("interrupted")
        results.append(("interrupted", 130, 0.0))
    finally:
        if started_services:
            services.stop()
        shutil.rmtree(test_data, ignore_errors=True)
    return summarise(results)


def summarise(results: Sequence[tuple[str, int, float]]) -> int:
    """Print one line per step; 1 when any step failed (pytest's 5, "no tests collected", included)."""
    failed = not results
    print("\nlabelloop test summary:", flush=True)
    for name, code, seconds in results:
        if code == 0:
            verdict = "ok"
        elif name == "pytest" and code == PYTEST_NO_TESTS:
            verdict = "FAILED (no tests collected)"
        else:
            verdict = f"FAILED (exit {code})"
        failed = failed or code != 0
        print(f"  {name:<16} {verdict:<28} {seconds:6.1f} s", flush=True)
    return 1 if failed else 0


# --------------------------------------------------------------------------- entry point


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python3 labelloop.py", description="Run LabelLoop on this machine, or test it.")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run LabelLoop on this machine (web, worker, beat; embedded servers)")
    run.add_argument("--host", default=DEFAULT_HOST, help=f"address the web server binds (default {DEFAULT_HOST})")
    run.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"web server port (default {DEFAULT_PORT})")
    run.add_argument("--web-workers", type=int, default=2, help="gunicorn worker processes (default 2)")
    run.add_argument("--reload", action="store_true", help="restart the web server when code changes")
    run.add_argument(
        "--demo-images",
        type=int,
        default=DEFAULT_DEMO_IMAGES,
        help=f"size of the demo dataset loaded on the first start (default {DEFAULT_DEMO_IMAGES})",
    )
    run.add_argument("--no-demo", action="store_true", help="do not load the demo data or create the demo users")
    test = sub.add_parser("test", help="ruff, mypy, migrations check and pytest; arguments after 'test' go to pytest")
    test.add_argument("pytest_args", nargs=argparse.REMAINDER, help="passed to pytest unchanged")
    return p


def main(argv: list[str]) -> int:
    # Split by hand so that pytest options (-k, -x, --lf) are never read as ours.
    if argv[:1] == ["test"]:
        command, rest = "test", argv[1:]
        if rest[:1] == ["--"]:
            rest = rest[1:]
        args: Any = argparse.Namespace(command="test", pytest_args=rest)
    else:
        args = parser().parse_args(argv)
        command = args.command
    python_ensure()
    reexec_in_venv(TEST_REQUIREMENTS if command == "test" else RUN_REQUIREMENTS)
    sys.path.insert(0, str(REPO))
    if command == "test":
        return run_tests(args.pytest_args)
    return Supervisor(args).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
