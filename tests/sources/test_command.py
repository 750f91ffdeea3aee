"""python manage.py fetch_competitor_labels: the same job, run in the calling process."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from annotator.dataset.models import Evidence
from annotator.sources.models import FetchJob
from annotator.taxonomy.models import ExternalLabelMapping, Label
from tests.sources.fakeprovider import BAIDU
from tests.sources.support import make_images, sha

pytestmark = pytest.mark.django_db


def test_the_command_fetches_and_maps_without_a_worker(fake_provider, tmp_path, no_enqueue):
    cat = Label.objects.create(key="cat", name_en="Cat")
    ExternalLabelMapping.objects.create(source="baidu", external_id="猫", label=cat)
    made = make_images(tmp_path / "p", 3)
    for _, data in made:
        fake_provider.baidu_answers[sha(data)] = [("猫", 0.9, "动物-猫")]
    out = io.StringIO()
    call_command("fetch_competitor_labels", "--provider", "baidu", stdout=out)
    assert "succeeded: answered 3, evidence 3, images 3, keywords 3" in out.getvalue()
    assert Evidence.objects.filter(source__name="baidu", label=cat).count() == 3
    assert FetchJob.objects.get().status == "succeeded" and no_enqueue == []

    call_command("fetch_competitor_labels", "--provider", "baidu", stdout=out)
    assert fake_provider.total_calls(BAIDU) == 3  # nothing sent twice
    call_command("fetch_competitor_labels", "--provider", "baidu", "--remap", stdout=out)
    assert "re-mapped" in out.getvalue()


def test_the_command_names_what_is_wrong(fake_provider, tmp_path):
    with pytest.raises(CommandError, match='no label with the key "unicorn"'):
        call_command("fetch_competitor_labels", "--provider", "baidu", "--label", "unicorn")
    make_images(tmp_path / "p", 1)
    fake_provider.fail_next(BAIDU, {"error_code": 17})
    with pytest.raises(CommandError, match="paused until"):
        call_command("fetch_competitor_labels", "--provider", "baidu", stdout=io.StringIO())
