"""The accuracy dashboard (QA leads and admins) and the feedback pages.

Dashboard, its CSV and a person's page are for QA leads and admins only; the feedback page
is for everyone, and shows the logged-in person's own figures (QA leads may pass
``?annotator=<id>`` to see someone else's, anyone else gets 403). Trend charts are drawn by
static/js/audit_trend.js from the points in data-* attributes.
"""

from __future__ import annotations

import csv
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from annotator.accounts.access import ANY_ROLE, STAFF_ROLES, role_required
from annotator.accounts.roles import Role, user_has_role
from annotator.audits.forms_dashboard import AccuracyRangeForm, range_form_bind
from annotator.audits.selectors import WEAKEST_MIN_AUDITS, accuracy_csv_rows, feedback_subject_for
from annotator.audits.selectors_dashboard import dashboard_for, mistakes_for, person_accuracy_for
from annotator.audits.selectors_gold import gold_accuracy_by_annotator, gold_accuracy_for


def _range(form: AccuracyRangeForm) -> dict[str, object]:
    return {key: form.cleaned_data[key] for key in ("start", "end", "period")}


@role_required(*STAFF_ROLES)
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    form = range_form_bind(request.GET)
    context: dict[str, object] = {
        "form": form,
        "target": settings.AUDIT_ACCURACY_TARGET,
        "weakest_min": WEAKEST_MIN_AUDITS,
    }
    if not form.is_valid():
        return render(request, "audits/dashboard.html", context, status=400)
    data = form.cleaned_data
    context |= {
        "board": dashboard_for(start=data["start"], end=data["end"], period=data["period"]),
        "gold_rows": gold_accuracy_by_annotator(start=data["start"], end=data["end"]),
        "range": _range(form),
    }
    return render(request, "audits/dashboard.html", context)


@role_required(*STAFF_ROLES)
@require_GET
def dashboard_csv(request: HttpRequest) -> HttpResponse:
    form = range_form_bind(request.GET)
    if not form.is_valid():
        errors = [str(error) for errors in form.errors.values() for error in errors]
        return HttpResponse("\n".join(errors) + "\n", status=400, content_type="text/plain; charset=utf-8")
    start, end, period = form.cleaned_data["start"], form.cleaned_data["end"], form.cleaned_data["period"]
    by_label = request.GET.get("by") == "label"
    name = f"accuracy_{start.isoformat()}_{end.isoformat()}_{period}{'_label' if by_label else ''}.csv"
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    writer = csv.writer(response)
    writer.writerows(accuracy_csv_rows(start=start, end=end, period=period, by_label=by_label))
    return response


def _person_page(request: HttpRequest, *, subject: Any, keep_annotator: str = "") -> HttpResponse:
    form = range_form_bind(request.GET)
    own = subject.pk == request.user.pk
    context: dict[str, object] = {"form": form, "subject": subject, "own": own, "keep_annotator": keep_annotator}
    if not form.is_valid():
        return render(request, "audits/person.html", context, status=400)
    data = form.cleaned_data
    person_id = int(subject.pk)
    context |= {
        "range": _range(form),
        "figures": person_accuracy_for(
            annotator_id=person_id, start=data["start"], end=data["end"], period=data["period"]
        ),
        "mistakes": mistakes_for(annotator_id=person_id, start=data["start"], end=data["end"]),
    }
    # Gold items stay unnoticeable to annotators: only QA leads and admins see gold accuracy.
    if user_has_role(request.user, Role.QA_LEAD):
        context["gold"] = gold_accuracy_for(user_id=person_id, start=data["start"], end=data["end"])
    return render(request, "audits/person.html", context)


@role_required(*STAFF_ROLES)
@require_GET
def annotator(request: HttpRequest, user_id: int) -> HttpResponse:
    subject = feedback_subject_for(user=request.user, annotator_id=user_id)
    return _person_page(request, subject=subject)


@role_required(*ANY_ROLE)
@require_GET
def feedback(request: HttpRequest) -> HttpResponse:
    raw = request.GET.get("annotator", "").strip()
    annotator_id: int | None = None
    if raw:
        try:
            annotator_id = int(raw)
        except ValueError:
            message = _("annotator: not a person's id.")
            return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")
    subject = feedback_subject_for(user=request.user, annotator_id=annotator_id)
    return _person_page(request, subject=subject, keep_annotator=raw if annotator_id is not None else "")
