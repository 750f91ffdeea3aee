"""Cleaning pages: the queue list, the review page, a queue's read view, the image page and file."""

from __future__ import annotations

import mimetypes
from pathlib import Path

from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from annotator.accounts.access import ANY_ROLE, STAFF_ROLES, role_required
from annotator.accounts.roles import Role, user_has_role
from annotator.cleaning.apis import VERDICTS, lease_payload
from annotator.cleaning.leases import lease_current_or_take, lease_seconds
from annotator.cleaning.selectors import (
    image_detail_get,
    image_get_for_user,
    label_get_for_user,
    queue_items_page,
    queue_rows,
)
from annotator.taxonomy.selectors import guideline_example_rows
from annotator.taxonomy.services import label_guideline_html


@role_required(*ANY_ROLE)
def queue_list(request: HttpRequest) -> HttpResponse:
    return render(request, "cleaning/queues.html", {"rows": queue_rows(user=request.user)})


@role_required(*ANY_ROLE)
def review(request: HttpRequest, key: str) -> HttpResponse:
    """The page annotators live in: one label's batch as a grid, keyboard first (static/js/review.js)."""
    label = label_get_for_user(user=request.user, key=key)
    lease = lease_current_or_take(user=request.user, label=label)
    examples = guideline_example_rows(label_ids=[label.pk]).get(label.pk, [])
    return render(
        request,
        "cleaning/review.html",
        {
            "label": label,
            "batch": lease_payload(lease=lease, user=request.user),
            "guideline_html": label_guideline_html(label),
            "examples": [
                {"kind": kind, "caption": caption, "upload": upload}
                for kind, caption, _hash, upload in examples
                if upload  # dataset images come below, through the access-checked original view
            ],
            "example_images": list(
                label.examples.filter(image__isnull=False).values_list("kind", "caption", "image_id")
            ),
            "renew_ms": max(5_000, min(60_000, lease_seconds() * 1000 // 3)),
            "verdicts": list(VERDICTS),
            "is_staff": user_has_role(request.user, Role.QA_LEAD),
            "media_url": settings.MEDIA_URL,
        },
    )


@role_required(*STAFF_ROLES)
def queue_read(request: HttpRequest, key: str) -> HttpResponse:
    label = label_get_for_user(user=request.user, key=key)
    status = request.GET.get("status") or None
    page = queue_items_page(user=request.user, label=label, status=status, page=request.GET.get("page"))
    return render(request, "cleaning/queue_read.html", {"label": label, "page": page, "status": status})


@role_required(*ANY_ROLE)
def image_detail(request: HttpRequest, image_id: int) -> HttpResponse:
    image = image_get_for_user(user=request.user, image_id=image_id)
    detail = image_detail_get(image=image, user=request.user)
    return render(
        request,
        "cleaning/review_image.html",
        {
            "image": image,
            "detail": detail,
            "original_url": reverse("cleaning:image_original", args=[image.pk]),
            "add_url": reverse("cleaning:api_image_label_add", args=[image.pk]),
            "search_url": reverse("taxonomy:api_labels"),
            "back": request.GET.get("back", ""),
        },
    )


@role_required(*ANY_ROLE)
def image_original(request: HttpRequest, image_id: int) -> FileResponse:
    """The image file itself, to whoever may open the image; never a path outside its storage root."""
    image = image_get_for_user(user=request.user, image_id=image_id)
    root = Path(image.storage_root).resolve()
    path = (root / image.relative_path).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise Http404("the image file is missing")
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    response = FileResponse(path.open("rb"), content_type=content_type)
    # Content-addressed (the file is checked against its hash at import), so it may be cached
    # by this browser for long; "private": only people who may see it ever get it.
    response["Cache-Control"] = "private, max-age=86400"
    return response
