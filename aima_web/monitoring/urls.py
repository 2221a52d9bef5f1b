from django.urls import URLPattern, path

from aima_web.monitoring.views import metrics

urlpatterns: list[URLPattern] = [path("", metrics, name="metrics")]
