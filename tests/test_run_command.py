"""The run and test commands: embedded servers for real, the venv stamp, compose agreement.

The end-to-end test starts ``labelloop.py run`` with a tiny demo, logs in over HTTP,
stops it with SIGINT, checks every process is gone, and starts it again.
"""

from __future__ import annotations

import http.cookiejar
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import psycopg
import pytest
import redis
import yaml

from annotator.embedded import EmbeddedServiceError, EmbeddedServices, free_port
from launcher import run as run_command
from launcher import test as test_command
from launcher import venv as venv_bootstrap

REPO = Path(__file__).resolve().parent.parent
COMPOSE = REPO / "docker-compose.yml"


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, exited but not reaped, counts as gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


@pytest.fixture
def services_dir(tmp_path):
    # As root, PostgreSQL runs as another account, which must be able to enter the folder.
    tmp_path.chmod(0o755)
    return tmp_path / "services"


# --------------------------------------------------------------------------- embedded servers


@pytest.mark.slow
def test_embedded_services_keep_their_data_across_a_restart(services_dir):
    first = EmbeddedServices(services_dir)
    env = first.start()
    try:
        assert env["DATABASE_URL"].startswith("postgresql://postgres@127.0.0.1:")
        assert env["REDIS_URL"].startswith("redis://127.0.0.1:")
        pids = first.pids()
        assert len(pids) == 2 and all(_alive(pid) for pid in pids)
        with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (value text)")
            conn.execute("INSERT INTO kept VALUES ('survives')")
        client = redis.Redis.from_url(env["REDIS_URL"])
        client.rpush("queued", "task-1")
        client.close()
        # One command at a time per data folder.
        with pytest.raises(EmbeddedServiceError, match="in use by another LabelLoop command"):
            EmbeddedServices(services_dir).start()
    finally:
        first.stop()
    assert not any(_alive(pid) for pid in pids)

    second = EmbeddedServices(services_dir)
    env = second.start()
    try:
        with psycopg.connect(env["DATABASE_URL"]) as conn:
            assert conn.execute("SELECT value FROM kept").fetchall() == [("survives",)]
        client = redis.Redis.from_url(env["REDIS_URL"])
        assert client.lrange("queued", 0, -1) == [b"task-1"]  # appendonly: the queue survived
        client.close()
    finally:
        second.stop()
    assert (services_dir / "redis" / "appendonly.aof").exists() or (services_dir / "redis" / "appendonlydir").exists()


def test_embedded_services_only_start_what_the_environment_lacks(tmp_path):
    both = EmbeddedServices.for_environment(tmp_path, {})
    assert both.postgres is not None and both.redis is not None
    none = EmbeddedServices.for_environment(tmp_path, {"DATABASE_URL": "postgresql://x/y", "REDIS_URL": "redis://z"})
    assert not none.needed and none.start() == {}
    redis_only = EmbeddedServices.for_environment(tmp_path, {"DATABASE_URL": "postgresql://x/y"})
    assert redis_only.postgres is None and redis_only.redis is not None


def test_free_port_is_bindable():
    import socket

    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


# --------------------------------------------------------------------------- venv bootstrap


def test_requirement_files_follow_includes():
    names = [path.name for path in venv_bootstrap.requirement_files("requirements-dev.txt")]
    assert names == ["requirements-dev.txt", "requirements.txt"]


def test_requirements_hash_changes_with_an_included_file(tmp_path, monkeypatch):
    (tmp_path / "requirements.txt").write_text("Django==5.2.19\n")
    (tmp_path / "requirements-dev.txt").write_text("-r requirements.txt\npytest==9.2.0\n")
    monkeypatch.setattr(venv_bootstrap, "REPO", tmp_path)
    before = venv_bootstrap.requirements_hash("requirements-dev.txt")
    assert before == venv_bootstrap.requirements_hash("requirements-dev.txt")
    (tmp_path / "requirements.txt").write_text("Django==5.2.20\n")
    assert venv_bootstrap.requirements_hash("requirements-dev.txt") != before


def test_venv_is_not_reinstalled_when_the_stamp_matches(tmp_path, monkeypatch):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("")
    stamp = {"requirements.txt": venv_bootstrap.requirements_hash("requirements.txt")}
    (venv / venv_bootstrap.STAMP_NAME).write_text(json.dumps(stamp))
    monkeypatch.setenv("LABELLOOP_VENV", str(venv))
    calls = []
    monkeypatch.setattr(venv_bootstrap.subprocess, "run", lambda *a, **k: calls.append(a))
    assert venv_bootstrap.venv_ensure("requirements.txt") == venv / "bin" / "python"
    assert calls == []


