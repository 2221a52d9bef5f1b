from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "aima_web.audit"
    label = "audit"

    def ready(self) -> None:
        from aima_web.audit import signals

        signals.connect()
