"""Taxonomy pages (tree with search, label detail) and the label list API. Every role may read."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.accounts.access import ANY_ROLE, HasRole, role_required
from annotator.taxonomy.models import Label
from annotator.taxonomy.selectors import LABEL_SEARCH_LIMIT, label_detail_get, label_search, taxonomy_tree_rows
from annotator.taxonomy.services import label_guideline_html


@role_required(*ANY_ROLE)
def taxonomy_page(request: HttpRequest) -> HttpResponse:
    rows = taxonomy_tree_rows()
    return render(
        request,
        "taxonomy/index.html",
        {"rows": rows, "category_count": sum(1 for row in rows if row.depth == 0)},
    )


@role_required(*ANY_ROLE)
def label_detail(request: HttpRequest, key: str) -> HttpResponse:
    detail = label_detail_get(key=key)
    return render(
        request,
        "taxonomy/label_detail.html",
        {"detail": detail, "label": detail.label, "guideline_html": label_guideline_html(detail.label)},
    )


class LabelOutputSerializer(serializers.ModelSerializer):
    # "parent" is also Field.parent (the enclosing serializer) in the DRF stubs.
    parent = serializers.SlugRelatedField(slug_field="key", read_only=True)  # type: ignore[assignment,var-annotated]

    class Meta:
        model = Label
        fields = ["key", "name_en", "name_zh", "parent", "is_small_object", "is_active"]


class LabelListApi(APIView):
    """Every label, or with ``?q=`` the labels whose key or either name contains it
    (best matches first, at most LABEL_SEARCH_LIMIT): the "add a missing label" picker."""

    permission_classes = [HasRole(*ANY_ROLE)]

    def get(self, request: Request) -> Response:
        q = request.query_params.get("q", "")
        labels = label_search(q=q, limit=LABEL_SEARCH_LIMIT if q.strip() else None)
        return Response(LabelOutputSerializer(labels, many=True).data)
