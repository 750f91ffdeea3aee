"""The label health page (QA leads and admins): where cleaning work is chosen.

Server-rendered; static/js/health.js sorts the table by any column (values in data-*
attributes) and follows the thumbnail job's progress for admins.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from annotator.accounts.access import STAFF_ROLES, role_required
from annotator.accounts.roles import Role, user_has_role
from annotator.cleaning.queue_settings import label_queue_open_set
from annotator.cleaning.selectors import label_get_for_user
from annotator.cleaning.selectors_health import enough_data_count, label_aggregates, label_health_for_user
from annotator.cleaning.thumbnails import thumbnails_progress


@role_required(*STAFF_ROLES)
def health(request: HttpRequest) -> HttpResponse:
    rows = label_health_for_user(user=request.user)
    is_admin = user_has_role(request.user, Role.ADMIN)
    context = {
        "rows": rows,
        "enough_data": enough_data_count(),
        "counted_at": label_aggregates()[1],
        "totals": {
            "labels": len(rows),
            "queue_open": sum(row.queue_open for row in rows),
            "expected_errors": sum(row.expected_errors for row in rows),
            "not_offered": sum(1 for row in rows if not row.offered),
        },
        "thumbnails": thumbnails_progress() if is_admin else None,
    }
    return render(request, "cleaning/health.html", context)


@role_required(Role.ADMIN)
@require_POST
def label_queue_open(request: HttpRequest, key: str) -> HttpResponse:
    """Admins: offer (``opened=1``) or stop offering (``opened=0``) a label's queue although it has enough data."""
    label = label_get_for_user(user=request.user, key=key)
    opened = request.POST.get("opened") == "1"
    label_queue_open_set(user=request.user, label=label, opened=opened)
    if opened:
        messages.success(request, _("The queue of “%(label)s” is offered to annotators.") % {"label": label.name_en})
    else:
        messages.success(request, _("The queue of “%(label)s” is no longer offered.") % {"label": label.name_en})
    return redirect("cleaning:health")
