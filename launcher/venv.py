"""The virtualenv bootstrap: create ``.venv``, install the pinned requirements, re-run inside it.

Standard library only: this runs before the virtualenv exists.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from launcher.common import ENTRY_POINT, REPO, fail, say

MIN_PYTHON = (3, 11)
RUN_REQUIREMENTS = "requirements.txt"
TEST_REQUIREMENTS = "requirements-dev.txt"
STAMP_NAME = "labelloop-requirements.json"


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
            os.execv(candidate, [candidate, str(ENTRY_POINT), *sys.argv[1:]])
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
    os.execv(str(python), [str(python), str(ENTRY_POINT), *sys.argv[1:]])
