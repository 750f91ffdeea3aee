"""Django admin for the dataset: mostly for looking things up.

Truth is never written behind the history's back: an ImageLabel saved or deleted here
goes through ``image_labels_set`` (source ``admin``, closure applied, one history row
per change). History and snapshots are read-only; images enter only through imports;
import jobs are created on the Imports page (which validates their parameters; "Add
import job" here leads there) and failed or stalled ones can be re-run from here.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from annotator.accounts.roles import Role, user_has_role
from annotator.dataset.models import (
    Evidence,
    EvidenceSource,
    HistorySource,
    Image,
    ImageLabel,
    ImportJob,
    LabelHistory,
    Snapshot,
)
from annotator.dataset.partitions import evidence_partition_owned
from annotator.dataset.services import image_labels_set
from annotator.dataset.tasks import import_job_requeue
from annotator.taxonomy.admin import AdminRoleMixin


class ReadOnlyAdminMixin(AdminRoleMixin):
    """Admins may look, nobody may add, change or delete."""

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class LargeTableMixin:
    """Tables with up to millions of rows: no exact count(*) under a filtered list."""

    show_full_result_count = False
    list_per_page = 100


@admin.register(Image)
class ImageAdmin(LargeTableMixin, AdminRoleMixin, admin.ModelAdmin):
    """Read-mostly: only the origin and its reference may be corrected; files never move."""

    list_display = ("id", "relative_path", "storage_root", "origin", "origin_ref", "split", "width", "height")
    list_filter = ("origin", "split")
    # "=" for the hash and the reference (exact); the path by substring.
    search_fields = ("=content_hash", "=origin_ref", "relative_path")
    readonly_fields = (
        "content_hash",
        "storage_root",
        "relative_path",
        "size_bytes",
        "width",
        "height",
        "split",
        "file_mtime_ns",
        "created_at",
    )
    fields = ("origin", "origin_ref", *readonly_fields)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Deleting would drop the image's truth and history with it.
        return False


@admin.register(ImageLabel)
class ImageLabelAdmin(LargeTableMixin, AdminRoleMixin, admin.ModelAdmin):
    """Changes go through the label service: history row, source ``admin``, closure applied."""

    list_display = ("id", "image", "label", "state", "source", "updated_at")
    list_filter = ("state", "source")
    list_select_related = ("image", "label")
    search_fields = ("=image__content_hash", "image__relative_path", "label__key")
    raw_id_fields = ("image",)
    autocomplete_fields = ("label",)
    readonly_fields = ("source", "updated_at")

    def get_readonly_fields(self, request: HttpRequest, obj: ImageLabel | None = None) -> tuple[str, ...]:
        if obj is not None:
            return ("image", "label", *self.readonly_fields)
        return self.readonly_fields

    def save_model(self, request: HttpRequest, obj: ImageLabel, form: ModelForm, change: bool) -> None:
        image_labels_set(
            image_id=obj.image_id,
            states={obj.label_id: obj.state},
            source=HistorySource.ADMIN,
            user=request.user,
            source_ref="admin",
            reason="set in Django admin",
        )
        saved = ImageLabel.objects.get(image_id=obj.image_id, label_id=obj.label_id)
        obj.pk, obj.source, obj.updated_at = saved.pk, saved.source, saved.updated_at

    def delete_model(self, request: HttpRequest, obj: ImageLabel) -> None:
        self._unset(request, [obj])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ImageLabel]) -> None:
        self._unset(request, list(queryset))

    def _unset(self, request: HttpRequest, rows: list[ImageLabel]) -> None:
        """Back to "unknown", one history row per label."""
        for row in rows:
            image_labels_set(
                image_id=row.image_id,
                states={row.label_id: None},
                source=HistorySource.ADMIN,
                user=request.user,
                source_ref="admin",
                reason="removed in Django admin",
                expand=False,
            )


@admin.register(LabelHistory)
class LabelHistoryAdmin(LargeTableMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "created_at", "image", "label", "old_state", "new_state", "source", "source_ref", "user")
    list_filter = ("source", "new_state")
    list_select_related = ("image", "label", "user")
    search_fields = ("=source_ref", "=image__content_hash", "image__relative_path", "label__key")
    date_hierarchy = "created_at"


@admin.register(EvidenceSource)
class EvidenceSourceAdmin(AdminRoleMixin, admin.ModelAdmin):
    list_display = ("id", "kind", "name", "created_at")
    list_filter = ("kind",)
    search_fields = ("name",)
    readonly_fields = ("created_at",)


@admin.register(Evidence)
class EvidenceAdmin(LargeTableMixin, AdminRoleMixin, admin.ModelAdmin):
    list_display = ("id", "image", "label", "source", "score", "keyword", "created_at")
    list_filter = ("source__kind", "source")
    list_select_related = ("image", "label", "source")
    search_fields = ("=image__content_hash", "image__relative_path", "label__key", "keyword")
    raw_id_fields = ("image",)
    autocomplete_fields = ("label",)
    readonly_fields = ("created_at",)

    # A model version's evidence is written whole by its re-predict (a partition of its own:
    # docs/modeling.md); here it can be read, not changed row by row.
    def has_change_permission(self, request: HttpRequest, obj: Evidence | None = None) -> bool:
        if obj is not None and evidence_partition_owned(source_id=obj.source_id):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Evidence | None = None) -> bool:
        if obj is not None and evidence_partition_owned(source_id=obj.source_id):
            return False
        return super().has_delete_permission(request, obj)

    def get_form(self, request: HttpRequest, obj: Evidence | None = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)

        class EvidenceForm(form):  # type: ignore[misc,valid-type]
            def clean(self) -> dict[str, Any]:
                data = super().clean()
                source = data.get("source")
                if source is not None and evidence_partition_owned(source_id=source.pk):
                    raise ValidationError(
                        _("The evidence of %(source)s is written by its re-predict job only.") % {"source": source}
                    )
                return data

        return EvidenceForm


@admin.register(ImportJob)
class ImportJobAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only rows with one action: re-run failed or stalled imports.

    "Add import job" leads to the Imports page's form (dataset:import_new), which validates
    the parameters and saves the uploads; the admin never creates a job row itself.
    """

    list_display = ("id", "kind", "status", "phase", "percent", "created_by", "created_at", "finished_at")
    list_filter = ("status", "kind")
    list_select_related = ("created_by",)
    readonly_fields = (
        "kind",
        "params",
        "status",
        "phase",
        "progress_done",
        "progress_total",
        "counts",
        "error",
        "created_by",
        "created_at",
        "started_at",
        "heartbeat_at",
        "finished_at",
    )
    actions = ("rerun_failed",)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return user_has_role(request.user, Role.ADMIN)

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        return redirect("dataset:import_new")

    @admin.action(description=_("Re-run selected failed or stalled imports"))
    def rerun_failed(self, request: HttpRequest, queryset: QuerySet[ImportJob]) -> None:
        job_ids = list(ImportJob.objects.rerunnable().filter(pk__in=queryset).values_list("id", flat=True))
        requeued = [job_id for job_id in job_ids if import_job_requeue(job_id=job_id)]
        skipped = queryset.count() - len(requeued)
        if requeued:
            self.message_user(
                request,
                ngettext("%(count)d import queued again.", "%(count)d imports queued again.", len(requeued))
                % {"count": len(requeued)},
                messages.SUCCESS,
            )
        if skipped:
            self.message_user(
                request,
                ngettext(
                    "%(count)d selected import was neither failed nor stalled and was left alone.",
                    "%(count)d selected imports were neither failed nor stalled and were left alone.",
                    skipped,
                )
                % {"count": skipped},
                messages.WARNING,
            )


@admin.register(Snapshot)
class SnapshotAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "created_at", "image_count", "label_count", "positive_count", "negative_count", "note")
    list_select_related = ("created_by",)
    search_fields = ("=content_hash", "note")
