from django.urls import path

from aima_web.dashboard import views

app_name = "dashboard"

urlpatterns = [
    path("", views.Dashboard.as_view(), name="index"),
]
