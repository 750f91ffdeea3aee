from django.urls import path

from annotator.cleaning import apis, views

app_name = "cleaning"
urlpatterns = [
    path("", views.queue_list, name="queues"),
    path("labels/<slug:key>/", views.review, name="review"),
    path("labels/<slug:key>/items/", views.queue_read, name="queue_read"),
    path("images/<int:image_id>/", views.image_detail, name="image_detail"),
    path("images/<int:image_id>/original", views.image_original, name="image_original"),
    path("api/labels/<slug:key>/leases/", apis.LeaseTakeApi.as_view(), name="api_lease_take"),
    path("api/leases/<int:lease_id>/renew/", apis.LeaseRenewApi.as_view(), name="api_lease_renew"),
    path("api/leases/<int:lease_id>/release/", apis.LeaseReleaseApi.as_view(), name="api_lease_release"),
    path("api/items/<int:item_id>/decision/", apis.DecisionRecordApi.as_view(), name="api_decision_record"),
    path("api/decisions/undo/", apis.DecisionUndoApi.as_view(), name="api_decision_undo"),
    path("api/images/<int:image_id>/labels/", apis.ImageLabelAddApi.as_view(), name="api_image_label_add"),
    path("api/labels/<slug:key>/rerank/", apis.QueueRerankApi.as_view(), name="api_queue_rerank"),
]

# Label health and thumbnails (annotator/cleaning/urls_health.py).
from annotator.cleaning.urls_health import urlpatterns as _health_urlpatterns  # noqa: E402

urlpatterns += _health_urlpatterns
