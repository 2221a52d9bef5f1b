from django.apps import AppConfig


class InstancesConfig(AppConfig):
    name = "aima_web.instances"
    label = "instances"
    verbose_name = "cloud instances"

    def ready(self) -> None:
        from aima_web.instances import (
            hooks,  # noqa: F401  (connects to fleet and job signals)
            registry,  # noqa: F401  (registers the provider check)
        )
