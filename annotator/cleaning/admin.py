"""Django admin for the cleaning queues: for looking things up, never for deciding.

Items, leases and decisions are read-only here: decisions change the dataset only through
the review page and its services (history rows, relation rules). Per-label queue settings
(LabelQueue: an admin opening a queue with "enough data") may be edited.
"""

from __future__ import annotations

from django.contrib import admin

from annotator.cleaning.models import Decision, LabelQueue, Lease, ReviewItem
from annotator.dataset.admin import LargeTableMixin, ReadOnlyAdminMixin
from annotator.taxonomy.admin import AdminRoleMixin


@admin.register(ReviewItem)
class ReviewItemAdmin(LargeTableMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "label", "image_id", "status", "priority", "dataset_state", "model_score", "leased_by")
    list_filter = ("status",)
    list_select_related = ("label", "leased_by")
    raw_id_fields = ("image", "label", "lease", "leased_by")
    search_fields = ("=label__key",)


@admin.register(Lease)
class LeaseAdmin(LargeTableMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "user", "label", "size", "created_at", "expires_at", "released_at")
    list_select_related = ("user", "label")
    raw_id_fields = ("user", "label")


@admin.register(Decision)
class DecisionAdmin(LargeTableMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "user",
        "item_id",
        "verdict",
        "kind",
        "previous_state",
        "new_state",
        "created_at",
        "undone_at",
    )
    list_filter = ("verdict", "kind")
    list_select_related = ("user",)
    raw_id_fields = ("item", "user", "lease")


@admin.register(LabelQueue)
class LabelQueueAdmin(AdminRoleMixin, admin.ModelAdmin):
    list_display = ("label", "opened", "opened_by", "opened_at")
    raw_id_fields = ("label", "opened_by")
