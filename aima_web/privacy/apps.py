from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "aima_web.privacy"
    label = "privacy"
    verbose_name = "Privacy: retention and legal holds"
