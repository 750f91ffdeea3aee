"""Fixtures of the competitor source tests (the fake provider lives in support.py)."""

from __future__ import annotations

import pytest

from tests.sources.support import fake_provider  # noqa: F401 - a fixture for every test here


@pytest.fixture
def rerank_requests(monkeypatch) -> list[dict]:
    """The queue re-rank requests sent by name (recorded, not sent to a broker)."""
    from celery import current_app

    sent: list[dict] = []

    def send_task(name, args=None, kwargs=None, **options):
        sent.append({"name": name, "kwargs": kwargs or {}})

    monkeypatch.setattr(current_app, "send_task", send_task)
    return sent


@pytest.fixture
def no_enqueue(monkeypatch) -> list[tuple[str, tuple]]:
    """Tasks this app queues (fetch steps, re-maps), recorded instead of sent."""
    from annotator.sources import tasks

    queued: list[tuple[str, tuple]] = []
    monkeypatch.setattr(
        tasks.fetch_job_run, "apply_async", lambda args=None, **kw: queued.append(("fetch", tuple(args or ())))
    )
    monkeypatch.setattr(tasks.provider_remap_run, "delay", lambda *args: queued.append(("remap", args)))
    return queued
