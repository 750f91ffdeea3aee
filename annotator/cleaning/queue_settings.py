"""Writes on a label's queue settings: an admin opens (or closes again) a label with enough data."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from annotator.accounts.roles import Role, user_has_role
from annotator.cleaning.models import LabelQueue
from annotator.taxonomy.models import Label


@transaction.atomic
def label_queue_open_set(*, user: Any, label: Label, opened: bool) -> LabelQueue:
    """Open ``label``'s queue to annotators although it has enough data (or close it again). Admins only."""
    if not user_has_role(user, Role.ADMIN):
        raise PermissionDenied
    queue, _ = LabelQueue.objects.select_for_update().get_or_create(label=label)
    if queue.opened != opened:
        queue.opened = opened
        queue.opened_by = user if opened else None
        queue.opened_at = timezone.now() if opened else None
        queue.save(update_fields=["opened", "opened_by", "opened_at"])
    return queue
