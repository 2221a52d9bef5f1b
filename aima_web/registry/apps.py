from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "aima_web.registry"
    label = "registry"
    verbose_name = "model registry"