# --------------------------------------------------------------------------- test command


def test_summary_treats_no_tests_collected_as_failure(capsys):
    assert test_command.summarise([("ruff check", 0, 1.0), ("pytest", 0, 2.0)]) == 0
    assert test_command.summarise([("ruff check", 0, 1.0), ("pytest", 5, 2.0)]) == 1
    assert "no tests collected" in capsys.readouterr().out
    assert test_command.summarise([("mypy", 1, 1.0), ("pytest", 0, 2.0)]) == 1
    assert test_command.summarise([]) == 1


def test_test_steps_run_ruff_mypy_and_the_whole_suite():
    steps = {step.name: step for step in test_command.test_steps(Path("/venv/bin/python"), ["-k", "x"])}
    assert steps["ruff check"].command[-2:] == ["check", "."]
    assert steps["mypy"].command[-3:-1] == ["annotator", "training"]
    assert steps["pytest"].command[-3:] == ["pytest", "-k", "x"]
    assert steps["pytest"].needs_services and not steps["mypy"].needs_services


# --------------------------------------------------------------------------- load_demo


@pytest.mark.django_db(transaction=True)
def test_load_demo_loads_once_and_creates_the_demo_users(tmp_path, settings):
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from annotator.accounts.services import DEMO_USERS
    from annotator.dataset.models import Image, ImageLabel, ImportJob
    from annotator.taxonomy.models import Label

    settings.DATA_DIR = tmp_path
    out = io.StringIO()
    call_command("load_demo", "--images", "12", stdout=out)
    assert "12 images" in out.getvalue()
    assert Image.objects.count() == 12
    assert not Image.objects.filter(split="").exists()
    assert Label.objects.exists() and ImageLabel.objects.exists()
    assert (tmp_path / "demo" / "labels.csv").is_file()
    users = get_user_model().objects.filter(username__in=[u.username for u in DEMO_USERS])
    assert users.count() == len(DEMO_USERS)
    assert all(
        user.check_password(demo.password)
        for user, demo in zip(users.order_by("username"), sorted(DEMO_USERS, key=lambda d: d.username), strict=True)
    )

    labels_before = ImageLabel.objects.count()
    out = io.StringIO()
    call_command("load_demo", "--images", "12", stdout=out)
    assert "already loaded" in out.getvalue()
    assert Image.objects.count() == 12 and ImageLabel.objects.count() == labels_before
    assert ImportJob.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_load_demo_leaves_a_database_with_other_images_alone(tmp_path, settings):
    from django.core.management import call_command

    from annotator.dataset.models import Image

    settings.DATA_DIR = tmp_path
    Image.objects.create(
        content_hash="0" * 64, storage_root="/x", relative_path="a.jpg", size_bytes=1, width=1, height=1
    )
    out = io.StringIO()
    call_command("load_demo", "--images", "5", stdout=out)
    assert "not loaded" in out.getvalue()
    assert Image.objects.count() == 1
    assert not (tmp_path / "demo").exists()


# --------------------------------------------------------------------------- compose agrees with run


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def _option(command: list[str], *names: str) -> str | None:
    for index, part in enumerate(command):
        for name in names:
            if part == name:
                return command[index + 1]
            if part.startswith(name + "="):
                return part.split("=", 1)[1]
    return None


