from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "aima_web.core"
    label = "core"
