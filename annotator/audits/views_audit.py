"""The QA lead's audit pages: the audits home (progress, drawing samples), the next item, the
audit page itself (templates/audits/item.html, static/js/audit.js)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from annotator.accounts.access import STAFF_ROLES, role_required
from annotator.audits.apis import AUDIT_VERDICTS, audit_payload
from annotator.audits.models import AuditItem, Reason
from annotator.audits.selectors import (
    audit_item_get_for_user,
    audit_progress,
    audit_progress_by_day,
    samples_recent,
)
from annotator.audits.services import SampleRefused, samples_draw_range
from annotator.audits.services.claims import audit_claim_next, audit_claim_renew
from annotator.audits.services.sampling import today_local
from annotator.taxonomy.selectors import guideline_example_rows
from annotator.taxonomy.services import label_guideline_html

#: Days of samples listed on the audits home.
RECENT_DAYS = 14


class DrawRangeForm(forms.Form):
    start = forms.DateField(label=gettext_lazy("From"), widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=gettext_lazy("To"), widget=forms.DateInput(attrs={"type": "date"}))


def _draw(request: HttpRequest, form: DrawRangeForm) -> bool:
    """Draw the form's range; report drawn and already-drawn days. False when refused."""
    try:
        drawn = samples_draw_range(start=form.cleaned_data["start"], end=form.cleaned_data["end"], user=request.user)
    except SampleRefused as refused:
        form.add_error(None, str(refused))
        return False
    created = [d.sample for d in drawn if d.created]
    existing = [d.sample for d in drawn if not d.created]
    if created:
        days = ", ".join(f"{s.day.isoformat()} ({s.size})" for s in created)
        messages.success(request, _("Samples drawn (day and items): %(days)s.") % {"days": days})
    if existing:
        days = ", ".join(s.day.isoformat() for s in existing)
        messages.info(request, _("Already drawn, left as they were: %(days)s.") % {"days": days})
    return True


@role_required(*STAFF_ROLES)
def index(request: HttpRequest) -> HttpResponse:
    """QA home: what is left to audit per day, the way in, and drawing the samples of a range."""
    yesterday = today_local() - timedelta(days=1)
    status_code = 200
    if request.method == "POST":
        form = DrawRangeForm(request.POST)
        if form.is_valid() and _draw(request, form):
            return redirect("audits:index")
        status_code = 400
    else:
        form = DrawRangeForm(initial={"start": yesterday, "end": yesterday})
    samples = samples_recent(limit=RECENT_DAYS)
    by_day = audit_progress_by_day(days=[sample.day for sample in samples])
    empty = {"pending": 0, "awaiting": 0, "done": 0, "second": 0}
    rows = [{"sample": sample, **by_day.get(sample.day, empty)} for sample in samples]
    return render(
        request,
        "audits/index.html",
        {"form": form, "rows": rows, "progress": audit_progress()},
        status=status_code,
    )


def _day_param(request: HttpRequest) -> date | None:
    try:
        return date.fromisoformat(request.GET.get("day", ""))
    except ValueError:
        return None


@role_required(*STAFF_ROLES)
def next_item(request: HttpRequest) -> HttpResponse:
    """The next item for this QA lead (optionally of one day), or a page saying there is none."""
    day = _day_param(request)
    item = audit_claim_next(user=request.user, day=day)
    if item is None:
        return render(request, "audits/nothing_left.html", {"day": day, "progress": audit_progress()})
    return redirect("audits:item", item_id=item.pk)


def _mode(item: AuditItem, user: Any) -> str:
    """judge / second: the user gives a blind verdict (nothing of the earlier ones is shown);
    busy: another QA lead is giving the reason (nothing shown: this user may be asked for the
    second look); reveal: everything is shown (the user judged already, or the item is settled)."""
    if item.status == AuditItem.Status.PENDING:
        return "judge"
    if item.status == AuditItem.Status.AWAITING_REASON and item.qa_user_id != user.pk:
        return "busy"
    if (
        item.status == AuditItem.Status.DONE
        and item.second_look_requested
        and item.second_verdict is None
        and item.qa_user_id != user.pk
    ):
        return "second"
    return "reveal"


@role_required(*STAFF_ROLES)
def item_page(request: HttpRequest, item_id: int) -> HttpResponse:
    """The audit page: image, label and guideline; blind verdict first (keys in static/js/audit.js)."""
    item = audit_item_get_for_user(user=request.user, item_id=item_id)
    label = item.label
    mode = _mode(item, request.user)
    if mode in ("judge", "second"):
        audit_claim_renew(user=request.user, item=item)
    examples = guideline_example_rows(label_ids=[label.pk]).get(label.pk, [])
    context: dict[str, Any] = {
        "item": item,
        "label": label,
        "label_name": label.name_zh if get_language().startswith("zh") and label.name_zh else label.name_en,
        "mode": mode,
        "guideline_html": label_guideline_html(label),
        "examples": [
            {"kind": kind, "caption": caption, "upload": upload} for kind, caption, _hash, upload in examples if upload
        ],
        "example_images": list(label.examples.filter(image__isnull=False).values_list("kind", "caption", "image_id")),
        "reasons": [(index, value, text) for index, (value, text) in enumerate(Reason.choices, start=1)],
        "verdicts": list(AUDIT_VERDICTS),
        "judge_url": reverse("audits:api_judge", args=[item.pk]),
        "second_url": reverse("audits:api_second_look", args=[item.pk]),
        "explain_url": reverse("audits:api_explain", args=[item.pk]),
        "withdraw_url": reverse("audits:api_withdraw", args=[item.pk]),
        "gold_url": reverse("audits:api_gold_mark", args=[item.pk]),
        "next_url": reverse("audits:next"),
        "left": audit_progress(day=item.day),
        "media_url": settings.MEDIA_URL,
    }
    if mode == "reveal":
        # Only now may the page carry the annotator's verdict and name.
        context["revealed"] = audit_payload(item=item, user=request.user)
    return render(request, "audits/item.html", context)
