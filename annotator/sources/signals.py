"""Any change to a mapping row or a provider's floor re-maps the stored answers (after commit).

Catches the Django admin, this app's pages and the taxonomy tools alike. A row's change
re-maps only the images whose answers hold its keyword (its old keyword too, when an edit
changed it); a floor change re-maps all. Bulk writes (``bulk_create`` by importers) send no
signal: the overview page's "Re-map the stored answers now" covers them.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from annotator.sources.models import ProviderState
from annotator.taxonomy.models import ExternalLabelMapping


@receiver(pre_save, sender=ExternalLabelMapping, dispatch_uid="sources_mapping_before")
def mapping_before(sender: Any, instance: ExternalLabelMapping, **kwargs: Any) -> None:
    old = None
    if instance.pk is not None:
        old = ExternalLabelMapping.objects.filter(pk=instance.pk).values_list("source", "external_id").first()
    instance._sources_old = old  # type: ignore[attr-defined]


@receiver([post_save, post_delete], sender=ExternalLabelMapping, dispatch_uid="sources_mapping_changed")
def mapping_changed(sender: Any, instance: ExternalLabelMapping, **kwargs: Any) -> None:
    from annotator.sources.services import mapping_providers, provider_remap_enqueue

    changed: dict[str, set[str]] = {}
    rows = [(instance.source, instance.external_id)]
    old = getattr(instance, "_sources_old", None)
    instance._sources_old = None  # type: ignore[attr-defined]  # a later delete of this instance is its own change
    if old is not None:
        rows.append(old)
    for vocabulary, external_id in rows:
        for provider in mapping_providers(vocabulary=vocabulary):
            changed.setdefault(provider, set()).add(external_id)
    for provider, keywords in changed.items():
        provider_remap_enqueue(provider=provider, keywords=sorted(keywords))


@receiver(post_save, sender=ProviderState, dispatch_uid="sources_floor_changed")
def floor_changed(
    sender: Any, instance: ProviderState, created: bool, update_fields: Any = None, **kwargs: Any
) -> None:
    from annotator.sources.services import provider_remap_enqueue

    if not created and (update_fields is None or "min_score" in update_fields):
        provider_remap_enqueue(provider=instance.provider)
