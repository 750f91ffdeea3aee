from django.urls import path

from annotator.dataset import views

app_name = "dataset"
urlpatterns = [
    path("imports/", views.import_list, name="imports"),
    path("imports/new/", views.import_new, name="import_new"),
    path("imports/<int:job_id>/", views.import_detail, name="import_detail"),
    path("api/imports/<int:job_id>/", views.ImportJobApi.as_view(), name="api_import"),
    path("snapshots/", views.snapshot_list, name="snapshots"),
    path("snapshots/new/", views.snapshot_new, name="snapshot_new"),
]
