from django.urls import path

from aima_web.placement.api.views import ExplainView, PolicyView

urlpatterns = [
    path("placement/explain/", ExplainView.as_view(), name="placement-explain"),
    path("placement/policy/", PolicyView.as_view(), name="placement-policy"),
]
