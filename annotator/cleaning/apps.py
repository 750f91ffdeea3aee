from django.apps import AppConfig


class CleaningConfig(AppConfig):
    name = "annotator.cleaning"
    label = "cleaning"
    verbose_name = "Cleaning"
