from django.apps import AppConfig


class FleetConfig(AppConfig):
    name = "aima_web.fleet"
    label = "fleet"
