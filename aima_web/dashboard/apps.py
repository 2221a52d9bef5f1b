from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "aima_web.dashboard"
    label = "dashboard"
