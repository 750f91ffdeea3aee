"""``manage.py audit_sample``: draws a day or a range once, and says clearly what is wrong."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command

from annotator.audits.models import AuditSample
from annotator.cleaning.models import Verdict
from tests.audits.support import decided, yesterday


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("audit_sample", *args, stdout=out)
    return out.getvalue()


def test_the_command_draws_yesterday_then_keeps_it(world, annotator_user):
    decided(user=annotator_user, image=world.images[0], label=world.label("cat"))
    decided(user=annotator_user, image=world.images[1], label=world.label("cat"), verdict=Verdict.ABSENT, minute=3)
    assert _run() == f"{yesterday()}: 2 of 2 decisions (drawn)\n"
    assert _run("--day", yesterday().isoformat()) == f"{yesterday()}: 2 of 2 decisions (drawn before, kept)\n"


def test_the_command_draws_a_range(world, annotator_user):
    start = yesterday() - timedelta(days=2)
    out = _run("--from", start.isoformat())
    assert out.count("\n") == 3
    assert AuditSample.objects.count() == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--day", "2026-13-01"], "is not a date"),
        (["--day", "2099-01-01"], "not over yet"),
        (["--day", "2026-01-01", "--from", "2026-01-01"], "not both"),
    ],
)
def test_bad_input_is_refused_clearly(db, args, message):
    with pytest.raises(CommandError, match=message):
        _run(*args)
    assert not AuditSample.objects.exists()
