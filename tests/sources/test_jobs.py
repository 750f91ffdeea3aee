"""Fetch jobs end to end (without a worker): stored answers, evidence, errors, pauses, re-fetch."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from annotator.dataset.models import Evidence, EvidenceSource, ImageLabel, LabelState
from annotator.sources import services
from annotator.sources.models import FetchJob, ProviderState, RawLabel, RawResponse
from annotator.taxonomy.models import ExternalLabelMapping, Label
from tests.sources.fakeprovider import BAIDU, GOOGLE
from tests.sources.support import make_images, sha

pytestmark = pytest.mark.django_db


@pytest.fixture
def labels(db) -> dict[str, Label]:
    animal = Label.objects.create(key="animal", name_en="Animal", name_zh="动物")
    return {
        "animal": animal,
        "cat": Label.objects.create(key="cat", name_en="Cat", name_zh="猫", parent=animal),
        "dog": Label.objects.create(key="dog", name_en="Dog", name_zh="狗", parent=animal),
    }


@pytest.fixture
def photos(tmp_path, labels, fake_provider):
    """Four images: 0 and 1 cats, 2 a dog, 3 a landscape, with the fake provider's answers."""
    made = make_images(tmp_path / "photos", 4)
    answers = [
        [("猫", 0.93, "动物-猫"), ("宠物", 0.7, "动物-宠物")],
        [("猫", 0.42, "动物-猫"), ("沙发", 0.66, "家居-沙发")],
        [("狗", 0.88, "动物-狗"), ("宠物", 0.8, "动物-宠物")],
        [("山", 0.77, "自然风景-山"), ("天空", 0.55, "自然风景-天空")],
    ]
    for (_, data), answer in zip(made, answers, strict=True):
        fake_provider.baidu_answers[sha(data)] = answer
    ExternalLabelMapping.objects.create(source="baidu", external_id="猫", label=labels["cat"], min_score=0.0)
    return made


def run(job: FetchJob, *, batch: int = 100) -> FetchJob:
    for _ in range(50):
        if not services.fetch_job_step(job_id=job.id, batch=batch).more:
            break
    job.refresh_from_db()
    return job


def new_job(provider: str = "baidu", *, label: Label | None = None, refetch: bool = False) -> FetchJob:
    return services.fetch_job_create(provider=provider, label=label, refetch=refetch, user=None)


def competitor(provider: str = "baidu") -> list[tuple[int, str, str, float | None, bool]]:
    return list(
        Evidence.objects.filter(source__kind="competitor", source__name=provider)
        .order_by("image_id", "label__key")
        .values_list("image_id", "label__key", "keyword", "score", "suggested")
    )


