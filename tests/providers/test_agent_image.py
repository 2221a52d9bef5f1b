"""Each provider may name the agent image its instances run; the deployment's
image (``AIMA_AGENT_IMAGE``) is for the providers that name none."""

from __future__ import annotations

import pytest

from aima_tasks.broker import EMBEDDED_BROKER_URL
from aima_web.instances import launching, registry
from aima_web.instances.models import CloudInstance

pytestmark = pytest.mark.django_db

DEFAULT = "registry.test/aima-agent:default"
VAST = "registry.test/aima-agent:vast"


@pytest.fixture
def two_providers(monkeypatch: pytest.MonkeyPatch, settings) -> None:
    settings.AIMA_AGENT_IMAGE = DEFAULT
    # No agent starts: on RabbitMQ too the spec takes the embedded broker rather
    # than a broker user of its own (as tests/test_instances.py's cloud does).
    settings.AIMA_BROKER_URL = EMBEDDED_BROKER_URL
    monkeypatch.setenv("AIMA_PROVIDERS", "vastai,runpod")
    monkeypatch.setenv("AIMA_VASTAI_API_KEY", "vast-key")
    monkeypatch.setenv("AIMA_VASTAI_IMAGE", VAST)
    monkeypatch.setenv("AIMA_RUNPOD_API_KEY", "runpod-key")
    # Loaded afresh here, and whatever was loaded before is back afterwards.
    monkeypatch.setattr(registry, "_registry", None)


@pytest.mark.usefixtures("two_providers")
@pytest.mark.parametrize(("provider", "image"), [("vastai", VAST), ("runpod", DEFAULT)])
def test_a_launch_spec_carries_its_providers_agent_image(provider: str, image: str) -> None:
    instance = CloudInstance.objects.create(provider=provider, offer_id="x", gpu_class=24,
                                            price_per_hour=1.0)

    spec = launching.launch_spec(instance, "s3cret")

    assert spec.image == image
    assert registry.providers().settings[provider]["api_key"] == "••••"
