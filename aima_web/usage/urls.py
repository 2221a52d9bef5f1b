from django.urls import path

from aima_web.usage import views

app_name = "usage"

urlpatterns = [
    path("", views.CurrentMonth.as_view(), name="current"),
    path("<str:period>.csv", views.MonthCsv.as_view(), name="csv"),
    path("<str:period>/", views.MonthPage.as_view(), name="month"),
]
