from django.urls import path

from annotator.sources import apis, views

app_name = "sources"
urlpatterns = [
    path("", views.index, name="index"),
    path("jobs/new/", views.job_new, name="job_new"),
    path("jobs/<int:job_id>/", views.job_detail, name="job_detail"),
    path("jobs/<int:job_id>/requeue/", views.job_requeue, name="job_requeue"),
    path("api/jobs/<int:job_id>/", apis.FetchJobApi.as_view(), name="api_job"),
    path("remap/", views.remap, name="remap"),
    path("mapping/", views.mapping, name="mapping"),
    path("mapping/<int:mapping_id>/delete/", views.mapping_delete, name="mapping_delete"),
    path("unmapped/", views.unmapped, name="unmapped"),
    path("images/<int:image_id>/thumb/", views.image_thumb, name="image_thumb"),
]
