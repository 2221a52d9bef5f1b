from django.urls import path

from aima_web.analyst import views

app_name = "analyst"

urlpatterns = [
    path("upload/", views.UploadPage.as_view(), name="upload"),
    path("jobs/", views.JobList.as_view(), name="jobs"),
    path("jobs/<uuid:job_id>/", views.JobPage.as_view(), name="job"),
]
