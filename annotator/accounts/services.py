"""Writes on users: demo users, language choice."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction

from annotator.accounts.models import Profile
from annotator.accounts.roles import Role, role_groups_ensure

DEMO_PASSWORD = "labelloop-demo"


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: Role
    password: str


DEMO_USERS = (
    DemoUser("annotator", Role.ANNOTATOR, DEMO_PASSWORD),
    DemoUser("qalead", Role.QA_LEAD, DEMO_PASSWORD),
    DemoUser("admin", Role.ADMIN, DEMO_PASSWORD),
)


@transaction.atomic
def user_create_with_role(*, username: str, password: str, role: Role, language: str = "en") -> object:
    groups = role_groups_ensure()
    user_model = get_user_model()
    user, _ = user_model.objects.get_or_create(username=username)
    user.set_password(password)
    # Admins may open Django admin to edit the taxonomy and mappings.
    user.is_staff = role == Role.ADMIN
    user.save()
    user.groups.add(groups[role])
    Profile.objects.update_or_create(user=user, defaults={"language": language})
    return user


def demo_users_ensure() -> list[DemoUser]:
    """Create the demo users once; an existing user keeps the password it has."""
    user_model = get_user_model()
    created = []
    for demo in DEMO_USERS:
        if not user_model.objects.filter(username=demo.username).exists():
            user_create_with_role(username=demo.username, password=demo.password, role=demo.role)
            created.append(demo)
    return created


def user_language_set(*, user: object, language: str) -> None:
    Profile.objects.update_or_create(user=user, defaults={"language": language})
