from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "aima_web.monitoring"
    label = "monitoring"
