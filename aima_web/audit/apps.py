from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "aima_web.audit"
    label = "audit"
