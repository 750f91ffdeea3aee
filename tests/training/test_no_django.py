"""training/ is pure PyTorch: no module imports Django, directly or through another module."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "training"


def _imported_names(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
            "import_module",
            "__import__",
        ):
            names += [arg.value for arg in node.args if isinstance(arg, ast.Constant) and isinstance(arg.value, str)]
    return names


def test_no_source_file_imports_django() -> None:
    offenders = {
        str(path.relative_to(REPO)): name
        for path in sorted(PACKAGE.rglob("*.py"))
        for name in _imported_names(path)
        if name == "django" or name.startswith("django.") or name.startswith("annotator")
    }
    assert not offenders


def test_importing_every_module_loads_no_django() -> None:
    modules = sorted(
        "training" if path.name == "__init__.py" else f"training.{path.stem}"
        for path in PACKAGE.glob("*.py")
        if path.name != "__main__.py"
    )
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "import training.__main__\n"
        "bad = sorted(m for m in sys.modules if m == 'django' or m.startswith(('django.', 'annotator')))\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
