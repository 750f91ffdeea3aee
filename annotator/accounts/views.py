from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import translation
from django.views.decorators.http import require_POST

from annotator.accounts.access import ANY_ROLE, role_required
from annotator.accounts.services import user_language_set
from annotator.dataset.selectors import dataset_overview


@role_required(*ANY_ROLE)
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html", {"overview": dataset_overview()})


@role_required(*ANY_ROLE)
@require_POST
def language_set(request: HttpRequest) -> HttpResponse:
    from django.conf import settings

    language = request.POST.get("language", "")
    if language in dict(settings.LANGUAGES):
        user_language_set(user=request.user, language=language)
        translation.activate(language)
    target = request.POST.get("next") or "/"
    if not target.startswith("/") or target.startswith("//"):
        target = "/"
    return redirect(target)


def healthz(request: HttpRequest) -> HttpResponse:  # public: says nothing but "up"
    """Liveness for load balancers and the run command: the database answers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"ok": True})


@role_required(*ANY_ROLE)
def media_serve(request: HttpRequest, path: str) -> HttpResponseBase:
    """Uploaded media (guideline examples, cached thumbnails), for logged-in team members only.

    Served by Django with long cache headers: the files are written once under a new name.
    """
    from django.conf import settings
    from django.views.static import serve

    response = serve(request, path, document_root=str(settings.MEDIA_ROOT))
    response["Cache-Control"] = "private, max-age=31536000, immutable"
    return response
