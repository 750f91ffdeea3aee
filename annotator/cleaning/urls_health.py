"""URLs of the label health page and the thumbnails, included by annotator/cleaning/urls.py."""

from django.urls import path

from annotator.cleaning import views_health, views_thumbnails

urlpatterns = [
    path("health/", views_health.health, name="health"),
    path("health/<slug:key>/open/", views_health.label_queue_open, name="label_queue_open"),
    path("thumbnails/<int:image_id>/", views_thumbnails.thumbnail, name="thumbnail"),
    path("thumbnails/start/", views_thumbnails.thumbnails_start, name="thumbnails_start"),
    path("api/thumbnails/", views_thumbnails.ThumbnailProgressApi.as_view(), name="api_thumbnails"),
]
