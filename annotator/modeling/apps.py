from django.apps import AppConfig


class ModelingConfig(AppConfig):
    name = "annotator.modeling"
    label = "modeling"
    verbose_name = "Modeling"
