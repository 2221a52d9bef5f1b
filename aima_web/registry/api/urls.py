from django.urls import path

from aima_web.registry.api.views import AgentModelView

urlpatterns = [
    path("agent-models/<str:sha256>/", AgentModelView.as_view(), name="agent-model"),
]
