from django.urls import path

from annotator.taxonomy import views

app_name = "taxonomy"
urlpatterns = [
    path("", views.taxonomy_page, name="index"),
    path("labels/<slug:key>/", views.label_detail, name="label_detail"),
    path("api/labels/", views.LabelListApi.as_view(), name="api_labels"),
]
