from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from aima_web.accounts.site_login import SiteLogin, SiteLogout
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
    path("uploads/", include("aima_web.uploads.urls")),
    path("alerts/", include("aima_web.alerts.urls")),
    path("agent-jobs/<uuid:job_id>/start/", AgentJobStartView.as_view(), name="agent-job-start"),
    path("agent-jobs/<uuid:job_id>/media/", AgentJobMediaView.as_view(), name="agent-job-media"),
    path("agent-jobs/<uuid:job_id>/results/", AgentJobResultsView.as_view(),
         name="agent-job-results"),
]

urlpatterns = [
    # People land on the upload page (the login first); the API has /api/docs/.
    path("", RedirectView.as_view(url="/upload/", permanent=False)),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view loads its script from a URL: no inline script, as the CSP demands.
    # GET only: the page's renderer has no template for OPTIONS (a 500).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(
        url_name="schema", http_method_names=["get", "head"]), name="docs"),
    path("api-auth/", include("rest_framework.urls")),
    path("metrics", include("aima_web.monitoring.urls")),
    path("usage/", include("aima_web.usage.urls")),
    path("flower/", include("aima_web.taskmonitor.urls")),
    path("login/", SiteLogin.as_view(), name="login"),
    path("logout/", SiteLogout.as_view(), name="logout"),
    path("dashboard/", include("aima_web.dashboard.urls")),
    path("", include("aima_web.analyst.urls")),
]

# Under /api/, Django's own 404 and 500 answer in JSON, as the API's views do.
handler404 = "aima_web.core.error_pages.not_found"
handler500 = "aima_web.core.error_pages.server_error"
