from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.accounts.access import HasRole, role_required
from annotator.accounts.roles import Role
from annotator.dataset.models import ImportJob, Snapshot


@role_required(Role.ADMIN)
def import_list(request: HttpRequest) -> HttpResponse:
    return render(request, "dataset/import_list.html", {"jobs": ImportJob.objects.all()[:100]})


@role_required(Role.ADMIN)
def import_new(request: HttpRequest) -> HttpResponse:
    return render(request, "dataset/import_new.html", {})


@role_required(Role.ADMIN)
def import_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    job = get_object_or_404(ImportJob, pk=job_id)
    return render(request, "dataset/import_detail.html", {"job": job})


class ImportJobOutputSerializer(serializers.ModelSerializer):
    percent = serializers.IntegerField(read_only=True)

    class Meta:
        model = ImportJob
        fields = ["id", "kind", "status", "phase", "progress_done", "progress_total", "percent", "counts", "error"]


class ImportJobApi(APIView):
    permission_classes = [HasRole(Role.ADMIN)]

    def get(self, request: Request, job_id: int) -> Response:
        job = get_object_or_404(ImportJob, pk=job_id)
        return Response(ImportJobOutputSerializer(job).data)


@role_required(Role.ADMIN)
def snapshot_list(request: HttpRequest) -> HttpResponse:
    return render(request, "dataset/snapshot_list.html", {"snapshots": Snapshot.objects.all()[:100]})
