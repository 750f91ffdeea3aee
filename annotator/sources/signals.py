"""Any change to a mapping row or a provider's floor re-maps the stored answers (after commit).

Catches the Django admin, this app's pages and the taxonomy tools alike. Bulk writes
(``bulk_create`` by importers) send no signal: the overview page's "Re-map now" covers them.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from annotator.sources.models import ProviderState
from annotator.taxonomy.models import ExternalLabelMapping


@receiver([post_save, post_delete], sender=ExternalLabelMapping, dispatch_uid="sources_mapping_changed")
def mapping_changed(sender: Any, instance: ExternalLabelMapping, **kwargs: Any) -> None:
    from annotator.sources.services import mapping_providers, provider_remap_enqueue

    for provider in mapping_providers(vocabulary=instance.source):
        provider_remap_enqueue(provider=provider)


@receiver(post_save, sender=ProviderState, dispatch_uid="sources_floor_changed")
def floor_changed(
    sender: Any, instance: ProviderState, created: bool, update_fields: Any = None, **kwargs: Any
) -> None:
    from annotator.sources.services import provider_remap_enqueue

    if not created and (update_fields is None or "min_score" in update_fields):
        provider_remap_enqueue(provider=instance.provider)
