from django.apps import AppConfig


class UsageConfig(AppConfig):
    name = "aima_web.usage"
    label = "usage"
