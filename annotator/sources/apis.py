"""JSON API of the competitor sources: the job progress the job page polls."""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.accounts.access import HasRole
from annotator.sources.models import FetchJob
from annotator.sources.selectors import READERS, fetch_job_get_for_user, fetch_job_message
from annotator.sources.views import count_rows


class FetchJobOutputSerializer(serializers.ModelSerializer):
    """Status, progress, counts (named in the reader's language) and the job's message."""

    percent = serializers.IntegerField(read_only=True)
    finished = serializers.BooleanField(read_only=True)
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    count_rows = serializers.SerializerMethodField()
    message = serializers.SerializerMethodField()

    class Meta:
        model = FetchJob
        fields = [
            "id",
            "provider",
            "status",
            "status_display",
            "finished",
            "phase",
            "progress_done",
            "progress_total",
            "percent",
            "counts",
            "count_rows",
            "message",
            "started_at",
            "finished_at",
        ]

    def get_message(self, job: FetchJob) -> str:
        return fetch_job_message(job)

    def get_count_rows(self, job: FetchJob) -> list[dict[str, object]]:
        return [{"name": name, "label": label, "value": value} for name, label, value in count_rows(job)]


class FetchJobApi(APIView):
    permission_classes = [HasRole(*READERS)]

    def get(self, request: Request, job_id: int) -> Response:
        job = fetch_job_get_for_user(user=request.user, job_id=job_id)
        return Response(FetchJobOutputSerializer(job).data)