def test_compose_runs_the_processes_and_queues_of_the_run_command():
    services = _compose()["services"]
    run = run_command.child_commands(Path("python"), host="127.0.0.1", port=8000, web_workers=2)

    assert {"postgres", "redis", "web", "worker", "worker-gpu", "beat", "flower"} <= set(services)
    assert "annotator.wsgi:application" in services["web"]["command"] and "gunicorn" in run["web"][2:4]
    assert "annotator.wsgi:application" in run["web"]

    compose_queues: set[str] = set()
    for name in ("worker", "worker-gpu"):
        command = services[name]["command"]
        assert command[:4] == ["celery", "-A", "annotator", "worker"]
        compose_queues |= set(_option(command, "-Q", "--queues").split(","))
    assert compose_queues == set(run_command.CELERY_QUEUES)
    assert set(_option(run["worker"], "-Q", "--queues").split(",")) == compose_queues

    # Training runs in solo workers in both (CUDA and forked children do not mix).
    assert _option(services["worker-gpu"]["command"], "--pool") == "solo"
    assert _option(run["worker"], "--pool") == "solo"
    devices = services["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]

    assert services["beat"]["command"][:4] == ["celery", "-A", "annotator", "beat"]
    assert run["beat"][-4:-2] == ["annotator", "beat"]


def test_compose_gives_web_and_workers_the_same_environment_and_data_folder():
    services = _compose()["services"]
    app_services = ("web", "worker", "worker-gpu", "beat", "migrate")
    for name in app_services:
        env = services[name]["environment"]
        for variable in ("DATABASE_URL", "REDIS_URL", "LABELLOOP_DATA_DIR", "DEBUG"):
            assert variable in env, f"{name} lacks {variable}"
        assert env["LABELLOOP_DATA_DIR"] == "/data" and str(env["DEBUG"]) == "0"
        assert "labelloop-data:/data" in services[name]["volumes"]
    settings_text = (REPO / "annotator" / "settings.py").read_text(encoding="utf-8")
    # The variable names the run command hands its children are the ones settings read.
    for variable in run_command.CHILD_ENV_NAMES:
        base = variable.removesuffix("_FILE")
        assert f'"{base}"' in settings_text, f"settings never read {base}"
    for name in ("web", "worker", "worker-gpu", "flower"):
        assert "healthcheck" in services[name], f"{name} has no healthcheck"


def test_dockerfile_builds_static_files_and_drops_root():
    text = (REPO / "Dockerfile").read_text(encoding="utf-8")
    assert text.startswith("#") and "FROM python:3.11-slim" in text
    assert "pip install -r requirements.txt" in text
    assert "collectstatic --noinput" in text
    assert re.search(r"^USER (?!root)\w+", text, flags=re.MULTILINE)


# --------------------------------------------------------------------------- the run command, end to end


class _RunProcess:
    """``labelloop.py run`` in the background, its output collected by a thread."""

    def __init__(self, data_dir: Path, port: int) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY")}
        env.update(LABELLOOP_DATA_DIR=str(data_dir), LABELLOOP_VENV=sys.prefix, DEBUG="1")
        env.pop("DJANGO_SETTINGS_MODULE", None)
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(REPO / "labelloop.py"),
                "run",
                "--port",
                str(port),
                "--demo-images",
                "24",
                "--web-workers",
                "1",
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_ready(self, timeout: float = 240.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "labelloop: ready in" in self.output and "processes:" in self.output:
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.5)
        self.stop()
        pytest.fail(f"run did not become ready:\n{self.output[-6000:]}")

    def pids(self) -> dict[str, int]:
        line = next(line for line in self.lines if "processes:" in line)
        return {name: int(pid) for name, pid in re.findall(r"(\w+) (\d+)", line.split("processes:", 1)[1])}

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(90)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise


def _login(base: str, username: str, password: str) -> str:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(f"{base}/login/") as response:
        page = response.read().decode()
        assert response.status == 200
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert found, "no CSRF token on the login page"
    token = found.group(1)
    body = urllib.parse.urlencode({"username": username, "password": password, "csrfmiddlewaretoken": token})
    request = urllib.request.Request(f"{base}/login/", data=body.encode(), headers={"Referer": f"{base}/login/"})
    with opener.open(request) as response:
        assert response.status == 200
        return response.geturl()


@pytest.mark.slow
@pytest.mark.worker
def test_run_command_serves_logs_in_stops_everything_and_restarts(tmp_path):
    tmp_path.chmod(0o755)
    data_dir = tmp_path / "data"
    port = free_port()
    base = f"http://127.0.0.1:{port}"

    first = _RunProcess(data_dir, port)
    first.wait_ready()
    try:
        pids = first.pids()
        assert set(pids) == {"web", "worker", "beat", "postgres", "redis"}
        assert "password: labelloop-demo" in first.output
        assert "demo data:" in first.output and "images" in first.output
        landed = _login(base, "annotator", "labelloop-demo")
        assert not landed.endswith("/login/"), "login did not leave the login page"
        with urllib.request.urlopen(f"{base}/static/css/app.css") as response:
            assert response.status == 200
    finally:
        code = first.stop()
    assert code == 0, first.output[-4000:]
    time.sleep(0.5)
    assert [name for name, pid in pids.items() if _alive(pid)] == []
    assert "labelloop: stopped" in first.output

    second = _RunProcess(data_dir, port)
    second.wait_ready()
    try:
        assert "already loaded" in second.output
        _login(base, "qalead", "labelloop-demo")
    finally:
        assert second.stop() == 0, second.output[-4000:]
