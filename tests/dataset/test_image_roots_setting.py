"""In production, imports read images only below LABELLOOP_IMAGE_ROOTS: an empty list is
refused at start-up unless DEBUG is on (development, tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent
PRODUCTION = {"SECRET_KEY": "x" * 50, "DATABASE_URL": "postgresql://u@db:5432/labelloop"}


def load_settings(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Import the settings in a fresh interpreter with exactly ``env`` (plus PATH)."""
    return subprocess.run(
        [sys.executable, "-c", "import annotator.settings as s; print(s.DEBUG, *s.IMAGE_ROOTS)"],
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO), **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("roots", [None, "", " , "])
def test_production_without_image_roots_fails_at_start_up(roots):
    env = dict(PRODUCTION) if roots is None else {**PRODUCTION, "LABELLOOP_IMAGE_ROOTS": roots}
    result = load_settings(env)
    assert result.returncode != 0
    assert "ImproperlyConfigured: LABELLOOP_IMAGE_ROOTS must list the folders imports may read" in result.stderr


def test_production_with_image_roots_starts(tmp_path):
    result = load_settings({**PRODUCTION, "LABELLOOP_IMAGE_ROOTS": f"{tmp_path},/images"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", str(tmp_path.resolve()), "/images"]


def test_debug_may_leave_image_roots_empty():
    result = load_settings({"DEBUG": "1", "DATABASE_URL": PRODUCTION["DATABASE_URL"]})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True"]
