"""No secret (API keys, secret key, access tokens) appears in logs, pages or the database.

A run goes through every path that touches credentials: the token flow, a refresh after
110, rate limits, an image error, a timeout, refused credentials; then every log record,
every page and every text column of every table is searched for the secrets.
"""

from __future__ import annotations

import logging

import pytest
from django.db import connection
from django.urls import reverse

from annotator.sources import services
from annotator.sources.models import FetchJob
from annotator.taxonomy.models import ExternalLabelMapping, Label
from tests.sources.fakeprovider import BAIDU, GOOGLE
from tests.sources.support import make_images, sha

pytestmark = pytest.mark.django_db

TEXT_TYPES = ("text", "character varying", "json", "jsonb", "character")


def run(job: FetchJob) -> FetchJob:
    while services.fetch_job_step(job_id=job.id).more:
        pass
    job.refresh_from_db()
    return job


def database_text() -> str:
    """Every text, varchar and JSON value of every table in the database, concatenated."""
    chunks: list[str] = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND data_type = ANY(%s)",
            [list(TEXT_TYPES)],
        )
        columns = cursor.fetchall()
        assert len(columns) > 50, "the dump found suspiciously few text columns"
        for table, column in columns:
            cursor.execute(f'SELECT "{column}"::text FROM "{table}" WHERE "{column}" IS NOT NULL')  # noqa: S608
            chunks.extend(row[0] for row in cursor.fetchall())
    return "\n".join(chunks)


def test_no_secret_in_logs_pages_or_database(fake_provider, tmp_path, caplog, admin_client_, qa_client, settings):
    caplog.set_level(logging.DEBUG)
    cat = Label.objects.create(key="cat", name_en="Cat")
    ExternalLabelMapping.objects.create(source="baidu", external_id="猫", label=cat)
    ExternalLabelMapping.objects.create(source="openimages", external_id="/m/01yrx", label=cat)
    made = make_images(tmp_path / "p", 5)
    for _, data in made:
        fake_provider.baidu_answers[sha(data)] = [("猫", 0.9, "动物-猫"), ("未映射", 0.8, "其他")]
        fake_provider.google_answers[sha(data)] = [("/m/01yrx", "Cat", 0.9), ("/m/0zzz", "Unmapped", 0.8)]
    fake_provider.image_faults[sha(made[1][1])] = {"error_code": 216201}
    fake_provider.image_faults[sha(made[2][1])] = {"sleep": settings.SOURCES_TIMEOUT + 0.2}

    baidu_job = services.fetch_job_create(provider="baidu", label=None, refetch=False, user=None)
    services.fetch_job_step(job_id=baidu_job.id, batch=1)
    fake_provider.revoke_tokens()  # the next call gets 110 and refreshes
    fake_provider.fail_next(BAIDU, {"error_code": 18})
    baidu_job = run(baidu_job)
    fake_provider.fail_next(GOOGLE, {"http": 429}, {"google_error": (3, "Bad image data.")})
    google_job = run(services.fetch_job_create(provider="google", label=None, refetch=False, user=None))
    # Refused credentials: the job fails with the provider's words, never the keys.
    settings.BAIDU_SECRET_KEY = "another-secret-that-is-wrong"
    from annotator.sources.clients import tokens

    tokens.token_memory_clear()
    fake_provider.revoke_tokens()
    failed_job = run(services.fetch_job_create(provider="baidu", label=None, refetch=True, user=None))

    assert baidu_job.status == "succeeded" and google_job.status == "succeeded" and failed_job.status == "failed"
    assert fake_provider.token_calls == 2 and baidu_job.counts["image_errors"] == 1 and baidu_job.counts["failed"] == 1
    assert google_job.counts["image_errors"] == 1
    # The secrets did travel: in the query strings the fake provider received.
    assert any(fake_provider.baidu_secret_key in q for q in fake_provider.raw_queries)

    secrets = [
        fake_provider.baidu_api_key,
        fake_provider.baidu_secret_key,
        fake_provider.google_api_key,
        "another-secret-that-is-wrong",
        *fake_provider.issued_tokens,
    ]
    assert len(fake_provider.issued_tokens) == 2

    logs = caplog.text + "\n".join(str(r.args) for r in caplog.records)
    assert "token refreshed" in logs and "216201" in logs  # the log does speak of them
    pages = [
        reverse("sources:index"),
        reverse("sources:job_detail", args=[baidu_job.id]),
        reverse("sources:job_detail", args=[failed_job.id]),
        reverse("sources:api_job", args=[failed_job.id]),
        reverse("sources:mapping") + "?provider=baidu",
        reverse("sources:mapping") + "?provider=google",
        reverse("sources:unmapped") + "?provider=baidu",
        reverse("sources:unmapped") + "?provider=google",
        "/admin/sources/rawresponse/",
        "/admin/sources/fetchjob/",
        f"/admin/sources/fetchjob/{failed_job.id}/change/",
        "/admin/sources/providerstate/",
        "/admin/sources/competitormapping/",
    ]
    html = ""
    for url in pages:
        response = admin_client_.get(url)
        assert response.status_code == 200, url
        html += response.content.decode()
    html += qa_client.get(reverse("sources:index")).content.decode()
    assert "unknown client id" in html  # the failed job's message is shown
    dump = database_text()
    assert "未映射" in dump and "/m/0zzz" in dump  # the stored answers are in the dump

    for secret in secrets:
        assert secret not in logs, f"a secret in the logs: {secret[:6]}…"
        assert secret not in html, f"a secret on a page: {secret[:6]}…"
        assert secret not in dump, f"a secret in the database: {secret[:6]}…"