def test_a_job_stores_each_answer_and_maps_it_to_evidence(
    photos, labels, fake_provider, rerank_requests, no_enqueue, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        job = run(new_job(), batch=2)  # two steps of two images

    assert job.status == FetchJob.Status.SUCCEEDED and job.percent == 100
    assert (job.progress_done, job.progress_total) == (4, 4)
    assert job.counts == {"images": 4, "answered": 4, "keywords": 8, "evidence": 2}
    ids = [image.id for image, _ in photos]
    # Keyword, score, suggested: exactly the contract of competitor evidence.
    assert competitor() == [(ids[0], "cat", "猫", 0.93, True), (ids[1], "cat", "猫", 0.42, True)]
    # Every answer is stored with its time, parsed into keywords.
    stored = RawResponse.objects.get(provider="baidu", image_id=ids[3])
    assert stored.status == "ok" and stored.body["result"][0]["keyword"] == "山" and stored.fetched_at <= timezone.now()
    assert RawLabel.objects.filter(provider="baidu").count() == 8
    source = EvidenceSource.objects.get(kind="competitor", name="baidu")
    assert source.refreshed_at is not None and source.refreshed_at >= job.started_at
    # The queues of the labels whose evidence changed are re-ranked, by task name, after commit.
    assert rerank_requests == [
        {"name": "annotator.cleaning.tasks.queues_rerank", "kwargs": {"label_ids": [labels["cat"].id]}}
    ]
    assert no_enqueue == [("fetch", (job.id,))]  # the job was queued once, on creation


def test_each_image_goes_to_a_provider_at_most_once_unless_a_refetch_is_asked(photos, fake_provider):
    run(new_job())
    assert all(fake_provider.calls[(BAIDU, sha(data))] == 1 for _, data in photos)
    first_fetch = dict(RawResponse.objects.values_list("image_id", "fetched_at"))

    again = run(new_job())
    assert again.status == "succeeded" and again.progress_total == 0 and again.counts == {}
    assert fake_provider.total_calls(BAIDU) == 4

    # A re-fetch calls again, and its answer replaces the stored one and the evidence.
    image0, data0 = photos[0]
    fake_provider.baidu_answers[sha(data0)] = [("猫", 0.51, "动物-猫")]
    refetched = run(new_job(refetch=True))
    assert refetched.counts["answered"] == 4
    assert all(fake_provider.calls[(BAIDU, sha(data))] == 2 for _, data in photos)
    assert all(t > first_fetch[i] for i, t in RawResponse.objects.values_list("image_id", "fetched_at"))
    assert Evidence.objects.get(image=image0, source__name="baidu").score == 0.51


def test_a_label_job_fetches_only_that_labels_queue(photos, labels, fake_provider):
    (cat_truth, _), (cat_suggested, _), (dog, _), _landscape = photos
    ImageLabel.objects.create(image=cat_truth, label=labels["cat"], state=LabelState.POSITIVE)
    model = EvidenceSource.objects.create(kind="model", name="v1")
    Evidence.objects.create(image=cat_suggested, label=labels["cat"], source=model, score=0.8, suggested=True)
    Evidence.objects.create(image=dog, label=labels["cat"], source=model, score=0.1, suggested=False)

    job = run(new_job(label=labels["cat"]))

    assert job.status == "succeeded" and job.progress_total == 2
    assert set(RawResponse.objects.values_list("image_id", flat=True)) == {cat_truth.id, cat_suggested.id}
    assert fake_provider.total_calls(BAIDU) == 2


def test_an_image_error_is_recorded_for_that_image_and_the_job_goes_on(photos, fake_provider):
    bad_image, bad_data = photos[1]
    fake_provider.image_faults[sha(bad_data)] = {"error_code": 216202}

    job = run(new_job())

    assert job.status == "succeeded"
    assert job.counts["image_errors"] == 1 and job.counts["answered"] == 3
    refused = RawResponse.objects.get(image=bad_image)
    assert (refused.status, refused.error_code, refused.error_message) == ("image_error", "216202", "image size error")
    assert fake_provider.calls[(BAIDU, sha(bad_data))] == 1  # not retried
    # Nor sent again by the next job: the provider has said what it thinks of it.
    run(new_job())
    assert fake_provider.calls[(BAIDU, sha(bad_data))] == 1


def test_error_17_pauses_the_provider_until_the_next_day_and_the_job_says_so(photos, fake_provider, settings):
    fake_provider.fail_next(BAIDU, {"error_code": 17})  # the very first recognition call
    before = timezone.now()

    job = run(new_job())

    assert job.status == FetchJob.Status.PAUSED
    state = ProviderState.objects.get(provider="baidu")
    beijing = before.astimezone(ZoneInfo(settings.BAIDU_QUOTA_TIME_ZONE))
    midnight = datetime(beijing.year, beijing.month, beijing.day, tzinfo=beijing.tzinfo)
    assert state.paused_until == (midnight + timezone.timedelta(days=1)).astimezone(ZoneInfo("UTC"))
    assert "daily request limit" in job.message and "paused until" in job.message
    assert fake_provider.total_calls(BAIDU) == 1  # it stopped calling at once
    assert not RawResponse.objects.exists()

    # No job calls it before the pause ends: a new one is refused, a re-queued one pauses.
    with pytest.raises(services.SourceError, match="paused until"):
        new_job()
    assert services.fetch_job_requeue(job_id=job.id)
    job = run(job)
    assert job.status == FetchJob.Status.PAUSED and job.message.count("paused until") == 1
    assert "(17: Open api daily request limit reached)" in job.message
    assert fake_provider.total_calls(BAIDU) == 1

    # The next day (the pause lifted) the job is re-queued and fetches the rest.
    ProviderState.objects.filter(provider="baidu").update(paused_until=timezone.now() - timezone.timedelta(seconds=1))
    assert services.fetch_job_requeue(job_id=job.id)
    job = run(job)
    assert job.status == "succeeded" and RawResponse.objects.filter(status="ok").count() == 4


def test_timeouts_are_retried_then_recorded_and_a_later_job_tries_again(photos, fake_provider, settings):
    slow_image, slow_data = photos[2]
    fake_provider.image_faults[sha(slow_data)] = {"sleep": settings.SOURCES_TIMEOUT + 0.3}

    job = run(new_job())

    assert job.status == "succeeded" and job.counts["failed"] == 1 and job.counts["answered"] == 3
    failed = RawResponse.objects.get(image=slow_image)
    assert failed.status == "failed" and failed.error_code == "timeout"
    assert failed.attempts == settings.SOURCES_MAX_RETRIES + 1
    assert fake_provider.calls[(BAIDU, sha(slow_data))] == settings.SOURCES_MAX_RETRIES + 1

    del fake_provider.image_faults[sha(slow_data)]
    job = run(new_job())
    assert job.counts == {"images": 1, "answered": 1, "keywords": 2, "evidence": 0}
    assert RawResponse.objects.get(image=slow_image).status == "ok"


def test_a_failed_refetch_keeps_the_earlier_answer(photos, fake_provider, settings):
    run(new_job())
    image, data = photos[0]
    fake_provider.image_faults[sha(data)] = {"http": 502}
    job = run(new_job(refetch=True))
    assert job.status == "succeeded" and job.counts["failed"] == 1
    kept = RawResponse.objects.get(image=image)
    assert kept.status == "ok" and kept.attempted_at > kept.fetched_at
    assert Evidence.objects.filter(image=image, source__name="baidu").exists()


def test_refused_credentials_fail_the_job_with_a_clear_message(photos, fake_provider, settings):
    settings.BAIDU_SECRET_KEY = "not-the-right-secret"
    job = run(new_job())
    assert job.status == "failed" and "refused the credentials" in job.message
    assert "not-the-right-secret" not in job.message
    assert not RawResponse.objects.exists()


def test_an_unconfigured_provider_cannot_start_a_job(labels, settings):
    settings.GOOGLE_VISION_API_KEY = ""
    with pytest.raises(services.SourceError, match="not configured"):
        new_job("google")


def test_google_maps_through_the_open_images_mapping_by_mid(tmp_path, labels, fake_provider):
    (image, data), (other, other_data) = make_images(tmp_path / "g", 2)
    fake_provider.google_answers[sha(data)] = [("/m/01yrx", "Cat", 0.97), ("/m/0jbk", "Animal", 0.91)]
    fake_provider.google_answers[sha(other_data)] = [("/m/0bt9lr", "Dog", 0.95), ("/m/0xyz", "Whisker", 0.9)]
    # The Open Images importer's rows: MID -> label, no keyword table.
    ExternalLabelMapping.objects.create(
        source="openimages", external_id="/m/01yrx", external_name="Cat", label=labels["cat"]
    )
    ExternalLabelMapping.objects.create(
        source="openimages", external_id="/m/0bt9lr", external_name="Dog", label=labels["dog"]
    )

    job = run(new_job("google"))

    assert job.status == "succeeded"
    assert competitor("google") == [(image.id, "cat", "Cat", 0.97, True), (other.id, "dog", "Dog", 0.95, True)]
    assert fake_provider.total_calls(GOOGLE) == 2


def test_an_unreadable_image_file_is_recorded_without_a_call(photos, fake_provider):
    image, data = photos[3]
    (tmp := __import__("pathlib").Path(image.storage_root) / image.relative_path).unlink()
    job = run(new_job())
    assert job.counts["unreadable"] == 1 and job.status == "succeeded"
    assert RawResponse.objects.get(image=image).error_code == "file"
    assert fake_provider.calls[(BAIDU, sha(data))] == 0
    assert not tmp.exists()


def test_running_a_step_twice_changes_nothing_twice(photos, fake_provider):
    job = run(new_job())
    before = list(RawResponse.objects.order_by("id").values_list())
    assert not services.fetch_job_step(job_id=job.id).more
    assert list(RawResponse.objects.order_by("id").values_list()) == before
    assert fake_provider.total_calls(BAIDU) == 4


def test_the_task_runs_steps_until_done_and_a_broken_step_fails_the_job(
    photos, fake_provider, no_enqueue, monkeypatch, django_capture_on_commit_callbacks
):
    from annotator.sources import tasks

    job = new_job()
    with django_capture_on_commit_callbacks(execute=True):
        tasks.fetch_job_run(job.id)
    job.refresh_from_db()
    assert job.status == "succeeded" and no_enqueue == []  # one step did it all, no further step queued

    # Several steps: the task queues the next one itself.
    monkeypatch.setattr(services.fetch_job_step, "__kwdefaults__", {"seconds": 60.0, "batch": 1})
    job = new_job(refetch=True)
    with django_capture_on_commit_callbacks(execute=True):
        tasks.fetch_job_run(job.id)
    assert no_enqueue[-1] == ("fetch", (job.id,)) and FetchJob.objects.get(pk=job.id).progress_done == 1

    def broken(*args, **kwargs):
        raise RuntimeError(
            f"redis gone at {fake_provider.url}/x?access_token=abcdef&key={fake_provider.google_api_key}"
        )

    monkeypatch.setattr(services, "client_for", broken)
    tasks.fetch_job_run(job.id)
    job.refresh_from_db()
    assert job.status == "failed" and "RuntimeError: redis gone" in job.message
    assert "abcdef" not in job.message and fake_provider.google_api_key not in job.message


def test_a_second_fetch_of_the_same_provider_waits_for_the_first(photos, fake_provider):
    import psycopg
    from django.db import connection

    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    job = new_job()
    with psycopg.connect(**params, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s, %s)", [services.LOCK_NAMESPACE, 0])  # baidu is running
        step = services.fetch_job_step(job_id=job.id)
        job.refresh_from_db()
        assert step.more and step.countdown > 0
        assert job.status == "queued" and job.phase == "waiting for another job of this provider"
        assert fake_provider.total_calls(BAIDU) == 0
    assert run(job).status == "succeeded"
