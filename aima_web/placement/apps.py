from django.apps import AppConfig


class PlacementConfig(AppConfig):
    name = "aima_web.placement"
    label = "placement"
    verbose_name = "placement"
