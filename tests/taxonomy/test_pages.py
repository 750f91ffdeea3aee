"""The taxonomy page, the label page and the label list API, for each persona."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from annotator.taxonomy.models import GuidelineExample, Label
from annotator.taxonomy.services import taxonomy_load

pytestmark = pytest.mark.django_db

INDEX = reverse("taxonomy:index")
API = reverse("taxonomy:api_labels")


def _detail(key: str) -> str:
    return reverse("taxonomy:label_detail", args=[key])


@pytest.mark.parametrize("persona", ["annotator_client", "qa_client", "admin_client_"])
def test_every_role_reads_the_taxonomy(request, taxonomy, persona):
    client = request.getfixturevalue(persona)
    for url in (INDEX, _detail("cat"), API):
        assert client.get(url).status_code == 200, url


def test_anonymous_is_sent_to_login(taxonomy):
    for url in (INDEX, _detail("cat")):
        response = Client().get(url)
        assert response.status_code == 302 and "/login/" in response["Location"]
    assert Client().get(API).status_code in (401, 403)


def test_an_outsider_is_refused(taxonomy, outsider_client):
    for url in (INDEX, _detail("cat"), API):
        assert outsider_client.get(url).status_code == 403, url


def test_the_tree_lists_every_label_with_names_badges_and_relations(taxonomy, annotator_client):
    html = annotator_client.get(INDEX).content.decode()
    for entry in taxonomy["labels"]:
        assert f'data-key="{entry["key"]}"' in html
        assert entry["name_zh"] in html
    assert 'data-name-en="Scottish fold cat"' in html and 'data-name-zh="折耳猫"' in html
    assert 'data-ancestors="animal cat"' in html  # the search keeps a match's ancestors visible
    assert 'style="--depth: 2"' in html
    assert 'id="taxonomy-search"' in html and "js/taxonomy.js" in html
    assert "small object" in html and "inactive" in html
    assert 'data-relation="implies"' in html and "→" in html and "⊘" in html and "≈" in html
    # categories first, each followed by its subtree
    assert html.index('data-key="animal"') < html.index('data-key="cat"') < html.index('data-key="fold_eared_cat"')
    assert html.index('data-key="fold_eared_cat"') < html.index('data-key="dog"') < html.index('data-key="art"')


def test_the_label_page_shows_guideline_closure_and_examples(taxonomy, annotator_client):
    GuidelineExample.objects.create(label=Label.objects.get(key="forest"), caption="a pine forest")
    cat = annotator_client.get(_detail("cat")).content.decode()
    assert "<strong>domestic</strong>" in cat
    forest = annotator_client.get(_detail("forest")).content.decode()
    closure = forest[forest.index('data-testid="label-closure"') : forest.index("</section>", forest.index("closure"))]
    for key in ("tree", "plant", "outdoor", "scene"):
        assert f'href="{_detail(key)}"' in closure
    assert "a pine forest" in forest


def test_an_unknown_label_is_not_found(annotator_client):
    assert annotator_client.get(_detail("unicorn")).status_code == 404


def _many_labels() -> None:
    labels = [{"key": f"leaf_{i}", "name_en": f"Leaf {i}", "parent": f"group_{i % 10}"} for i in range(200)]
    groups = [{"key": f"group_{i}", "name_en": f"Group {i}"} for i in range(10)]
    relations = [{"kind": "overlaps", "src": f"leaf_{i}", "dst": f"leaf_{i + 1}"} for i in range(0, 200, 2)]
    taxonomy_load(data={"labels": groups + labels, "relations": relations}, source="many.json")


def test_the_pages_make_a_fixed_number_of_queries(taxonomy, annotator_client, django_assert_max_num_queries):
    _many_labels()
    with django_assert_max_num_queries(8):
        assert annotator_client.get(INDEX).status_code == 200
    with django_assert_max_num_queries(12):
        assert annotator_client.get(_detail("leaf_4")).status_code == 200
    with django_assert_max_num_queries(6):
        assert annotator_client.get(API, {"q": "leaf"}).status_code == 200


def test_the_api_searches_key_english_and_chinese_names(taxonomy, annotator_client):
    def keys(q: str) -> list[str]:
        return [row["key"] for row in annotator_client.get(API, {"q": q}).json()]

    assert keys("fold") == ["fold_eared_cat"]
    assert keys("Scottish") == ["fold_eared_cat"]
    assert keys("猫") == ["cat", "fold_eared_cat"]
    assert keys("CAT")[0] == "cat"  # the exact key first
    assert keys("zzz") == []
    assert len(annotator_client.get(API).json()) == 16  # no q: every label
