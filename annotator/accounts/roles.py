"""The three roles of LabelLoop, held as Django groups.

An admin may do everything a QA lead may; a QA lead may read what annotators
produce. Superusers count as admins.

Every request needs the user's roles and language; reading them from the database each
time (two queries) is a sizeable part of a cleaning decision's cost. They are cached per
process, keyed by user id, and checked against a version number held in Redis that any
change of a user's groups, superuser flag or profile bumps (at once and again when the
transaction commits), so every process sees such a change on its next request. When Redis
cannot be reached the roles are read from the database.
"""

from __future__ import annotations

import contextlib
import threading
from enum import StrEnum
from typing import Any

import redis
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group
from django.contrib.auth.signals import user_logged_in
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

ROLES_VERSION_KEY = "labelloop:accounts:roles_version"


class Role(StrEnum):
    ANNOTATOR = "annotator"
    QA_LEAD = "qa_lead"
    ADMIN = "admin"


ROLE_GROUP_NAMES = {Role.ANNOTATOR: "Annotators", Role.QA_LEAD: "QA leads", Role.ADMIN: "Admins"}

_cache: dict[int, tuple[bytes, frozenset[Role], str | None]] = {}
_cache_lock = threading.Lock()
_redis: redis.Redis | None = None


def _redis_client() -> redis.Redis:
    global _redis
    if _redis is None:
        _redis = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=0.5, socket_connect_timeout=0.5)
    return _redis


def _version() -> bytes | None:
    try:
        value = _redis_client().get(ROLES_VERSION_KEY)
    except redis.RedisError:
        return None
    return value if isinstance(value, bytes) else b"0"


def roles_version_bump() -> None:
    """Make every process read roles and languages again (called by the signal handlers)."""

    def bump() -> None:
        with _cache_lock:
            _cache.clear()
        with contextlib.suppress(redis.RedisError):
            _redis_client().incr(ROLES_VERSION_KEY)

    bump()
    transaction.on_commit(bump)  # readers in between may have cached the old rows


def _read(user: Any) -> tuple[frozenset[Role], str | None]:
    from annotator.accounts.models import Profile

    roles: set[Role] = set()
    if getattr(user, "is_superuser", False):
        roles.add(Role.ADMIN)
    names = set(user.groups.values_list("name", flat=True))
    for role, group_name in ROLE_GROUP_NAMES.items():
        if group_name in names:
            roles.add(role)
    language = Profile.objects.filter(user_id=user.pk).values_list("language", flat=True).first()
    return frozenset(roles), language


def user_roles_and_language(user: Any) -> tuple[frozenset[Role], str | None]:
    """The user's roles and chosen language (None: none chosen), cached as the module says."""
    cached = getattr(user, "_labelloop_roles_language", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    version = _version()
    entry = _cache.get(user.pk) if version is not None else None
    if entry is not None and entry[0] == version and getattr(user, "is_superuser", False) == (Role.ADMIN in entry[1]):
        result = (entry[1], entry[2])
    else:
        result = _read(user)
        if version is not None:
            with _cache_lock:
                _cache[user.pk] = (version, result[0], result[1])
    user._labelloop_roles_language = result
    return result


def user_roles(user: AbstractBaseUser | AnonymousUser) -> set[Role]:
    if not user.is_authenticated:
        return set()
    return set(user_roles_and_language(user)[0])


def user_has_role(user: AbstractBaseUser | AnonymousUser, *allowed: Role) -> bool:
    """True when the user holds any of ``allowed``; admins pass every check."""
    roles = user_roles(user)
    return Role.ADMIN in roles or bool(roles.intersection(allowed))


def role_groups_ensure() -> dict[Role, Group]:
    return {role: Group.objects.get_or_create(name=name)[0] for role, name in ROLE_GROUP_NAMES.items()}


def _on_user_saved(sender: Any, update_fields: Any = None, **kwargs: Any) -> None:
    if update_fields is not None and "is_superuser" not in update_fields:
        return  # e.g. last_login on every login
    roles_version_bump()


def _on_groups_changed(sender: Any, action: str, **kwargs: Any) -> None:
    from django.contrib.auth import get_user_model

    if sender is get_user_model().groups.through and action in ("post_add", "post_remove", "post_clear"):
        roles_version_bump()


def _on_changed(sender: Any, **kwargs: Any) -> None:
    roles_version_bump()


def _on_logged_in(sender: Any, user: Any, **kwargs: Any) -> None:
    """Read the roles at login, so that the first pages cost what the later ones do."""
    if user is not None and getattr(user, "pk", None) is not None:
        user_roles_and_language(user)


user_logged_in.connect(_on_logged_in, dispatch_uid="labelloop_roles_login")
post_save.connect(_on_user_saved, sender=settings.AUTH_USER_MODEL, dispatch_uid="labelloop_roles_user")
post_delete.connect(_on_changed, sender=settings.AUTH_USER_MODEL, dispatch_uid="labelloop_roles_user_del")
post_save.connect(_on_changed, sender="accounts.Profile", dispatch_uid="labelloop_roles_profile")
post_delete.connect(_on_changed, sender="accounts.Profile", dispatch_uid="labelloop_roles_profile_del")
post_save.connect(_on_changed, sender="auth.Group", dispatch_uid="labelloop_roles_group")
post_delete.connect(_on_changed, sender="auth.Group", dispatch_uid="labelloop_roles_group_del")
m2m_changed.connect(_on_groups_changed, dispatch_uid="labelloop_roles_groups")
