from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SourcesConfig(AppConfig):
    name = "annotator.sources"
    label = "sources"
    verbose_name = _("Competitor sources")

    def ready(self) -> None:
        from annotator.sources import signals  # noqa: F401 - connects the receivers
