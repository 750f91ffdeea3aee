"""Shared fixtures: the four personas (annotator, QA lead, admin, outsider).

Django is imported inside the fixtures so that tests of the Django-free
``training`` package run without settings too.
"""

from __future__ import annotations

import os
import shutil

import pytest

PASSWORD = "persona-password-1"


def _with_role(username: str, role_name: str):
    from annotator.accounts.roles import Role
    from annotator.accounts.services import user_create_with_role

    return user_create_with_role(username=username, password=PASSWORD, role=Role(role_name))


@pytest.fixture
def annotator_user(db):
    return _with_role("ann", "annotator")


@pytest.fixture
def qa_user(db):
    return _with_role("qa", "qa_lead")


@pytest.fixture
def admin_user(db):
    return _with_role("boss", "admin")


@pytest.fixture
def outsider_user(db):
    """Logged in, but in none of the three roles."""
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user(username="stranger", password=PASSWORD)


def _client_for(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def annotator_client(annotator_user):
    return _client_for(annotator_user)


@pytest.fixture
def qa_client(qa_user):
    return _client_for(qa_user)


@pytest.fixture
def admin_client_(admin_user):
    return _client_for(admin_user)


@pytest.fixture
def outsider_client(outsider_user):
    return _client_for(outsider_user)


@pytest.fixture
def personas(annotator_user, qa_user, admin_user, outsider_user) -> dict[str, object]:
    return {"annotator": annotator_user, "qa_lead": qa_user, "admin": admin_user, "outsider": outsider_user}


# --- Chromium through Playwright -------------------------------------------------------------
# One browser per test module: Playwright's sync API keeps an event loop marked running in
# this thread while it is open, which must not leak into the non-browser tests that follow.

CHROMIUM = os.environ.get("LABELLOOP_CHROMIUM", "/usr/bin/chromium")


def _chromium_path() -> str | None:
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    return shutil.which("chromium")


@pytest.fixture(scope="module")
def browser():
    path = _chromium_path()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium not found at /usr/bin/chromium; .ci/run installs it with apt-get")
        pytest.skip("browser tests skipped: no Chromium found (install Debian's chromium package)")
    # Playwright's sync API runs an event loop in this thread; Django's ORM calls in the
    # test body are still synchronous and safe.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=path,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            yield chromium
        finally:
            chromium.close()
            if previous is None:
                os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
            else:
                os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()
