"""JSON API of the modeling app: one view per operation, small serializers.

Reading (GET) is open to every role; starting, cancelling and resuming jobs and saving
threshold profiles are for admins only (403 otherwise, and nothing is queued).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.accounts.access import ANY_ROLE, HasRole
from annotator.accounts.roles import Role, user_has_role
from annotator.modeling.models import Job
from annotator.modeling.selectors import (
    job_get_for_user,
    jobs_page,
    version_get_for_user,
    version_label_rows,
)
from annotator.modeling.services import (
    JobInputError,
    JobRequest,
    job_cancel,
    job_resume,
    job_start,
    jobs_reap,
    profile_save,
)
from annotator.modeling.thresholds import target_check


def _require_admin(request: Request) -> None:
    if not user_has_role(request.user, Role.ADMIN):
        raise PermissionDenied


class JobOutputSerializer(serializers.ModelSerializer):
    """What the job page polls."""

    percent = serializers.IntegerField(read_only=True)
    finished = serializers.BooleanField(read_only=True)
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    kind_display = serializers.CharField(source="get_kind_display", read_only=True)
    version = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = [
            "id",
            "kind",
            "kind_display",
            "status",
            "status_display",
            "finished",
            "phase",
            "recipe",
            "backbone",
            "epochs",
            "epoch",
            "step",
            "steps_total",
            "progress_done",
            "progress_total",
            "percent",
            "loss",
            "lr",
            "images_per_s",
            "eta_s",
            "device",
            "log_tail",
            "error",
            "results",
            "version",
            "cancel_requested",
            "attempts",
            "created_at",
            "started_at",
            "finished_at",
            "heartbeat_at",
        ]

    def get_version(self, job: Job) -> str | None:
        return job.version.name if job.version_id and job.version else None


class JobStartInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Job.Kind.choices)
    snapshot = serializers.IntegerField(required=False, allow_null=True)
    make_snapshot = serializers.BooleanField(required=False, default=False)
    recipe = serializers.ChoiceField(choices=Job.Recipe.choices, required=False, default="baseline")
    backbone = serializers.CharField(required=False, allow_blank=True, default="", max_length=60)
    epochs = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=1000)
    custom_yaml = serializers.CharField(required=False, allow_blank=True, default="")
    version = serializers.IntegerField(required=False, allow_null=True)


class JobsApi(APIView):
    """GET: the newest jobs (every role). POST: start one (admins; 201 with the job)."""

    permission_classes = [HasRole(*ANY_ROLE)]

    def get(self, request: Request) -> Response:
        page = jobs_page(user=request.user, page=request.query_params.get("page"))
        return Response(
            {"results": JobOutputSerializer(page.object_list, many=True).data, "count": page.paginator.count}
        )

    def post(self, request: Request) -> Response:
        _require_admin(request)
        data = JobStartInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values: dict[str, Any] = data.validated_data
        try:
            job = job_start(
                user=request.user,
                request=JobRequest(
                    kind=values["kind"],
                    snapshot_id=values.get("snapshot"),
                    make_snapshot=values.get("make_snapshot", False),
                    recipe=values.get("recipe", "baseline"),
                    backbone=values.get("backbone", ""),
                    epochs=values.get("epochs"),
                    custom_yaml=values.get("custom_yaml", ""),
                    version_id=values.get("version"),
                ),
            )
        except JobInputError as exc:
            return Response({exc.field or "detail": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
        return Response(JobOutputSerializer(job).data, status=status.HTTP_201_CREATED)


class JobApi(APIView):
    """GET one job's state and progress (every role); fails jobs whose worker was lost first."""

    permission_classes = [HasRole(*ANY_ROLE)]

    def get(self, request: Request, job_id: int) -> Response:
        jobs_reap()
        job = job_get_for_user(user=request.user, job_id=job_id)
        return Response(JobOutputSerializer(job).data)


class JobCancelApi(APIView):
    permission_classes = [HasRole(Role.ADMIN)]

    def post(self, request: Request, job_id: int) -> Response:
        job = job_get_for_user(user=request.user, job_id=job_id)
        outcome = job_cancel(job_id=job.id)
        if not outcome:
            return Response({"detail": "the job has already finished"}, status=status.HTTP_409_CONFLICT)
        return Response({"outcome": outcome})


class JobResumeApi(APIView):
    permission_classes = [HasRole(Role.ADMIN)]

    def post(self, request: Request, job_id: int) -> Response:
        job = job_get_for_user(user=request.user, job_id=job_id)
        if not job_resume(job_id=job.id):
            return Response(
                {"detail": "only a failed or cancelled job can be resumed"}, status=status.HTTP_409_CONFLICT
            )
        return Response({"outcome": "queued"})


class VersionCurvesApi(APIView):
    """Per-label rows and PR curves of one version (the version page's plots and threshold picking)."""

    permission_classes = [HasRole(*ANY_ROLE)]

    def get(self, request: Request, version_id: int) -> Response:
        version = version_get_for_user(user=request.user, version_id=version_id, curves=True)
        return Response(
            {
                "version": version.name,
                "mAP": version.map,
                "labels": version_label_rows(version),
                "curves": version.pr_curves,
            }
        )


class ProfileOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    labels = serializers.JSONField()
    updated_at = serializers.DateTimeField()


class VersionProfilesApi(APIView):
    """GET: the version's threshold profiles. POST ``{name, targets: {key: {mode, target}}}``: save (admins)."""

    permission_classes = [HasRole(*ANY_ROLE)]

    def get(self, request: Request, version_id: int) -> Response:
        version = version_get_for_user(user=request.user, version_id=version_id)
        return Response(ProfileOutputSerializer(version.profiles.order_by("name"), many=True).data)

    def post(self, request: Request, version_id: int) -> Response:
        _require_admin(request)
        version = version_get_for_user(user=request.user, version_id=version_id, curves=True)
        raw = request.data.get("targets")
        if not isinstance(raw, dict) or not raw:
            return Response({"targets": ["give a target for at least one label"]}, status=status.HTTP_400_BAD_REQUEST)
        try:
            targets = {str(key): target_check(value, where=f"label {key}") for key, value in raw.items()}
            profile = profile_save(
                user=request.user, version=version, name=str(request.data.get("name", "")), targets=targets
            )
        except JobInputError as exc:
            return Response({exc.field or "detail": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
        except ValueError as exc:
            return Response({"targets": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
        return Response(ProfileOutputSerializer(profile).data, status=status.HTTP_201_CREATED)
