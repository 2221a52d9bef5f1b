from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "aima_web.jobs"
    label = "jobs"
