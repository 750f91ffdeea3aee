"""Editing the taxonomy in Django admin is validated like a file load."""

from __future__ import annotations

import pytest
from django.urls import reverse

from annotator.taxonomy.models import Label, LabelRelation

pytestmark = pytest.mark.django_db


def _label_form(label: Label, **changes: object) -> dict[str, object]:
    data = {
        "key": label.key,
        "name_en": label.name_en,
        "name_zh": label.name_zh,
        "parent": label.parent_id or "",
        "guideline": label.guideline,
        "examples-TOTAL_FORMS": "0",
        "examples-INITIAL_FORMS": "0",
        "examples-MIN_NUM_FORMS": "0",
        "examples-MAX_NUM_FORMS": "1000",
    }
    if label.is_active:
        data["is_active"] = "on"
    data.update(changes)
    return data


def test_the_admin_change_form_refuses_a_parent_cycle(taxonomy, admin_client_):
    animal = Label.objects.get(key="animal")
    fold = Label.objects.get(key="fold_eared_cat")
    url = reverse("admin:taxonomy_label_change", args=[animal.pk])
    response = admin_client_.post(url, _label_form(animal, parent=fold.pk))
    assert response.status_code == 200  # the form again, with the error
    assert "cycle in the parent tree" in response.content.decode()
    animal.refresh_from_db()
    assert animal.parent is None


def test_the_admin_change_form_saves_a_valid_parent(taxonomy, admin_client_):
    dog = Label.objects.get(key="dog")
    url = reverse("admin:taxonomy_label_change", args=[dog.pk])
    response = admin_client_.post(url, _label_form(dog, parent=Label.objects.get(key="object").pk))
    assert response.status_code == 302
    dog.refresh_from_db()
    assert dog.parent.key == "object"


def test_the_admin_refuses_a_relation_that_breaks_a_rule(taxonomy, admin_client_):
    url = reverse("admin:taxonomy_labelrelation_add")
    keys = dict(Label.objects.values_list("key", "id"))
    for kind, src, dst, expected in [
        ("implies", "tree", "forest", "cycle in implies"),
        ("excludes", "cat", "animal", "animal and cat exclude each other"),
        ("excludes", "outdoor", "indoor", "already recorded as indoor excludes outdoor"),
    ]:
        response = admin_client_.post(url, {"kind": kind, "src": keys[src], "dst": keys[dst], "note": ""})
        assert response.status_code == 200
        assert expected in response.content.decode()
    assert LabelRelation.objects.count() == 4
    response = admin_client_.post(url, {"kind": "overlaps", "src": keys["cat"], "dst": keys["dog"], "note": ""})
    assert response.status_code == 302
    assert LabelRelation.objects.count() == 5


def test_the_admin_lists_searches_and_filters_by_category(taxonomy, admin_client_):
    changelist = reverse("admin:taxonomy_label_changelist")
    assert admin_client_.get(changelist, {"q": "折耳"}).context["cl"].result_count == 1
    by_root = admin_client_.get(changelist, {"root": "animal"}).context["cl"]
    assert {label.key for label in by_root.result_list} == {"animal", "cat", "fold_eared_cat", "dog"}
    assert admin_client_.get(changelist, {"is_small_object__exact": "1"}).context["cl"].result_count == 1
    assert admin_client_.get(reverse("admin:taxonomy_externallabelmapping_changelist")).status_code == 200


def test_the_admin_adds_a_label_under_a_category(taxonomy, admin_client_):
    url = reverse("admin:taxonomy_label_add")
    form = _label_form(Label(key="bird", name_en="Bird", name_zh="鸟"), parent=Label.objects.get(key="animal").pk)
    response = admin_client_.post(url, form)
    assert response.status_code == 302
    assert Label.objects.get(key="bird").parent.key == "animal"
