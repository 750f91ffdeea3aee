"""Shared fixtures: the four personas (annotator, QA lead, admin, outsider)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from annotator.accounts.roles import Role
from annotator.accounts.services import user_create_with_role

PASSWORD = "persona-password-1"


@pytest.fixture
def annotator_user(db):
    return user_create_with_role(username="ann", password=PASSWORD, role=Role.ANNOTATOR)


@pytest.fixture
def qa_user(db):
    return user_create_with_role(username="qa", password=PASSWORD, role=Role.QA_LEAD)


@pytest.fixture
def admin_user(db):
    return user_create_with_role(username="boss", password=PASSWORD, role=Role.ADMIN)


@pytest.fixture
def outsider_user(db):
    """Logged in, but in none of the three roles."""
    return get_user_model().objects.create_user(username="stranger", password=PASSWORD)


def _client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def annotator_client(annotator_user) -> Client:
    return _client_for(annotator_user)


@pytest.fixture
def qa_client(qa_user) -> Client:
    return _client_for(qa_user)


@pytest.fixture
def admin_client_(admin_user) -> Client:
    return _client_for(admin_user)


@pytest.fixture
def outsider_client(outsider_user) -> Client:
    return _client_for(outsider_user)


@pytest.fixture
def personas(annotator_user, qa_user, admin_user, outsider_user) -> dict[str, object]:
    return {"annotator": annotator_user, "qa_lead": qa_user, "admin": admin_user, "outsider": outsider_user}
