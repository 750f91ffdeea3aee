"""manage.py queues_rerank: rebuilds here, names a bad label key, queues the task on request."""

from __future__ import annotations

from io import StringIO
from unittest import mock

import pytest
from django.core.management import call_command

from annotator.cleaning.models import ReviewItem
from tests.cleaning.support import truth


def test_the_command_builds_the_queues(world):
    truth(world.images[0], world.label("fold_eared_cat"), 1)
    out = StringIO()
    call_command("queues_rerank", "--label", "cat", stdout=out)
    assert "1 new" in out.getvalue()
    assert list(ReviewItem.objects.values_list("label__key", flat=True)) == ["cat"]


def test_a_bad_label_key_is_named_and_nothing_runs(world):
    err = StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("queues_rerank", "--label", "unicorn", stderr=err)
    assert exit_info.value.code == 2 and "unicorn" in err.getvalue()
    assert not ReviewItem.objects.exists()


def test_queue_sends_the_task(world, django_capture_on_commit_callbacks):
    with (
        mock.patch("annotator.cleaning.tasks.queues_rerank.apply_async") as apply_async,
        django_capture_on_commit_callbacks(execute=True),
    ):
        call_command("queues_rerank", "--queue", stdout=StringIO())
    apply_async.assert_called_once_with(kwargs={})
