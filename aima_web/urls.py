from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from aima_web.jobs.api.agent_views import (
    AgentJobMediaView,
    AgentJobResultsView,
    AgentJobStartView,
)

api_v1 = [
    path("", include("aima_web.jobs.api.urls")),
    path("", include("aima_web.fleet.api.urls")),
    path("", include("aima_web.placement.api.urls")),
    path("", include("aima_web.instances.api.urls")),
    path("", include("aima_web.registry.api.urls")),
    path("agent-jobs/<uuid:job_id>/start/", AgentJobStartView.as_view(), name="agent-job-start"),
    path("agent-jobs/<uuid:job_id>/media/", AgentJobMediaView.as_view(), name="agent-job-media"),
    path("agent-jobs/<uuid:job_id>/results/", AgentJobResultsView.as_view(),
         name="agent-job-results"),
]

urlpatterns = [
    path("", RedirectView.as_view(url="/api/docs/", permanent=False)),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("api-auth/", include("rest_framework.urls")),
]
