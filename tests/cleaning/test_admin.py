"""The cleaning admin pages open for admins and change nothing."""

from __future__ import annotations

from django.urls import reverse

from annotator.cleaning.services import queues_rerank
from tests.cleaning.support import truth


def test_admin_lists_items_leases_and_decisions_read_only(world, admin_client_):
    truth(world.images[0], world.label("cat"), 1)
    queues_rerank()
    for name in ("reviewitem", "lease", "decision", "labelqueue"):
        response = admin_client_.get(reverse(f"admin:cleaning_{name}_changelist"))
        assert response.status_code == 200, name
    assert admin_client_.get(reverse("admin:cleaning_reviewitem_add")).status_code == 403
    assert admin_client_.get(reverse("admin:cleaning_decision_add")).status_code == 403
