from django.urls import path
from rest_framework.routers import SimpleRouter

from aima_web.instances.api.preemption import AgentPreemptedView
from aima_web.instances.api.views import InstanceViewSet, OffersView, ProvidersView

router = SimpleRouter()
router.register("instances", InstanceViewSet, basename="instance")

urlpatterns = [
    path("providers/", ProvidersView.as_view(), name="providers"),
    path("offers/", OffersView.as_view(), name="offers"),
    path("agents/preempted/", AgentPreemptedView.as_view(), name="agent-preempted"),
    *router.urls,
]
