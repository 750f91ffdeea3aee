"""Django admin for the taxonomy. Edits go through ``Label.clean`` / ``LabelRelation.clean``,
which validate the whole resulting taxonomy, so no admin form can save a cycle."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from annotator.accounts.roles import Role, user_has_role
from annotator.taxonomy.models import ExternalLabelMapping, GuidelineExample, Label, LabelRelation
from annotator.taxonomy.selectors import taxonomy_graph_get


class AdminRoleMixin:
    """Users holding the Admin role edit the taxonomy without per-model Django permissions.

    The role lives in a group without model permissions; staff users of other roles
    never get here (only admins are staff).
    """

    def has_module_permission(self, request: HttpRequest) -> bool:
        return user_has_role(request.user, Role.ADMIN)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return user_has_role(request.user, Role.ADMIN)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return user_has_role(request.user, Role.ADMIN)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return user_has_role(request.user, Role.ADMIN)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return user_has_role(request.user, Role.ADMIN)


class RootCategoryFilter(admin.SimpleListFilter):
    """Filter labels by the category (root of the tree) they belong to."""

    title = _("category")
    parameter_name = "root"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(root.key, str(root)) for root in Label.objects.filter(parent__isnull=True).order_by("key")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Label]) -> QuerySet[Label]:
        if not self.value():
            return queryset
        root_id = Label.objects.filter(key=self.value(), parent__isnull=True).values_list("id", flat=True).first()
        if root_id is None:
            return queryset.none()
        graph = taxonomy_graph_get()
        members = [label_id for label_id in graph.parent if label_id == root_id or root_id in graph.ancestors(label_id)]
        return queryset.filter(id__in=members)


class GuidelineExampleInline(AdminRoleMixin, admin.TabularInline):
    model = GuidelineExample
    extra = 0
    fields = ("kind", "image", "upload", "caption")
    raw_id_fields = ("image",)  # a select over a million images would never load


@admin.register(Label)
class LabelAdmin(AdminRoleMixin, admin.ModelAdmin):
    list_display = ("key", "name_en", "name_zh", "parent", "is_small_object", "is_active")
    list_filter = (RootCategoryFilter, "is_active", "is_small_object")
    search_fields = ("key", "name_en", "name_zh")
    list_select_related = ("parent",)
    autocomplete_fields = ("parent",)
    readonly_fields = ("created_at", "updated_at")
    fields = (
        "key",
        "name_en",
        "name_zh",
        "parent",
        "is_small_object",
        "is_active",
        "guideline",
        "created_at",
        "updated_at",
    )
    inlines = (GuidelineExampleInline,)


@admin.register(LabelRelation)
class LabelRelationAdmin(AdminRoleMixin, admin.ModelAdmin):
    list_display = ("src", "kind", "dst", "note")
    list_filter = ("kind",)
    search_fields = ("src__key", "dst__key", "src__name_en", "dst__name_en", "src__name_zh", "dst__name_zh")
    list_select_related = ("src", "dst")
    autocomplete_fields = ("src", "dst")


@admin.register(ExternalLabelMapping)
class ExternalLabelMappingAdmin(AdminRoleMixin, admin.ModelAdmin):
    list_display = ("source", "external_id", "external_name", "label", "min_score")
    list_filter = ("source",)
    search_fields = ("external_id", "external_name", "label__key", "label__name_en", "label__name_zh")
    list_select_related = ("label",)
    autocomplete_fields = ("label",)
