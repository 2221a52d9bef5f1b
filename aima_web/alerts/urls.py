from django.urls import path

from aima_web.alerts.api import AlertsView

urlpatterns = [
    path("", AlertsView.as_view(), name="alerts"),
]
