from django.urls import path

from aima_web.placement.api.views import ExplainView, PolicyView, PriceHistoryView

urlpatterns = [
    path("placement/explain/", ExplainView.as_view(), name="placement-explain"),
    path("placement/policy/", PolicyView.as_view(), name="placement-policy"),
    path("prices/", PriceHistoryView.as_view(), name="prices"),
]
