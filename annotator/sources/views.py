"""Pages of the competitor sources: overview and jobs, job progress, mapping, unmapped report.

Admins start jobs and edit the mapping; QA leads read the overview, job pages and the
unmapped report. Job progress is polled from ``FetchJobApi`` by static/js/sources_job.js.
No page ever shows a key, a secret or a token: only whether a provider is configured.
"""

from __future__ import annotations

import io
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST
from PIL import Image as PILImage

from annotator.accounts.access import role_required
from annotator.accounts.roles import Role, user_has_role
from annotator.sources import selectors, services
from annotator.sources.config import PROVIDERS
from annotator.sources.models import FetchJob, Provider
from annotator.sources.selectors import READERS
from annotator.taxonomy.models import Label

THUMB_SIZE = 160

COUNT_LABELS = {
    "images": gettext_lazy("images sent or tried"),
    "answered": gettext_lazy("answered"),
    "keywords": gettext_lazy("keywords received"),
    "evidence": gettext_lazy("labels mapped (evidence)"),
    "image_errors": gettext_lazy("images refused by the provider"),
    "failed": gettext_lazy("no answer after retries (tried again by the next job)"),
    "unreadable": gettext_lazy("image files that could not be read"),
    "not_sent": gettext_lazy("stopped before sending"),
}


def count_rows(job: FetchJob) -> list[tuple[str, str, int]]:
    order = list(COUNT_LABELS)
    names = sorted(job.counts or {}, key=lambda n: (order.index(n) if n in order else len(order), n))
    return [(name, str(COUNT_LABELS.get(name, name)), int(job.counts[name])) for name in names]


def _provider_arg(request: HttpRequest) -> str:
    provider = request.POST.get("provider") or request.GET.get("provider") or PROVIDERS[0]
    return provider if provider in PROVIDERS else PROVIDERS[0]


@role_required(*READERS)
def index(request: HttpRequest) -> HttpResponse:
    context = {
        "providers": selectors.providers_overview(user=request.user, now=timezone.now()),
        "jobs": selectors.fetch_jobs_recent(user=request.user),
        "labels": Label.objects.filter(is_active=True).order_by("key").only("key", "name_en", "name_zh")
        if user_has_role(request.user, Role.ADMIN)
        else [],
    }
    return render(request, "sources/index.html", context)


@role_required(Role.ADMIN)
@require_POST
def job_new(request: HttpRequest) -> HttpResponse:
    """Start a fetch job: provider, optional label (its queue), and whether to fetch again."""
    provider = request.POST.get("provider", "")
    label_key = request.POST.get("label", "").strip()
    label = None
    if label_key:
        label = Label.objects.filter(key=label_key).first()
        if label is None:
            messages.error(request, _("No label with the key “%(key)s”.") % {"key": label_key})
            return redirect("sources:index")
    try:
        job = services.fetch_job_create(
            provider=provider, label=label, refetch=request.POST.get("refetch") == "on", user=request.user
        )
    except services.SourceError as exc:
        messages.error(request, str(exc))
        return redirect("sources:index")
    return redirect("sources:job_detail", job_id=job.id)


@role_required(*READERS)
def job_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    job = selectors.fetch_job_get_for_user(user=request.user, job_id=job_id)
    stale = job.status == FetchJob.Status.RUNNING and (
        job.heartbeat_at is None or job.heartbeat_at < timezone.now() - services.FETCH_STALE_AFTER
    )
    context = {
        "job": job,
        "counts": count_rows(job),
        "message": selectors.fetch_job_message(job),
        "requeueable": job.status in (FetchJob.Status.PAUSED, FetchJob.Status.FAILED) or stale,
        "is_admin": user_has_role(request.user, Role.ADMIN),
    }
    return render(request, "sources/job_detail.html", context)


@role_required(Role.ADMIN)
@require_POST
def job_requeue(request: HttpRequest, job_id: int) -> HttpResponse:
    job = selectors.fetch_job_get_for_user(user=request.user, job_id=job_id)
    if services.provider_paused_until(provider=job.provider) is not None:
        messages.warning(request, _("The provider is still paused; the job can be queued again once the pause ends."))
    elif services.fetch_job_requeue(job_id=job.id):
        messages.success(request, _("Job %(id)d queued again.") % {"id": job.id})
    else:
        messages.warning(request, _("Only a paused or failed job, or one whose worker was lost, can be queued again."))
    return redirect("sources:job_detail", job_id=job.id)


