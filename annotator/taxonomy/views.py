from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.accounts.access import ANY_ROLE, HasRole, role_required
from annotator.taxonomy.models import Label


@role_required(*ANY_ROLE)
def taxonomy_page(request: HttpRequest) -> HttpResponse:
    labels = Label.objects.select_related("parent").order_by("key")
    return render(request, "taxonomy/index.html", {"labels": labels})


class LabelOutputSerializer(serializers.ModelSerializer):
    parent = serializers.SlugRelatedField(slug_field="key", read_only=True)

    class Meta:
        model = Label
        fields = ["key", "name_en", "name_zh", "parent", "is_small_object", "is_active"]


class LabelListApi(APIView):
    permission_classes = [HasRole(*ANY_ROLE)]

    def get(self, request: Request) -> Response:
        labels = Label.objects.select_related("parent").order_by("key")
        return Response(LabelOutputSerializer(labels, many=True).data)
