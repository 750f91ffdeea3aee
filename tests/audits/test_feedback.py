"""An annotator's own audits: their mistakes with QA's reason, note and the label's guideline, their
trend against the target; never anyone else's figures. The home card links to the page."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.audits.accuracy_fixture import END, NEXT_MON, SCOPE_NOTE, START, audited_world_make
from tests.conftest import PASSWORD

RANGE = {"start": START.isoformat(), "end": END.isoformat()}


@pytest.fixture
def audited(world, annotator_user, qa_user):
    return audited_world_make(world, ann=annotator_user, qa=qa_user)


def test_annotator_sees_their_mistakes_with_notes_and_guideline(audited, annotator_client):
    response = annotator_client.get(reverse("audits:feedback"), RANGE)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>My audits</h1>" in html
    assert 'data-testid="person-accuracy">80.0%<' in html and 'data-testid="below-target"' in html
    mistakes = html.split('data-testid="mistake"')[1:]
    assert len(mistakes) == 2
    newest = mistakes[0]  # 2024-03-11 first
    assert NEXT_MON.isoformat() in newest and "Cat" in newest
    assert 'data-field="annotator-verdict">present<' in newest
    assert 'data-field="qa-verdict">absent<' in newest
    assert 'data-field="reason">confused with a parent or child label<' in newest
    assert SCOPE_NOTE in newest
    assert "Any <strong>domestic</strong> cat." in newest  # the guideline, rendered
    image_id = int(newest.split('data-item="', 1)[1].split('"', 1)[0])
    from annotator.audits.models import AuditItem

    item = AuditItem.objects.get(pk=image_id)
    assert reverse("cleaning:image_detail", args=[item.image_id]) in newest
    assert reverse("cleaning:thumbnail", args=[item.image_id]) in newest
    assert 'data-field="reason">misread the guideline<' in mistakes[1]
    assert 'data-field="note">—<' in mistakes[1]
    assert 'data-testid="trend-person"' in html and 'data-target="0.9000"' in html


def test_only_their_own_figures(audited, client):
    client.login(username="bea", password=PASSWORD)
    html = client.get(reverse("audits:feedback"), RANGE).content.decode()
    assert 'data-testid="person-accuracy">100.0%<' in html
    assert 'data-testid="no-mistakes"' in html
    assert SCOPE_NOTE not in html and "80.0%" not in html and 'data-testid="mistake"' not in html


def test_an_annotator_passing_another_persons_id_is_refused(audited, annotator_client):
    other = audited.bea.pk
    assert annotator_client.get(reverse("audits:feedback"), {"annotator": other}).status_code == 403
    assert annotator_client.get(reverse("audits:annotator", args=[other])).status_code == 403
    assert annotator_client.get(reverse("audits:annotator", args=[audited.ann.pk])).status_code == 403
    # their own id is just their own page
    assert annotator_client.get(reverse("audits:feedback"), {"annotator": audited.ann.pk}).status_code == 200
    assert annotator_client.get(reverse("audits:feedback"), {"annotator": "x"}).status_code == 400


def test_qa_leads_may_read_anyones_feedback(audited, qa_client):
    response = qa_client.get(reverse("audits:feedback"), RANGE | {"annotator": audited.ann.pk})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Audits of ann" in html and SCOPE_NOTE in html
    assert f'name="annotator" value="{audited.ann.pk}"' in html  # the range form keeps the person


def test_home_card_links_to_my_audits_and_shows_a_percentage(audited, annotator_client):
    html = annotator_client.get(reverse("home")).content.decode()
    # over every audit: 8 of 10
    assert 'data-testid="audited-accuracy">80.0%<' in html
    assert f'href="{reverse("audits:feedback")}" data-testid="my-audits-link"' in html


def test_my_audits_is_in_the_navigation_for_everyone(annotator_client, qa_client):
    for client in (annotator_client, qa_client):
        html = client.get(reverse("home")).content.decode()
        assert f'<a href="{reverse("audits:feedback")}">My audits</a>' in html
    assert reverse("audits:dashboard") not in annotator_client.get(reverse("home")).content.decode()
    assert reverse("audits:dashboard") in qa_client.get(reverse("home")).content.decode()


def test_label_health_renders_with_real_audits(audited, qa_client):
    html = qa_client.get(reverse("cleaning:health")).content.decode()
    cat = html[html.index('<tr data-label="cat"') :]
    cat = cat[: cat.index("</tr>")]
    # cat over every audit: ann 5 with 2 overturned, bea 5 agreed -> 2 / 10
    assert 'data-audit-error="0.200000"' in cat


def test_a_second_look_that_sides_with_the_annotator_removes_the_mistake(audited, annotator_client, admin_user):
    from annotator.audits.models import AuditItem
    from annotator.audits.services.judging import audit_second_look
    from annotator.cleaning.models import Verdict

    item = AuditItem.objects.get(annotator=audited.ann, day=NEXT_MON, agrees=False)
    AuditItem.objects.filter(pk=item.pk).update(second_look_requested=True)
    item.refresh_from_db()
    audit_second_look(user=admin_user, item=item, verdict=Verdict.PRESENT)
    html = annotator_client.get(reverse("audits:feedback"), RANGE).content.decode()
    assert html.count('data-testid="mistake"') == 1 and SCOPE_NOTE not in html
    assert 'data-testid="person-accuracy">90.0%<' in html  # 9 of 10 now
