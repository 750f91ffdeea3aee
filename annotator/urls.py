"""URL map. Every pattern names the roles it admits (see tests/test_access_matrix.py)."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from annotator.accounts import views as account_views

urlpatterns = [
    path("", account_views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("language/", account_views.language_set, name="language_set"),
    path("healthz", account_views.healthz, name="healthz"),
    path("taxonomy/", include("annotator.taxonomy.urls")),
    path("dataset/", include("annotator.dataset.urls")),
    path("cleaning/", include("annotator.cleaning.urls")),
    path("sources/", include("annotator.sources.urls")),
    path("models/", include("annotator.modeling.urls")),
    path("audits/", include("annotator.audits.urls")),
    path("media/<path:path>", account_views.media_serve, name="media"),
    path("admin/", admin.site.urls),
]
