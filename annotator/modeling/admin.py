"""Django admin for modeling: read-only look-ups (jobs are started and moved on the app's pages)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from annotator.modeling.models import Job, ModelVersion, ThresholdProfile


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Job)
class JobAdmin(_ReadOnly):
    list_display = ["id", "kind", "status", "recipe", "backbone", "epochs", "device", "created_by", "created_at"]
    list_filter = ["kind", "status"]


@admin.register(ModelVersion)
class ModelVersionAdmin(_ReadOnly):
    list_display = ["name", "map", "parent", "snapshot", "created_at"]
    exclude = ["pr_curves"]


@admin.register(ThresholdProfile)
class ThresholdProfileAdmin(_ReadOnly):
    list_display = ["name", "version", "created_by", "updated_at"]
