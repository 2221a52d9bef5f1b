from django.apps import AppConfig


class AnalystConfig(AppConfig):
    name = "aima_web.analyst"
    label = "analyst"
