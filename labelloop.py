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

Until it runs inside the venv this file, and the ``launcher`` package next to it that does
the work (``venv``, ``run``, ``test``), use the standard library only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent
# The launcher package sits next to this file; find it from any working directory.
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from launcher.run import DEFAULT_DEMO_IMAGES, DEFAULT_HOST, DEFAULT_PORT, Supervisor  # noqa: E402
from launcher.test import run_tests  # noqa: E402
from launcher.venv import RUN_REQUIREMENTS, TEST_REQUIREMENTS, python_ensure, reexec_in_venv  # noqa: E402


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
