from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DatasetConfig(AppConfig):
    name = "annotator.dataset"
    label = "dataset"
    verbose_name = _("Dataset")

    def ready(self) -> None:
        from django.db.models.signals import pre_delete

        from annotator.dataset.models import EvidenceSource
        from annotator.dataset.partitions import evidence_source_deleting

        # A deleted source's partition goes in one statement, before the ORM's cascade
        # (which then finds nothing left of it but rows in the default partition).
        pre_delete.connect(evidence_source_deleting, sender=EvidenceSource, dispatch_uid="evidence-partition-drop")
