"""Django admin for the competitor sources.

Provider floors and pauses are editable; stored answers and jobs are read-only. The mapping
rows of Baidu keywords and Google MIDs are edited here ("Competitor mappings") or under
Taxonomy → External label mappings; any change re-maps the stored answers (signals.py).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from annotator.sources.models import FetchJob, ProviderState, RawResponse
from annotator.taxonomy.admin import AdminRoleMixin
from annotator.taxonomy.models import ExternalLabelMapping


class CompetitorMapping(ExternalLabelMapping):
    """The Baidu and Google rows of the mapping table, on their own admin page."""

    class Meta:
        proxy = True
        app_label = "sources"
        verbose_name = _("competitor mapping")
        verbose_name_plural = _("competitor mappings")


@admin.register(CompetitorMapping)
class CompetitorMappingAdmin(AdminRoleMixin, admin.ModelAdmin):
    list_display = ("source", "external_id", "external_name", "label", "min_score")
    list_filter = ("source",)
    list_editable = ("min_score",)
    search_fields = ("external_id", "external_name", "label__key", "label__name_en", "label__name_zh")
    list_select_related = ("label",)
    autocomplete_fields = ("label",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).filter(source__in=["baidu", "google"])

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "source":
            from django import forms

            return forms.ChoiceField(choices=[("baidu", "baidu"), ("google", "google")], label=_("provider"))
        return super().formfield_for_dbfield(db_field, request, **kwargs)


@admin.register(ProviderState)
class ProviderStateAdmin(AdminRoleMixin, admin.ModelAdmin):
    list_display = ("provider", "min_score", "paused_until", "pause_reason")
    fields = ("provider", "min_score", "paused_until", "pause_reason")
    readonly_fields = ("provider", "pause_reason")

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnly(AdminRoleMixin):
    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(RawResponse)
class RawResponseAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("provider", "image", "status", "error_code", "fetched_at", "attempted_at")
    list_filter = ("provider", "status")
    search_fields = ("=image__id", "error_code")
    raw_id_fields = ("image",)
    show_full_result_count = False


@admin.register(FetchJob)
class FetchJobAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("id", "provider", "label", "refetch", "status", "progress_done", "progress_total", "created_at")
    list_filter = ("provider", "status")
