"""URLs of the QA lead's audit pages and their API, included by annotator/audits/urls.py."""

from django.urls import URLPattern, path

from annotator.audits import apis, views_audit, views_gold

urlpatterns: list[URLPattern] = [
    path("", views_audit.index, name="index"),
    path("next/", views_audit.next_item, name="next"),
    path("items/<int:item_id>/", views_audit.item_page, name="item"),
    path("api/items/<int:item_id>/judge/", apis.AuditJudgeApi.as_view(), name="api_judge"),
    path("api/items/<int:item_id>/explain/", apis.AuditExplainApi.as_view(), name="api_explain"),
    path("api/items/<int:item_id>/withdraw/", apis.AuditWithdrawApi.as_view(), name="api_withdraw"),
    path("api/items/<int:item_id>/second-look/", apis.AuditSecondLookApi.as_view(), name="api_second_look"),
    path("api/items/<int:item_id>/gold/", apis.GoldMarkApi.as_view(), name="api_gold_mark"),
    path("gold/", views_gold.gold_list, name="gold"),
    path("gold/<int:gold_id>/deactivate/", views_gold.gold_deactivate_view, name="gold_deactivate"),
]
