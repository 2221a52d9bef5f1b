from django.apps import AppConfig


class TaskmonitorConfig(AppConfig):
    name = "aima_web.taskmonitor"
    label = "taskmonitor"
