"""The gold items page (QA leads and admins): what each gold item is, how it is answered."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from annotator.accounts.access import STAFF_ROLES, role_required
from annotator.audits.selectors_gold import gold_get_for_user, gold_rows
from annotator.audits.services.gold import gold_deactivate


@role_required(*STAFF_ROLES)
def gold_list(request: HttpRequest) -> HttpResponse:
    return render(request, "audits/gold.html", {"rows": gold_rows(user=request.user), "rate": settings.AUDIT_GOLD_RATE})


@role_required(*STAFF_ROLES)
@require_POST
def gold_deactivate_view(request: HttpRequest, gold_id: int) -> HttpResponse:
    gold = gold_get_for_user(user=request.user, gold_id=gold_id)
    gold_deactivate(user=request.user, gold=gold)
    messages.success(request, _("The gold item is no longer shown in batches."))
    return redirect("audits:gold")
