from django.urls import URLPattern, path

from annotator.audits import views_dashboard

urlpatterns: list[URLPattern] = [
    path("dashboard/", views_dashboard.dashboard, name="dashboard"),
    path("dashboard.csv", views_dashboard.dashboard_csv, name="dashboard_csv"),
    path("annotators/<int:user_id>/", views_dashboard.annotator, name="annotator"),
    path("feedback/", views_dashboard.feedback, name="feedback"),
]
