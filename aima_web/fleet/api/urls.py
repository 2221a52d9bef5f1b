from django.urls import path
from rest_framework.routers import SimpleRouter

from aima_web.fleet.api.views import AgentHeartbeatView, AgentRegisterView, LocalGPUViewSet

router = SimpleRouter()
router.register("gpus", LocalGPUViewSet, basename="gpu")
urlpatterns = [
    *router.urls,
    path("agents/register/", AgentRegisterView.as_view(), name="agent-register"),
    path("agents/heartbeat/", AgentHeartbeatView.as_view(), name="agent-heartbeat"),
]
