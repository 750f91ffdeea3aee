from django.apps import AppConfig


class DatasetConfig(AppConfig):
    name = "annotator.dataset"
    label = "dataset"
    verbose_name = "Dataset"
