"""Access checks for views and API views. Every page names the roles it admits."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from annotator.accounts.roles import Role, user_has_role

ViewFunc = Callable[..., HttpResponseBase]


def role_required(*roles: Role) -> Callable[[ViewFunc], ViewFunc]:
    """Anonymous users go to the login page; logged-in users without the role get 403."""

    def decorator(view: ViewFunc) -> ViewFunc:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not user_has_role(request.user, *roles):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        wrapped.allowed_roles = roles  # type: ignore[attr-defined]
        return wrapped

    return decorator


def HasRole(*roles: Role) -> type[BasePermission]:  # noqa: N802 - reads like a class in permission_classes
    class _HasRole(BasePermission):
        allowed_roles = roles

        def has_permission(self, request: Request, view: APIView) -> bool:
            return bool(request.user and request.user.is_authenticated and user_has_role(request.user, *roles))

    _HasRole.__name__ = "HasRole_" + "_".join(str(r) for r in roles)
    return _HasRole


ANY_ROLE = (Role.ANNOTATOR, Role.QA_LEAD, Role.ADMIN)
STAFF_ROLES = (Role.QA_LEAD, Role.ADMIN)
