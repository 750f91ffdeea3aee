"""The demo arrives with its cleaning queues built: an annotator finds work on the first page."""

from __future__ import annotations

import pytest

from annotator.accounts.management.demo import demo_load
from annotator.cleaning.models import ReviewItem
from annotator.dataset.models import ImageLabel, LabelState

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def test_loading_the_demo_builds_one_queue_per_label(tmp_path):
    said: list[str] = []
    result = demo_load(images=60, out=tmp_path / "demo", say=said.append)
    assert result.status == "loaded"
    positives = set(ImageLabel.objects.filter(state=LabelState.POSITIVE).values_list("image_id", "label_id"))
    items = set(ReviewItem.objects.values_list("image_id", "label_id"))
    assert positives and positives <= items  # every dataset positive is up for review
    assert any(line.startswith("cleaning queues:") for line in said)
