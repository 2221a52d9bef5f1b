from django.apps import AppConfig


class UploadsConfig(AppConfig):
    name = "aima_web.uploads"
    label = "uploads"
