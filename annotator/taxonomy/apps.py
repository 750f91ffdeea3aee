from django.apps import AppConfig


class TaxonomyConfig(AppConfig):
    name = "annotator.taxonomy"
    label = "taxonomy"
    verbose_name = "Taxonomy"
