"""Modeling pages: jobs (list, start, live progress, cancel / resume), versions, comparison, profiles.

Every role reads; only admins start, cancel or resume jobs and save profiles. Pages render
server-side; live parts poll the JSON API in apis.py (static/js/modeling_*.js).
"""

from __future__ import annotations

from typing import cast

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotator.accounts.access import ANY_ROLE, role_required
from annotator.accounts.roles import Role, user_has_role
from annotator.dataset.models import Snapshot
from annotator.modeling.models import JOB_STALE_AFTER, Job, ModelVersion
from annotator.modeling.selectors import (
    job_get_for_user,
    jobs_page,
    profile_export,
    profile_get_for_user,
    version_get_for_user,
    version_label_rows,
    versions_compare,
    versions_list,
)
from annotator.modeling.services import (
    JobInputError,
    JobRequest,
    job_cancel,
    job_resume,
    job_start,
    jobs_reap,
)

#: Backbones offered in the form (any torchvision classification model is accepted).
BACKBONE_CHOICES = ["resnet50", "resnet18", "resnet34", "resnet101", "efficientnet_b0", "convnext_tiny", "tiny_cnn"]
NEW_SNAPSHOT = "new"


class JobStartForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("Job"), choices=Job.Kind.choices, initial=Job.Kind.TRAIN)
    snapshot = forms.ChoiceField(label=gettext_lazy("Snapshot"), required=False)
    recipe = forms.ChoiceField(label=gettext_lazy("Recipe"), choices=Job.Recipe.choices, initial="baseline")
    backbone = forms.CharField(label=gettext_lazy("Backbone"), max_length=60, required=False, initial="resnet50")
    epochs = forms.IntegerField(label=gettext_lazy("Epochs"), min_value=1, max_value=1000, required=False, initial=20)
    custom_yaml = forms.CharField(
        label=gettext_lazy("Custom settings (YAML)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false", "placeholder": "lr: 0.01\nimage_size: 160"}),
        help_text=gettext_lazy("Any key of the training configuration; checked before the job is queued."),
    )
    version = forms.ChoiceField(label=gettext_lazy("Model version (re-predict)"), required=False)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        snapshots = Snapshot.objects.order_by("-id")[:50]
        snapshot_choices = [(NEW_SNAPSHOT, _("Make one now (the dataset as it is)"))] + [
            (str(s.pk), f"#{s.pk} · {s.created_at:%Y-%m-%d %H:%M} · {s.image_count} · {s.note}") for s in snapshots
        ]
        versions = ModelVersion.objects.only("id", "name", "map").order_by("-major", "-minor")[:100]
        version_choices = [("", "—")] + [(str(v.pk), v.name) for v in versions]
        cast(forms.ChoiceField, self.fields["snapshot"]).choices = snapshot_choices
        cast(forms.ChoiceField, self.fields["version"]).choices = version_choices

    def job_request(self) -> JobRequest:
        data = self.cleaned_data
        snapshot = data.get("snapshot") or ""
        return JobRequest(
            kind=data["kind"],
            snapshot_id=int(snapshot) if snapshot.isdigit() else None,
            make_snapshot=snapshot == NEW_SNAPSHOT,
            recipe=data.get("recipe") or "baseline",
            backbone=(data.get("backbone") or "").strip(),
            epochs=data.get("epochs"),
            custom_yaml=data.get("custom_yaml") or "",
            version_id=int(data["version"]) if data.get("version") else None,
        )


def _is_admin(request: HttpRequest) -> bool:
    return user_has_role(request.user, Role.ADMIN)


@role_required(*ANY_ROLE)
def job_list(request: HttpRequest) -> HttpResponse:
    jobs_reap()
    page = jobs_page(user=request.user, page=request.GET.get("page"))
    return render(request, "modeling/job_list.html", {"page": page, "jobs": page.object_list})


@role_required(Role.ADMIN)
@require_http_methods(["GET", "HEAD", "POST"])
def job_new(request: HttpRequest) -> HttpResponse:
    """The start form; a valid POST validates the config, creates the job and queues it."""
    initial = {key: request.GET[key] for key in ("kind", "version") if key in request.GET}
    form = JobStartForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            job = job_start(user=request.user, request=form.job_request())
        except JobInputError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, str(exc))
        else:
            messages.success(request, _("Job %(id)d queued.") % {"id": job.id})
            return redirect("modeling:job_detail", job_id=job.id)
    status = 400 if form.errors else 200
    return render(request, "modeling/job_new.html", {"form": form}, status=status)


