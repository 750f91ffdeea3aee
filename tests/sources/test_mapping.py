"""Mapping changes re-map the stored answers without calling the provider; the unmapped report."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse

from annotator.dataset.models import Evidence, EvidenceSource
from annotator.sources import services
from annotator.sources.models import ProviderState
from annotator.sources.selectors import unmapped_keywords
from annotator.taxonomy.models import ExternalLabelMapping, Label
from tests.sources.fakeprovider import BAIDU
from tests.sources.support import make_images, sha

pytestmark = pytest.mark.django_db


@pytest.fixture
def fetched(tmp_path, fake_provider, admin_user):
    """Five images answered by Baidu (nothing mapped yet)."""
    cat = Label.objects.create(key="cat", name_en="Cat", name_zh="猫")
    dog = Label.objects.create(key="dog", name_en="Dog", name_zh="狗")
    made = make_images(tmp_path / "p", 5)
    answers = [
        [("猫", 0.93, "动物-猫"), ("宠物", 0.7, "动物-宠物")],
        [("猫", 0.35, "动物-猫"), ("宠物", 0.6, "动物-宠物"), ("沙发", 0.5, "家居-沙发")],
        [("狗", 0.88, "动物-狗"), ("宠物", 0.8, "动物-宠物")],
        [("狗", 0.2, "动物-狗"), ("宠物", 0.9, "动物-宠物")],
        [("山", 0.77, "自然风景-山")],
    ]
    for (_, data), answer in zip(made, answers, strict=True):
        fake_provider.baidu_answers[sha(data)] = answer
    job = services.fetch_job_create(provider="baidu", label=None, refetch=False, user=admin_user)
    while services.fetch_job_step(job_id=job.id).more:
        pass
    assert fake_provider.total_calls(BAIDU) == 5
    return {"images": [image for image, _ in made], "cat": cat, "dog": dog}


def evidence() -> list[tuple[int, str, str, float | None]]:
    return list(
        Evidence.objects.filter(source__kind="competitor", source__name="baidu")
        .order_by("image_id", "label__key")
        .values_list("image_id", "label__key", "keyword", "score")
    )


def test_a_new_mapping_re_maps_the_stored_answers_without_calling_again(
    fetched, fake_provider, rerank_requests, no_enqueue
):
    images = fetched["images"]
    assert evidence() == []

    services.mapping_add(provider="baidu", external_id="猫", external_name="", label=fetched["cat"], min_score=0.0)
    services.mapping_add(provider="baidu", external_id="狗", external_name="", label=fetched["dog"], min_score=0.5)
    services.provider_remap(provider="baidu")

    # The floor (0.3 by default) and each row's own minimum: the dog at 0.2 stays out.
    assert evidence() == [
        (images[0].id, "cat", "猫", 0.93),
        (images[1].id, "cat", "猫", 0.35),
        (images[2].id, "dog", "狗", 0.88),
    ]
    assert fake_provider.total_calls(BAIDU) == 5
    assert EvidenceSource.objects.get(kind="competitor", name="baidu").refreshed_at is not None


def test_two_keywords_for_one_label_give_one_row_with_the_best_score(fetched):
    pet_to_cat = {"provider": "baidu", "external_name": "", "label": fetched["cat"], "min_score": 0.0}
    services.mapping_add(external_id="猫", **pet_to_cat)
    services.mapping_add(external_id="宠物", **pet_to_cat)
    services.provider_remap(provider="baidu")
    rows = {image_id: (keyword, score) for image_id, _, keyword, score in evidence()}
    images = fetched["images"]
    assert (
        rows[images[0].id] == ("猫", 0.93)
        and rows[images[1].id] == ("宠物", 0.6)
        and rows[images[3].id] == ("宠物", 0.9)
    )


def test_a_keyword_re_map_touches_only_the_images_holding_it(fetched, rerank_requests):
    services.mapping_add(provider="baidu", external_id="猫", external_name="", label=fetched["cat"], min_score=0.0)
    services.mapping_add(provider="baidu", external_id="狗", external_name="", label=fetched["dog"], min_score=0.0)
    services.provider_remap(provider="baidu", keywords=["猫"])
    assert {label for _, label, _, _ in evidence()} == {"cat"}  # the dog images were not rebuilt yet
    services.provider_remap(provider="baidu", keywords=["狗"])
    assert {label for _, label, _, _ in evidence()} == {"cat", "dog"}


def test_removing_a_mapping_or_raising_the_floor_removes_evidence(fetched):
    row = services.mapping_add(
        provider="baidu", external_id="猫", external_name="", label=fetched["cat"], min_score=0.0
    )
    services.provider_remap(provider="baidu")
    assert len(evidence()) == 2

    ProviderState.objects.filter(provider="baidu").update(min_score=0.5)
    services.provider_remap(provider="baidu")
    assert [r[3] for r in evidence()] == [0.93]

    assert services.mapping_delete(mapping_id=row.id)
    services.provider_remap(provider="baidu")
    assert evidence() == []


def test_editing_a_mapping_anywhere_queues_a_re_map_after_commit(
    fetched, no_enqueue, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        row = ExternalLabelMapping.objects.create(source="baidu", external_id="山", label=fetched["cat"])
    with django_capture_on_commit_callbacks(execute=True):
        ExternalLabelMapping.objects.create(source="openimages", external_id="/m/01yrx", label=fetched["cat"])
    with django_capture_on_commit_callbacks(execute=True):
        row.external_id = "天空"  # an edit re-maps the images of the old keyword and of the new
        row.save()
    with django_capture_on_commit_callbacks(execute=True):
        row.delete()
    with django_capture_on_commit_callbacks(execute=True):
        ExternalLabelMapping.objects.create(source="labelstudio", external_id="Cat", label=fetched["cat"])
    with django_capture_on_commit_callbacks(execute=True):
        state = ProviderState.objects.get(provider="baidu")
        state.min_score = 0.6
        state.save()
    remaps = [args for kind, args in no_enqueue if kind == "remap"]
    assert remaps == [
        ("baidu", ["山"]),
        ("google", ["/m/01yrx"]),
        ("baidu", ["天空", "山"]),
        ("baidu", ["天空"]),
        ("baidu",),  # the floor: every image
    ]


def test_bad_mapping_input_is_refused_and_changes_nothing(fetched):
    for kwargs, message in [
        ({"external_id": "  "}, "1 to 200"),
        ({"external_id": "猫", "min_score": 1.5}, "between 0 and 1"),
        ({"external_id": "猫", "provider": "bing"}, "Unknown provider"),
    ]:
        call = {"provider": "baidu", "external_name": "", "label": fetched["cat"], "min_score": 0.0, **kwargs}
        with pytest.raises(services.SourceError, match=message):
            services.mapping_add(**call)
    assert not ExternalLabelMapping.objects.exists()


def test_the_unmapped_report_lists_the_most_frequent_keywords_with_examples(fetched, qa_user):
    services.mapping_add(provider="baidu", external_id="猫", external_name="", label=fetched["cat"], min_score=0.0)
    rows, answered = unmapped_keywords(user=qa_user, provider="baidu")
    images = fetched["images"]
    assert answered == 5
    assert [(r.external_id, r.images) for r in rows] == [("宠物", 4), ("狗", 2), ("山", 1), ("沙发", 1)]
    pet = rows[0]
    assert pet.examples[:3] == [(images[3].id, 0.9), (images[2].id, 0.8), (images[0].id, 0.7)]
    assert len(pet.examples) == 4 and round(pet.mean_score, 3) == 0.75


def test_the_unmapped_report_page_for_a_qa_lead_and_mapping_from_it_as_an_admin(
    fetched,
    qa_client,
    admin_client_,
    annotator_client,
    outsider_client,
    no_enqueue,
    django_assert_max_num_queries,
    django_capture_on_commit_callbacks,
    settings,
    tmp_path,
):
    settings.MEDIA_ROOT = tmp_path / "media"  # where the thumbnails are cached
    url = reverse("sources:unmapped") + "?provider=baidu"
    with django_assert_max_num_queries(12):
        page = qa_client.get(url)
    html = page.content.decode()
    assert page.status_code == 200 and "宠物" in html and 'data-keyword="宠物"' in html
    assert "80.0%" in html and "width:80%" in html  # 4 of the 5 answered images, drawn as a bar
    assert reverse("sources:image_thumb", args=[fetched["images"][3].id]) in html
    assert "Map to" not in html  # QA leads read; admins map
    thumb = qa_client.get(reverse("sources:image_thumb", args=[fetched["images"][3].id]))
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/jpeg"
    assert len(list((tmp_path / "media" / "thumbnails" / "sources").rglob("*.jpg"))) == 1
    assert annotator_client.get(url).status_code == 403 and outsider_client.get(url).status_code == 403

    assert "Map to" in admin_client_.get(url).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client_.post(
            reverse("sources:mapping"),
            {
                "provider": "baidu",
                "external_id": "宠物",
                "external_name": "宠物",
                "label": "cat",
                "min_score": "0.5",
                "next": url,
            },
        )
    assert response.status_code == 302 and response["Location"] == url
    row = ExternalLabelMapping.objects.get(source="baidu", external_id="宠物")
    assert (row.label.key, row.min_score) == ("cat", 0.5)
    assert ("remap", ("baidu", ["宠物"])) in no_enqueue
    assert 'data-keyword="宠物"' not in admin_client_.get(url).content.decode()


def test_the_mapping_page_refuses_an_unknown_label(fetched, admin_client_):
    response = admin_client_.post(
        reverse("sources:mapping"), {"provider": "baidu", "external_id": "宠物", "label": "unicorn", "min_score": "0"}
    )
    assert response.status_code == 302
    assert not ExternalLabelMapping.objects.exists()
    page = admin_client_.get(response["Location"])
    assert "Choose an existing label" in page.content.decode()


def test_the_mapping_page_lists_rows_with_their_images_and_removes_one(
    fetched, admin_client_, qa_client, no_enqueue, django_capture_on_commit_callbacks
):
    row = services.mapping_add(
        provider="baidu", external_id="宠物", external_name="", label=fetched["cat"], min_score=0.2
    )
    url = reverse("sources:mapping") + "?provider=baidu"
    html = admin_client_.get(url).content.decode()
    assert "宠物" in html and "<td>4</td>" in html  # four images carry the keyword
    assert qa_client.get(url).status_code == 403
    assert (
        'data-testid="openimages-note"'
        in admin_client_.get(reverse("sources:mapping") + "?provider=google").content.decode()
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client_.post(reverse("sources:mapping_delete", args=[row.id]), {"next": url})
    assert response.status_code == 302 and response["Location"] == url
    assert not ExternalLabelMapping.objects.filter(pk=row.id).exists()
    assert ("remap", ("baidu", ["宠物"])) in no_enqueue
    # Only the competitor vocabularies can be removed here, not the Open Images rows.
    oi = ExternalLabelMapping.objects.create(source="openimages", external_id="/m/01yrx", label=fetched["cat"])
    admin_client_.post(reverse("sources:mapping_delete", args=[oi.id]))
    assert ExternalLabelMapping.objects.filter(pk=oi.id).exists()


def test_keyword_stats_follow_every_stored_answer(fetched, fake_provider, qa_user):
    from annotator.sources.models import KeywordStat

    def stats() -> dict[str, tuple[int, float]]:
        return {k.external_id: (k.images, round(k.score_sum, 3)) for k in KeywordStat.objects.filter(images__gt=0)}

    assert stats()["宠物"] == (4, 3.0) and stats()["猫"] == (2, 1.28)
    # A re-fetch with a new answer moves the counts; a rebuild from scratch agrees.
    image0 = fetched["images"][0]
    data0 = (Path(image0.storage_root) / image0.relative_path).read_bytes()
    fake_provider.baidu_answers[sha(data0)] = [("猫", 0.5, "动物-猫")]
    job = services.fetch_job_create(provider="baidu", label=None, refetch=True, user=None)
    while services.fetch_job_step(job_id=job.id).more:
        pass
    after = stats()
    assert after["宠物"] == (3, 2.3) and after["猫"] == (2, 0.85)
    services.keyword_stats_rebuild(provider="baidu")
    assert stats() == after
