from django.apps import AppConfig


class FleetConfig(AppConfig):
    name = "aima_web.fleet"
    label = "fleet"

    def ready(self) -> None:
        from aima_web.fleet.api import schema  # noqa: F401  (registers the schema extensions)