@role_required(*ANY_ROLE)
@require_GET
def job_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    jobs_reap()  # a killed worker's job shows as failed as soon as anyone looks
    job = job_get_for_user(user=request.user, job_id=job_id)
    version = ModelVersion.objects.defer("pr_curves").filter(job=job).first()
    context = {
        "job": job,
        "result_version": version,
        "is_admin": _is_admin(request),
        "stale_seconds": int(JOB_STALE_AFTER.total_seconds()),
        "ablation_rows": [{**row, "p_at_r05": row.get("P@R0.5")} for row in (job.results or {}).get("rows", [])]
        if job.kind == Job.Kind.ABLATE
        else [],
    }
    return render(request, "modeling/job_detail.html", context)


@role_required(Role.ADMIN)
@require_POST
def job_action(request: HttpRequest, job_id: int) -> HttpResponse:
    """POST ``action=cancel`` or ``action=resume``; redirects back to the job page."""
    job = job_get_for_user(user=request.user, job_id=job_id)
    action = request.POST.get("action")
    if action == "cancel":
        outcome = job_cancel(job_id=job.id)
        if outcome == "cancelled":
            messages.success(request, _("Job %(id)d cancelled before it started.") % {"id": job.id})
        elif outcome == "requested":
            messages.info(request, _("Job %(id)d stops at its next progress report.") % {"id": job.id})
        else:
            messages.warning(request, _("Job %(id)d has already finished.") % {"id": job.id})
    elif action == "resume":
        if job_resume(job_id=job.id):
            messages.success(
                request, _("Job %(id)d queued again; it continues from its last checkpoint.") % {"id": job.id}
            )
        else:
            messages.warning(request, _("Only a failed or cancelled job can be resumed."))
    else:
        return HttpResponseBadRequest("unknown action")
    return redirect("modeling:job_detail", job_id=job.id)


@role_required(*ANY_ROLE)
def version_list(request: HttpRequest) -> HttpResponse:
    versions = versions_list(user=request.user)
    return render(request, "modeling/version_list.html", {"versions": versions, "is_admin": _is_admin(request)})


@role_required(*ANY_ROLE)
def version_detail(request: HttpRequest, version_id: int) -> HttpResponse:
    version = version_get_for_user(user=request.user, version_id=version_id)
    context = {
        "version": version,
        "rows": version_label_rows(version),
        "profiles": list(version.profiles.order_by("name")),
        "is_admin": _is_admin(request),
        "predict_jobs": list(version.jobs.filter(kind=Job.Kind.PREDICT).order_by("-id")[:5]),
    }
    return render(request, "modeling/version_detail.html", context)


@role_required(*ANY_ROLE)
def version_compare(request: HttpRequest) -> HttpResponse:
    """Two versions side by side: ``?a=<id>&b=<id>`` (b − a); defaults to the latest and its parent."""
    versions = versions_list(user=request.user)
    by_id = {str(v.pk): v for v in versions}
    b = by_id.get(request.GET.get("b", "")) or (versions[0] if versions else None)
    a = by_id.get(request.GET.get("a", "")) or (b.parent if b is not None and b.parent else None)
    if a is None and len(versions) > 1:
        a = versions[1]
    comparison = None
    if a is not None and b is not None:
        a_full = version_get_for_user(user=request.user, version_id=a.pk)
        b_full = version_get_for_user(user=request.user, version_id=b.pk)
        comparison = versions_compare(a=a_full, b=b_full)
    context = {"versions": versions, "a": a, "b": b, "comparison": comparison}
    return render(request, "modeling/version_compare.html", context)


@role_required(*ANY_ROLE)
def profile_download(request: HttpRequest, profile_id: int) -> HttpResponse:
    """The profile as a thresholds.json file (training's layout)."""
    profile = profile_get_for_user(user=request.user, profile_id=profile_id)
    document = profile_export(profile)
    response = JsonResponse(document, json_dumps_params={"ensure_ascii": False, "indent": 2})
    filename = f"thresholds-{profile.version.name}-{profile.name}.json"
    safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in filename)
    response["Content-Disposition"] = f'attachment; filename="{safe}"'
    return response
