"""The thumbnail of an image, for every team role, cached by the browser for a year.

A thumbnail is named by its image's content hash and never changes, hence ``immutable`` and
an ETag from the hash: a browser that has it asks again at most with If-None-Match and gets
a 304. A missing thumbnail (the job has not reached the image yet) is made on the spot.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseNotModified
from django.http.response import HttpResponseBase
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.accounts.access import ANY_ROLE, HasRole, role_required
from annotator.accounts.roles import Role
from annotator.cleaning.thumbnails import (
    THUMBNAIL_CONTENT_TYPE,
    ThumbnailSourceError,
    thumbnail_etag,
    thumbnail_image_get_for_user,
    thumbnail_make,
    thumbnails_progress,
)

CACHE_CONTROL = "private, max-age=31536000, immutable"


@role_required(*ANY_ROLE)
@require_GET
def thumbnail(request: HttpRequest, image_id: int) -> HttpResponseBase:
    image = thumbnail_image_get_for_user(user=request.user, image_id=image_id)
    etag = thumbnail_etag(image.content_hash)
    if etag in request.headers.get("If-None-Match", ""):
        not_modified = HttpResponseNotModified()
        not_modified["ETag"] = etag
        not_modified["Cache-Control"] = CACHE_CONTROL
        return not_modified
    try:
        path, _made = thumbnail_make(image)
    except ThumbnailSourceError:
        # The original is gone or unreadable: say so briefly, and let nobody cache the answer.
        response = HttpResponse(_("The image file cannot be read."), status=404, content_type="text/plain")
        response["Cache-Control"] = "no-store"
        return response
    served: HttpResponseBase = FileResponse(path.open("rb"), content_type=THUMBNAIL_CONTENT_TYPE)
    served["Cache-Control"] = CACHE_CONTROL
    served["ETag"] = etag
    return served


@role_required(Role.ADMIN)
@require_POST
def thumbnails_start(request: HttpRequest) -> HttpResponse:
    """Admins: make every missing thumbnail (the Celery job); back to the label health page."""
    from annotator.cleaning.tasks_thumbnails import thumbnails_enqueue

    thumbnails_enqueue()
    messages.success(request, _("Thumbnails are being made; the progress is shown below."))
    return redirect("cleaning:health")


class ThumbnailProgressApi(APIView):
    """The thumbnail job's progress (admins), polled by the label health page."""

    permission_classes = [HasRole(Role.ADMIN)]

    def get(self, request: Request) -> Response:
        return Response(thumbnails_progress())
