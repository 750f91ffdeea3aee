"""Walk every URL pattern as each persona and as anonymous; check who gets in.

Each view declares the roles it admits (``role_required`` for pages, ``HasRole``
for API views). A view that declares nothing and is not in PUBLIC fails this
test, so no page can be added without deciding who may see it.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from annotator.accounts.roles import Role

PUBLIC = {"login", "logout", "healthz"}
EVERYONE = ("annotator", "qa_lead", "admin")
ADMINS = ("admin",)
# Who may open each page, written down here independently of the views' own declarations,
# so that loosening a view's check fails this test. A new URL must be added here.
EXPECTED: dict[str, tuple[str, ...]] = {
    "home": EVERYONE,
    "language_set": EVERYONE,
    "media": EVERYONE,
    "taxonomy:index": EVERYONE,
    "taxonomy:label_detail": EVERYONE,
    "taxonomy:api_labels": EVERYONE,
    "dataset:imports": ADMINS,
    "dataset:import_new": ADMINS,
    "dataset:import_detail": ADMINS,
    "dataset:api_import": ADMINS,
    "dataset:snapshots": ADMINS,
    "dataset:snapshot_new": ADMINS,
    "cleaning:queues": EVERYONE,
    "cleaning:review": EVERYONE,
    "cleaning:queue_read": ("qa_lead", "admin"),
    "cleaning:image_detail": EVERYONE,
    "cleaning:image_original": EVERYONE,
    "cleaning:api_lease_take": EVERYONE,
    "cleaning:api_lease_renew": EVERYONE,
    "cleaning:api_lease_release": EVERYONE,
    "cleaning:api_decision_record": EVERYONE,
    "cleaning:api_decision_undo": EVERYONE,
    "cleaning:api_image_label_add": EVERYONE,
    "cleaning:api_queue_rerank": ADMINS,
    "cleaning:health": ("qa_lead", "admin"),
    "cleaning:label_queue_open": ADMINS,
    "cleaning:thumbnail": EVERYONE,
    "cleaning:thumbnails_start": ADMINS,
    "cleaning:api_thumbnails": ADMINS,
    "sources:index": ("qa_lead", "admin"),
    "sources:job_new": ADMINS,
    "sources:job_detail": ("qa_lead", "admin"),
    "sources:job_requeue": ADMINS,
    "sources:api_job": ("qa_lead", "admin"),
    "sources:remap": ADMINS,
    "sources:mapping": ADMINS,
    "sources:mapping_delete": ADMINS,
    "sources:unmapped": ("qa_lead", "admin"),
    "sources:image_thumb": ("qa_lead", "admin"),
    "modeling:jobs": EVERYONE,
    "modeling:job_new": ADMINS,
    "modeling:job_detail": EVERYONE,
    "modeling:job_action": ADMINS,
    "modeling:versions": EVERYONE,
    "modeling:version_compare": EVERYONE,
    "modeling:version_detail": EVERYONE,
    "modeling:profile_export": EVERYONE,
    "modeling:api_jobs": EVERYONE,
    "modeling:api_job": EVERYONE,
    "modeling:api_job_cancel": ADMINS,
    "modeling:api_job_resume": ADMINS,
    "modeling:api_version_curves": EVERYONE,
    "modeling:api_version_profiles": EVERYONE,
    "audits:dashboard": ("qa_lead", "admin"),
    "audits:dashboard_csv": ("qa_lead", "admin"),
    "audits:annotator": ("qa_lead", "admin"),
    "audits:feedback": EVERYONE,
    "audits:index": ("qa_lead", "admin"),
    "audits:next": ("qa_lead", "admin"),
    "audits:item": ("qa_lead", "admin"),
    "audits:api_judge": ("qa_lead", "admin"),
    "audits:api_explain": ("qa_lead", "admin"),
    "audits:api_withdraw": ("qa_lead", "admin"),
    "audits:api_second_look": ("qa_lead", "admin"),
    "audits:api_gold_mark": ("qa_lead", "admin"),
    "audits:gold": ("qa_lead", "admin"),
    "audits:gold_deactivate": ("qa_lead", "admin"),
}
# Django admin guards itself (is_staff); only admins are staff.
ADMIN_NAMESPACE = "admin"
POST_ONLY = {"language_set", "dataset:snapshot_new"}
POST_ONLY |= {
    "cleaning:api_lease_take",
    "cleaning:api_lease_renew",
    "cleaning:api_lease_release",
    "cleaning:api_decision_record",
    "cleaning:api_decision_undo",
    "cleaning:api_image_label_add",
    "cleaning:api_queue_rerank",
    "cleaning:label_queue_open",
    "cleaning:thumbnails_start",
    "sources:job_new",
    "sources:job_requeue",
    "sources:remap",
    "sources:mapping_delete",
    "modeling:job_action",
    "modeling:api_job_cancel",
    "modeling:api_job_resume",
    "audits:api_judge",
    "audits:api_explain",
    "audits:api_withdraw",
    "audits:api_second_look",
    "audits:api_gold_mark",
    "audits:gold_deactivate",
}
PERSONAS = ("annotator", "qa_lead", "admin", "outsider")


def _walk(resolver: URLResolver, prefix: str = "", namespace: str = ""):
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            ns = entry.namespace or namespace
            yield from _walk(entry, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), namespace, entry


def _concrete(route: str) -> str | None:
    """Turn a route into a path, filling converters; None for regex-only admin routes."""
    path = route
    for conv, value in (("<int:", "1"), ("<str:", "x"), ("<slug:", "x"), ("<path:", "x")):
        while conv in path:
            start = path.index(conv)
            end = path.index(">", start)
            path = path[:start] + value + path[end + 1 :]
    if any(ch in path for ch in "^$(?\\"):
        return None
    return "/" + path


def _allowed_roles(pattern: URLPattern) -> tuple[Role, ...] | None:
    callback = pattern.callback
    roles = getattr(callback, "allowed_roles", None)
    if roles is not None:
        return tuple(roles)
    view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    if view_class is not None:
        for permission in getattr(view_class, "permission_classes", []):
            if getattr(permission, "allowed_roles", None) is not None:
                return tuple(permission.allowed_roles)
    return None


def _app_patterns():
    for route, namespace, pattern in _walk(get_resolver()):
        if namespace == ADMIN_NAMESPACE:
            continue
        path = _concrete(route)
        if path is None:
            continue
        yield (f"{namespace}:{pattern.name}" if namespace else pattern.name), path, pattern


def test_every_view_declares_its_roles():
    undeclared = [
        (name, path)
        for name, path, pattern in _app_patterns()
        if name not in PUBLIC and _allowed_roles(pattern) is None
    ]
    assert undeclared == [], f"views without a role check: {undeclared}"


def test_every_url_is_in_the_expected_table_and_declared_alike():
    seen = {name for name, _, _ in _app_patterns() if name not in PUBLIC}
    assert seen == set(EXPECTED), f"URLs missing from EXPECTED: {seen - set(EXPECTED)}; stale: {set(EXPECTED) - seen}"
    for name, _, pattern in _app_patterns():
        if name in PUBLIC:
            continue
        declared = {str(role) for role in _allowed_roles(pattern) or ()}
        # Admins pass every check, so a view may leave them out of its declaration.
        assert declared | {"admin"} == set(EXPECTED[name]) | {"admin"}, (name, declared, EXPECTED[name])


def _may_enter(persona: str, name: str) -> bool:
    return persona in EXPECTED[name]


@pytest.mark.django_db
def test_access_matrix(personas):
    checked = 0
    for name, path, _pattern in _app_patterns():
        if name in PUBLIC:
            continue
        is_api = "/api/" in path
        method = "post" if name in POST_ONLY else "get"

        anonymous = getattr(Client(), method)(path)
        if is_api:
            assert anonymous.status_code in (401, 403), (path, anonymous.status_code)
        else:
            assert anonymous.status_code == 302 and "/login/" in anonymous["Location"], (path, anonymous.status_code)

        for persona in PERSONAS:
            client = Client()
            client.force_login(personas[persona])
            response = getattr(client, method)(path)
            if _may_enter(persona, name):
                # In: the page answers (or says the object does not exist), never 401/403.
                assert response.status_code in (200, 302, 404), (persona, path, response.status_code)
                if response.status_code == 302:
                    assert "/login/" not in response["Location"], (persona, path)
            else:
                assert response.status_code == 403, (persona, path, response.status_code)
        checked += 1
    assert checked >= 5, "the URL walk found suspiciously few app views"


@pytest.mark.django_db
def test_django_admin_is_for_admins_only(personas):
    for persona in PERSONAS:
        client = Client()
        client.force_login(personas[persona])
        response = client.get("/admin/")
        if persona == "admin":
            assert response.status_code == 200
        else:
            assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_public_pages_answer_without_login(db):
    client = Client()
    assert client.get("/login/").status_code == 200
    assert client.get("/healthz").json() == {"ok": True}