@role_required(Role.ADMIN)
@require_POST
def remap(request: HttpRequest) -> HttpResponse:
    provider = request.POST.get("provider", "")
    if provider not in PROVIDERS:
        messages.error(request, _("Unknown provider."))
    else:
        services.provider_remap_enqueue(provider=provider)
        messages.info(
            request,
            _("Re-mapping the stored answers of %(provider)s; no new calls are made.")
            % {"provider": Provider(provider).label},
        )
    return redirect("sources:index")


def _back(request: HttpRequest, default: str) -> HttpResponseRedirect:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return HttpResponseRedirect(target)
    return HttpResponseRedirect(default)


@role_required(Role.ADMIN)
def mapping(request: HttpRequest) -> HttpResponse:
    """The provider's mapping rows; POST adds (or updates) one and re-maps stored answers."""
    provider = _provider_arg(request)
    here = f"{reverse('sources:mapping')}?provider={provider}"
    if request.method == "POST":
        label = Label.objects.filter(key=request.POST.get("label", "").strip()).first()
        try:
            if label is None:
                raise services.SourceError(_("Choose an existing label (by its key)."))
            try:
                min_score = float(request.POST.get("min_score") or 0)
            except ValueError:
                raise services.SourceError(_("The minimum score must be a number between 0 and 1.")) from None
            row = services.mapping_add(
                provider=provider,
                external_id=request.POST.get("external_id", ""),
                external_name=request.POST.get("external_name", ""),
                label=label,
                min_score=min_score,
            )
        except services.SourceError as exc:
            messages.error(request, str(exc))
            return _back(request, here)
        messages.success(
            request,
            _("“%(keyword)s” now maps to %(label)s; the stored answers are being re-mapped.")
            % {"keyword": row.external_id, "label": label.key},
        )
        return _back(request, here)
    context = {
        "provider": provider,
        "providers": [(p, Provider(p).label) for p in PROVIDERS],
        "rows": [
            (row, images.get(row.external_id, 0))
            for images in [selectors.mapped_keyword_counts(provider=provider)]
            for row in selectors.mappings_for(user=request.user, provider=provider)
        ],
        "openimages_rows": selectors.openimages_mapping_count() if provider == "google" else 0,
        "labels": Label.objects.filter(is_active=True).order_by("key").only("key", "name_en", "name_zh"),
    }
    return render(request, "sources/mapping.html", context)


@role_required(Role.ADMIN)
@require_POST
def mapping_delete(request: HttpRequest, mapping_id: int) -> HttpResponse:
    if services.mapping_delete(mapping_id=mapping_id):
        messages.success(request, _("Mapping removed; the stored answers are being re-mapped."))
    else:
        messages.warning(request, _("No such mapping row."))
    return _back(request, reverse("sources:mapping"))


@role_required(*READERS)
def unmapped(request: HttpRequest) -> HttpResponse:
    provider = _provider_arg(request)
    rows, answered = selectors.unmapped_keywords(user=request.user, provider=provider)
    context = {
        "provider": provider,
        "providers": [(p, Provider(p).label) for p in PROVIDERS],
        "rows": rows,
        "answered": answered,
        "is_admin": user_has_role(request.user, Role.ADMIN),
        "labels": Label.objects.filter(is_active=True).order_by("key").only("key", "name_en", "name_zh")
        if user_has_role(request.user, Role.ADMIN)
        else [],
    }
    return render(request, "sources/unmapped.html", context)


@role_required(*READERS)
def image_thumb(request: HttpRequest, image_id: int) -> FileResponse:
    """A small JPEG of the image (cached under MEDIA_ROOT/thumbnails/sources), for the report."""
    image = selectors.image_get_for_reader(user=request.user, image_id=image_id)
    cached = (
        Path(settings.MEDIA_ROOT)
        / "thumbnails"
        / "sources"
        / image.content_hash[:2]
        / f"{image.content_hash}-{THUMB_SIZE}.jpg"
    )
    if not cached.exists():
        try:
            with PILImage.open(Path(image.storage_root) / image.relative_path) as opened:
                picture = opened.convert("RGB")
                picture.thumbnail((THUMB_SIZE, THUMB_SIZE))
                out = io.BytesIO()
                picture.save(out, "JPEG", quality=80)
        except OSError:
            from django.http import Http404

            raise Http404("image file unreadable") from None
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".tmp")
        tmp.write_bytes(out.getvalue())
        tmp.replace(cached)
    response = FileResponse(cached.open("rb"), content_type="image/jpeg")
    response["Cache-Control"] = "private, max-age=86400"
    return response
