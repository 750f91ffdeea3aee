"""The demo arrives with a day of the demo annotator's work sampled, so QA leads find work at once."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from annotator.audits.models import AuditItem, AuditSample
from annotator.audits.services.sampling import today_local
from annotator.cleaning.models import Decision

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def test_the_demo_has_yesterdays_decisions_sampled_for_qa(tmp_path):
    out = tmp_path / "demo"
    call_command("load_demo", images=120, out=out, stdout=io.StringIO())
    sample = AuditSample.objects.get()
    assert (today_local() - sample.day).days == 1
    made = Decision.objects.filter(user__username="annotator").count()
    assert made >= 20
    assert sample.decisions_seen == made
    assert AuditItem.objects.filter(annotator__username="annotator").count() == max(20, -(-made * 5 // 100))
    # Loading again changes nothing.
    call_command("load_demo", images=120, out=out, stdout=io.StringIO())
    assert AuditSample.objects.count() == 1
    assert Decision.objects.filter(user__username="annotator").count() == made
