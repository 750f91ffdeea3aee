"""LabelLoop web app: the Django project and its sub-apps."""

from annotator.celery import app as celery_app

__all__ = ["celery_app"]
