from django.apps import AppConfig


class AuditsConfig(AppConfig):
    name = "annotator.audits"
    label = "audits"
    verbose_name = "Audits"
