from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ModelingConfig(AppConfig):
    name = "annotator.modeling"
    label = "modeling"
    verbose_name = _("Modeling")
