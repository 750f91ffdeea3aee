"""``labelloop.py test``: ruff, mypy, a migrations check and pytest, then a summary.

Standard library only at import time; the embedded servers are imported inside
``run_tests``, which runs in the virtualenv.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from launcher.common import REPO, data_dir_default, manage, say, static_root_ensure

PYTEST_NO_TESTS = 5


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
            [str(python), "-m", "mypy", "launcher", "annotator", "training", "labelloop.py"],
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
