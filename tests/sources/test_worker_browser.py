"""An admin starts a Baidu fetch in Chromium; a real Celery worker process runs it against the
fake provider on loopback, and the job page follows it to the end without a reload.

The worker reads the test database (``transaction=True``) and a Redis database of its own,
and gets the provider settings as environment variables, exactly as a deployment would.
Its log is searched for the secrets afterwards.
"""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from annotator.dataset.models import Evidence
from annotator.sources.models import FetchJob, RawResponse
from annotator.taxonomy.models import ExternalLabelMapping, Label
from tests.conftest import PASSWORD
from tests.sources.fakeprovider import BAIDU
from tests.sources.support import make_images, sha, worker_env
from tests.sources.worker import start_worker

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

IMAGES = 10
QPS = 4  # 10 calls take ~2.5 s: the page sees the job running, then finished


def test_the_job_page_follows_a_real_worker_fetch_to_the_end(live_server, page, fake_provider, tmp_path, admin_user):
    cat = Label.objects.create(key="cat", name_en="Cat", name_zh="猫")
    ExternalLabelMapping.objects.create(source="baidu", external_id="猫", label=cat)
    made = make_images(tmp_path / "photos", IMAGES)
    for n, (_, data) in enumerate(made):
        fake_provider.baidu_answers[sha(data)] = [("猫", 0.9, "动物-猫")] if n % 2 else [("山", 0.8, "自然风景-山")]
    fake_provider.image_faults[sha(made[3][1])] = {"error_code": 216202}

    env = {**worker_env(fake_provider), "BAIDU_QPS": str(QPS)}
    with start_worker(tmp_path, env=env, name="sources") as log:
        page.goto(f"{live_server.url}/login/")
        page.fill("#id_username", admin_user.username)
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/")

        page.goto(f"{live_server.url}{reverse('sources:index')}")
        page.select_option("#id_provider", "baidu")
        page.get_by_role("button", name="Start").click()
        page.wait_for_url(re.compile(r".*/sources/jobs/\d+/$"))
        job = FetchJob.objects.get()
        page.evaluate("() => { window.__sameDocument = true; }")

        seen: list[float] = []
        page.wait_for_function("() => document.querySelector('[data-field=status]').textContent.trim() === 'running'")
        page.wait_for_function("() => document.querySelector('#fetch-progress progress').value > 0", timeout=20_000)
        seen.append(float(page.eval_on_selector("#fetch-progress progress", "bar => bar.value")))
        page.wait_for_function(
            "() => document.querySelector('[data-field=status]').textContent.trim() === 'succeeded'", timeout=30_000
        )
        seen.append(float(page.eval_on_selector("#fetch-progress progress", "bar => bar.value")))
        assert 0 < seen[0] < 100 and seen[-1] == 100
        assert page.evaluate("() => window.__sameDocument === true"), "the page was reloaded"
        assert page.locator("[data-count=answered]").inner_text() == str(IMAGES - 1)
        assert page.locator("[data-count=image_errors]").inner_text() == "1"
        assert page.locator("[data-field=done]").inner_text() == str(IMAGES)

        job.refresh_from_db()
        assert job.status == "succeeded" and job.started_at is not None
        assert RawResponse.objects.filter(provider="baidu", status="ok").count() == IMAGES - 1
        assert Evidence.objects.filter(source__name="baidu", label=cat, keyword="猫").count() == 4
        assert all(fake_provider.calls[(BAIDU, sha(data))] == 1 for _, data in made)
        text = log.wait_for("annotator.cleaning.tasks.queues_rerank")

    for secret in (fake_provider.baidu_api_key, fake_provider.baidu_secret_key, *fake_provider.issued_tokens):
        assert secret not in text, "a secret in the worker log"
    assert "new access token" in text
