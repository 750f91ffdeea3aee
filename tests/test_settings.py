"""Settings from the environment: the typed readers, loud failures, .env.example, static files."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from annotator.env import env_bool, env_float, env_int, env_list, env_secret, env_str

REPO = Path(__file__).resolve().parent.parent
SETTINGS = REPO / "annotator" / "settings.py"
ENV_EXAMPLE = REPO / ".env.example"
_READ = re.compile(r"""env_(?:str|bool|int|float|list|secret)\(\s*["']([A-Z][A-Z0-9_]*)["']""")


# --------------------------------------------------------------------------- the readers


@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("yes", True), (" ON ", True), ("0", False), ("", False)])
def test_env_bool_reads_common_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("LL_FLAG", raw)
    assert env_bool("LL_FLAG") is expected


def test_env_bool_default_when_unset(monkeypatch):
    monkeypatch.delenv("LL_FLAG", raising=False)
    assert env_bool("LL_FLAG", True) is True


def test_env_bool_rejects_anything_else_naming_the_variable(monkeypatch):
    monkeypatch.setenv("LL_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="LL_FLAG='maybe'"):
        env_bool("LL_FLAG")


def test_env_int_parses_defaults_and_checks_minimum(monkeypatch):
    monkeypatch.setenv("LL_N", "42")
    assert env_int("LL_N", 1) == 42
    monkeypatch.setenv("LL_N", " ")
    assert env_int("LL_N", 7) == 7
    monkeypatch.setenv("LL_N", "0")
    with pytest.raises(ImproperlyConfigured, match="LL_N=0 must be at least 1"):
        env_int("LL_N", 5, minimum=1)
    monkeypatch.setenv("LL_N", "4.5")
    with pytest.raises(ImproperlyConfigured, match="LL_N='4.5' is not an integer"):
        env_int("LL_N", 5)


def test_env_float_parses_and_rejects(monkeypatch):
    monkeypatch.setenv("LL_X", "0.25")
    assert env_float("LL_X", 0.1) == 0.25
    monkeypatch.setenv("LL_X", "a quarter")
    with pytest.raises(ImproperlyConfigured, match="LL_X"):
        env_float("LL_X", 0.1)


def test_env_list_splits_on_commas_and_drops_blanks(monkeypatch):
    monkeypatch.setenv("LL_L", " a.example, ,b.example ,")
    assert env_list("LL_L", []) == ["a.example", "b.example"]
    monkeypatch.delenv("LL_L")
    assert env_list("LL_L", ["x"]) == ["x"]


def test_env_str_default(monkeypatch):
    monkeypatch.delenv("LL_S", raising=False)
    assert env_str("LL_S", "d") == "d"


def test_env_secret_prefers_the_file_variant(monkeypatch, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("from-file\n")
    monkeypatch.setenv("LL_SECRET", "from-env")
    monkeypatch.setenv("LL_SECRET_FILE", str(secret))
    assert env_secret("LL_SECRET") == "from-file"
    monkeypatch.delenv("LL_SECRET_FILE")
    assert env_secret("LL_SECRET") == "from-env"


def test_env_secret_missing_or_unreadable_fails_loudly(monkeypatch, tmp_path):
    monkeypatch.delenv("LL_SECRET", raising=False)
    monkeypatch.delenv("LL_SECRET_FILE", raising=False)
    with pytest.raises(ImproperlyConfigured, match="LL_SECRET \\(or LL_SECRET_FILE\\) must be set"):
        env_secret("LL_SECRET")
    assert env_secret("LL_SECRET", "fallback") == "fallback"
    monkeypatch.setenv("LL_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="LL_SECRET_FILE="):
        env_secret("LL_SECRET")


# --------------------------------------------------------------------------- settings at start-up


def _load_settings(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Import the settings in a fresh interpreter with exactly ``env`` (plus PATH)."""
    clean = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO), **env}
    return subprocess.run(
        [sys.executable, "-c", "import annotator.settings as s; print(s.DEBUG, s.DATABASES['default']['NAME'])"],
        env=clean,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_settings_load_with_the_minimum_production_environment():
    result = _load_settings(
        {"SECRET_KEY": "x" * 50, "DATABASE_URL": "postgresql://u@db:5432/labelloop", "LABELLOOP_IMAGE_ROOTS": "/images"}
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "labelloop"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DATABASE_URL": "postgresql://u@db/x"}, "SECRET_KEY (or SECRET_KEY_FILE) must be set"),
        ({"DEBUG": "1"}, "DATABASE_URL must be set"),
        ({"DEBUG": "1", "DATABASE_URL": "sqlite:///x.db"}, "DATABASE_URL must point at PostgreSQL"),
        ({"DEBUG": "sometimes", "DATABASE_URL": "postgresql://u@db/x"}, "DEBUG='sometimes' is not a boolean"),
        ({"DEBUG": "1", "DATABASE_URL": "postgresql://u@db/x", "LABELLOOP_VAL_FRACTION": "2"}, "between 0 and 1"),
        ({"DEBUG": "1", "DATABASE_URL": "postgresql://u@db/x", "CELERY_TASK_TIME_LIMIT": "0"}, "at least 1"),
    ],
)
def test_bad_configuration_fails_at_start_up_naming_the_variable(env, message):
    result = _load_settings(env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


# --------------------------------------------------------------------------- .env.example


def _variables_read_by_settings() -> set[str]:
    names = set(_READ.findall(SETTINGS.read_text(encoding="utf-8")))
    # env_secret("X") also reads X_FILE.
    names |= {f"{name}_FILE" for name in re.findall(r"""env_secret\(\s*["']([A-Z0-9_]+)["']""", SETTINGS.read_text())}
    return names


def _variables_in_env_example() -> set[str]:
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE)) | set(
        re.findall(r"\b([A-Z][A-Z0-9_]*_FILE)=", text)
    )


def test_env_example_lists_every_variable_settings_read():
    missing = _variables_read_by_settings() - _variables_in_env_example()
    assert not missing, f".env.example lacks {sorted(missing)}"


def test_env_example_documents_each_variable_with_a_comment():
    """Every assignment sits under a comment (a few related variables may share one)."""
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    assignment = re.compile(r"^#?\s*[A-Z][A-Z0-9_]*=")
    for index, line in enumerate(lines):
        if not re.match(r"^[A-Z][A-Z0-9_]*=", line):
            continue
        above = index - 1
        while above >= 0 and assignment.match(lines[above]):
            above -= 1
        assert above >= 0 and lines[above].startswith("#"), f".env.example line {index + 1} ({line}) has no comment"


# --------------------------------------------------------------------------- static files in production


@pytest.mark.slow
def test_collectstatic_builds_the_production_manifest(tmp_path):
    """DEBUG=0 serves hashed files from a manifest; a template or CSS naming a missing file fails here."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DEBUG": "0",
        "LABELLOOP_IMAGE_ROOTS": "/images",
        "SECRET_KEY": "collectstatic-test",
        "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
        "STATIC_ROOT": str(tmp_path / "static"),
        "LABELLOOP_DATA_DIR": str(tmp_path / "data"),
    }
    result = subprocess.run(
        [sys.executable, str(REPO / "manage.py"), "collectstatic", "--noinput"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "static" / "staticfiles.json").is_file()
    assert list((tmp_path / "static" / "css").glob("app.*.css")), "app.css was not hashed"
