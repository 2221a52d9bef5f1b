from django.urls import URLPattern, path

from aima_web.monitoring.views import MetricsView

urlpatterns: list[URLPattern] = [path("", MetricsView.as_view(), name="metrics")]
