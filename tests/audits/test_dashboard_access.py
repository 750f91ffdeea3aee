"""Annotators never see the QA accuracy pages; outsiders see none; anonymous visitors log in first."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse


def _urls(person_id: int) -> list[str]:
    return [
        reverse("audits:dashboard"),
        reverse("audits:dashboard_csv"),
        reverse("audits:annotator", args=[person_id]),
    ]


def test_annotator_is_refused_every_qa_page(annotator_client, annotator_user, qa_user):
    for url in _urls(qa_user.pk) + _urls(annotator_user.pk):
        assert annotator_client.get(url).status_code == 403, url


def test_outsider_is_refused_everything(outsider_client, annotator_user):
    for url in [*_urls(annotator_user.pk), reverse("audits:feedback")]:
        assert outsider_client.get(url).status_code == 403, url


@pytest.mark.django_db
def test_anonymous_goes_to_login():
    for url in [*_urls(1), reverse("audits:feedback")]:
        response = Client().get(url)
        assert response.status_code == 302 and "/login/" in response["Location"], url


def test_qa_lead_and_admin_get_in(qa_client, admin_client_, annotator_user):
    for client in (qa_client, admin_client_):
        for url in [*_urls(annotator_user.pk), reverse("audits:feedback")]:
            assert client.get(url).status_code == 200, url
