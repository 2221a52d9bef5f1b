from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "aima_web.alerts"
    label = "alerts"
