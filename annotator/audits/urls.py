"""Audit URLs: the QA lead's audit pages (urls_audit.py) and the accuracy dashboard and
feedback pages (urls_dashboard.py)."""

from annotator.audits.urls_audit import urlpatterns as _audit_urlpatterns
from annotator.audits.urls_dashboard import urlpatterns as _dashboard_urlpatterns

app_name = "audits"
urlpatterns = _audit_urlpatterns + _dashboard_urlpatterns
