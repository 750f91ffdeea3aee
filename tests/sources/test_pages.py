"""The overview, job and progress pages: who may do what, what they show."""

from __future__ import annotations

import pytest
from django.urls import reverse

from annotator.sources import services
from annotator.sources.models import FetchJob
from annotator.taxonomy.models import Label
from tests.sources.support import fetch_now, make_images

pytestmark = pytest.mark.django_db


def test_qa_leads_read_the_overview_admins_also_start_jobs(fake_provider, qa_client, admin_client_, annotator_client):
    qa_page = qa_client.get(reverse("sources:index")).content.decode()
    assert "Baidu image recognition" in qa_page and "Google Cloud Vision" in qa_page
    assert 'data-testid="job-form"' not in qa_page
    admin_page = admin_client_.get(reverse("sources:index")).content.decode()
    assert 'data-testid="job-form"' in admin_page
    assert annotator_client.get(reverse("sources:index")).status_code == 403


def test_an_unconfigured_provider_is_shown_off_and_cannot_be_started(fake_provider, settings, admin_client_):
    settings.BAIDU_SECRET_KEY = ""
    page = admin_client_.get(reverse("sources:index")).content.decode()
    assert "its keys are not set in the environment" in page
    response = admin_client_.post(reverse("sources:job_new"), {"provider": "baidu"}, follow=True)
    assert "not configured" in response.content.decode()
    assert not FetchJob.objects.exists()


def test_starting_a_job_for_a_labels_queue(
    fake_provider, admin_client_, no_enqueue, django_capture_on_commit_callbacks
):
    cat = Label.objects.create(key="cat", name_en="Cat")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client_.post(
            reverse("sources:job_new"), {"provider": "google", "label": "cat", "refetch": "on"}
        )
    job = FetchJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("sources:job_detail", args=[job.id])
    assert (job.provider, job.label, job.refetch, job.status) == ("google", cat, True, "queued")
    assert no_enqueue == [("fetch", (job.id,))]


def test_an_unknown_label_is_refused_by_name(fake_provider, admin_client_):
    response = admin_client_.post(reverse("sources:job_new"), {"provider": "baidu", "label": "unicorn"}, follow=True)
    assert "No label with the key “unicorn”" in response.content.decode()
    assert not FetchJob.objects.exists()


def test_the_job_page_and_its_progress_api(fake_provider, tmp_path, qa_client, admin_client_, annotator_client):
    make_images(tmp_path / "p", 3)
    job = fetch_now("baidu")
    page = qa_client.get(reverse("sources:job_detail", args=[job.id])).content.decode()
    assert f'data-url="/sources/api/jobs/{job.id}/"' in page and 'data-testid="job-requeue"' not in page
    data = qa_client.get(reverse("sources:api_job", args=[job.id])).json()
    assert (data["status"], data["percent"], data["progress_done"], data["finished"]) == ("succeeded", 100, 3, True)
    assert {"name": "answered", "label": "answered", "value": 3} in data["count_rows"]
    assert annotator_client.get(reverse("sources:api_job", args=[job.id])).status_code == 403
    assert qa_client.get(reverse("sources:api_job", args=[job.id + 1000])).status_code == 404


def test_a_paused_job_is_requeued_by_an_admin_once_the_pause_ends(
    fake_provider, tmp_path, admin_user, admin_client_, no_enqueue, django_capture_on_commit_callbacks
):
    from django.utils import timezone

    from annotator.sources.models import ProviderState

    make_images(tmp_path / "p", 2)
    fake_provider.fail_next("baidu", {"error_code": 17})
    job = services.fetch_job_create(provider="baidu", label=None, refetch=False, user=None)
    services.fetch_job_step(job_id=job.id)
    page = admin_client_.get(reverse("sources:job_detail", args=[job.id])).content.decode()
    assert "paused until" in page and 'data-testid="job-requeue"' in page

    response = admin_client_.post(reverse("sources:job_requeue", args=[job.id]), follow=True)
    assert "still paused" in response.content.decode()
    # The job says so in the reader's language too.
    admin_user.profile.language = "zh-hans"
    admin_user.profile.save()
    chinese = admin_client_.get(reverse("sources:api_job", args=[job.id])).json()
    assert "服务商的每日请求限额已用完（17: Open api daily request limit reached）：已暂停至" in chinese["message"]
    admin_user.profile.language = "en"
    admin_user.profile.save()
    ProviderState.objects.update(paused_until=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        admin_client_.post(reverse("sources:job_requeue", args=[job.id]))
    job.refresh_from_db()
    assert job.status == "queued" and no_enqueue[-1] == ("fetch", (job.id,))


def test_a_user_who_chose_chinese_sees_the_pages_in_chinese(fake_provider, qa_user):
    from django.test import Client

    qa_user.profile.language = "zh-hans"
    qa_user.profile.save()
    client = Client()
    client.force_login(qa_user)
    html = client.get(reverse("sources:index")).content.decode()
    assert "<h1>竞品标签</h1>" in html and "百度图像识别" in html and "还没有任务" in html
    assert "Competitor labels" not in html
    html = client.get(reverse("sources:unmapped")).content.decode()
    assert "<h1>未映射的关键词</h1>" in html and "所有已保存的关键词都已映射" in html
