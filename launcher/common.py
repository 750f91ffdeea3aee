"""Paths and small helpers shared by the run and test commands (standard library only)."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from typing import NoReturn

REPO = Path(__file__).resolve().parent.parent
# The entry point; the venv bootstrap re-runs it under another interpreter.
ENTRY_POINT = REPO / "labelloop.py"


def say(message: str) -> None:
    """One line from the supervisor, set apart from its children's logs."""
    print(f"labelloop: {message}", flush=True)


def fail(message: str, code: int = 2) -> NoReturn:
    print(f"labelloop: error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(code)


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
