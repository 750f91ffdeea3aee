"""The three roles of LabelLoop, held as Django groups.

An admin may do everything a QA lead may; a QA lead may read what annotators
produce. Superusers count as admins.
"""

from __future__ import annotations

from enum import StrEnum

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group


class Role(StrEnum):
    ANNOTATOR = "annotator"
    QA_LEAD = "qa_lead"
    ADMIN = "admin"


ROLE_GROUP_NAMES = {Role.ANNOTATOR: "Annotators", Role.QA_LEAD: "QA leads", Role.ADMIN: "Admins"}


def user_roles(user: AbstractBaseUser | AnonymousUser) -> set[Role]:
    if not user.is_authenticated:
        return set()
    cached = getattr(user, "_labelloop_roles", None)
    if cached is not None:
        return set(cached)
    roles: set[Role] = set()
    if getattr(user, "is_superuser", False):
        roles.add(Role.ADMIN)
    names = set(user.groups.values_list("name", flat=True))  # type: ignore[union-attr,attr-defined]
    for role, group_name in ROLE_GROUP_NAMES.items():
        if group_name in names:
            roles.add(role)
    user._labelloop_roles = frozenset(roles)  # type: ignore[union-attr,attr-defined]
    return roles


def user_has_role(user: AbstractBaseUser | AnonymousUser, *allowed: Role) -> bool:
    """True when the user holds any of ``allowed``; admins pass every check."""
    roles = user_roles(user)
    return Role.ADMIN in roles or bool(roles.intersection(allowed))


def role_groups_ensure() -> dict[Role, Group]:
    return {role: Group.objects.get_or_create(name=name)[0] for role, name in ROLE_GROUP_NAMES.items()}
