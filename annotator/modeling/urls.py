from django.urls import path

from annotator.modeling import apis, views

app_name = "modeling"
urlpatterns = [
    path("jobs/", views.job_list, name="jobs"),
    path("jobs/new/", views.job_new, name="job_new"),
    path("jobs/<int:job_id>/", views.job_detail, name="job_detail"),
    path("jobs/<int:job_id>/action/", views.job_action, name="job_action"),
    path("versions/", views.version_list, name="versions"),
    path("versions/compare/", views.version_compare, name="version_compare"),
    path("versions/<int:version_id>/", views.version_detail, name="version_detail"),
    path("profiles/<int:profile_id>/export/", views.profile_download, name="profile_export"),
    path("api/jobs/", apis.JobsApi.as_view(), name="api_jobs"),
    path("api/jobs/<int:job_id>/", apis.JobApi.as_view(), name="api_job"),
    path("api/jobs/<int:job_id>/cancel/", apis.JobCancelApi.as_view(), name="api_job_cancel"),
    path("api/jobs/<int:job_id>/resume/", apis.JobResumeApi.as_view(), name="api_job_resume"),
    path("api/versions/<int:version_id>/curves/", apis.VersionCurvesApi.as_view(), name="api_version_curves"),
    path("api/versions/<int:version_id>/profiles/", apis.VersionProfilesApi.as_view(), name="api_version_profiles"),
]
