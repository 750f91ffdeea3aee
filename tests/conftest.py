"""Shared fixtures: the four personas (annotator, QA lead, admin, outsider).

Django is imported inside the fixtures so that tests of the Django-free
``training`` package run without settings too.
"""

from __future__ import annotations

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
