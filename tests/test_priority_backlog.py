"""A job's local wait counts only the queued work its unit cannot overtake: the
GPU queues are priority queues, so lower-priority jobs queued earlier are not
ahead of it; running work and queued work of its level or higher are."""

from __future__ import annotations

import pytest
from django.utils import timezone

from aima_tasks.kernel.analyses import MediaType
from aima_tasks.kernel.classification import Urgency
from aima_tasks.kernel.placement import JobSpec
from aima_tasks.kernel.routing import message_priority
from aima_web.jobs.models import Job, MediaAsset
from aima_web.jobs.states import JobState
from aima_web.placement import services
from tests.placing import make_gpu

pytestmark = pytest.mark.django_db

HOUR = 3600.0


def queued_on(gpu, owner, asset, priority: int, urgency: str = "normal") -> Job:
    placement = {"scope": "local", "choice": {"gpu_id": gpu.id, "runtime_s": HOUR}}
    return Job.objects.create(owner=owner, media=asset, confidentiality="internal",
                              placement=placement, state=JobState.QUEUED, priority=priority,
                              urgency=urgency)


def test_lower_priority_queued_work_is_not_ahead_of_a_higher_priority_job(alice):
    gpu = make_gpu()
    asset = MediaAsset.objects.create(sha256="aa" * 32, size_bytes=10, media_type="image")
    queued_on(gpu, alice, asset, priority=0, urgency="low")
    queued_on(gpu, alice, asset, priority=0)
    queued_on(gpu, alice, asset, priority=3)
    now = timezone.now()
    assert services.backlog_by_gpu(now)[gpu.id] == pytest.approx(3 * HOUR)
    assert services.backlog_by_gpu(now, message_priority(0))[gpu.id] == pytest.approx(2 * HOUR)
    assert services.backlog_by_gpu(now, message_priority(5, "high")).get(gpu.id, 0.0) == 0.0

    def wait(priority: int, urgency: Urgency = Urgency.NORMAL) -> float:
        spec = JobSpec(media_type=MediaType.IMAGE, size_bytes=10, analyses=("phash",),
                       priority=priority, urgency=urgency)
        decision = services.decide_for(spec)
        assert decision.choice.gpu_id == gpu.id
        return decision.choice.wait_s

    assert wait(0, Urgency.LOW) == pytest.approx(3 * HOUR)
    assert wait(0) == pytest.approx(2 * HOUR)
    assert wait(5, Urgency.HIGH) == 0.0
