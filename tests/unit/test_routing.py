"""The queue topology: GPU classes, which queues a card serves, task routing."""

from __future__ import annotations

import pytest

from aima_tasks import topology
from aima_tasks.kernel import routing
from aima_tasks.kernel.routing import Scope


@pytest.mark.parametrize("need, gpu_class", [(1, 8), (8, 8), (8.5, 16), (16, 16), (24, 24),
                                             (30, 48), (80, 80)])
def test_class_for_need_is_the_smallest_that_holds_it(need, gpu_class):
    assert routing.class_for_need(need) == gpu_class


def test_need_beyond_the_largest_class():
    with pytest.raises(routing.NoGpuClass, match="largest GPU class"):
        routing.class_for_need(81)


@pytest.mark.parametrize("vram, classes", [
    (6, []), (8, [8]), (23.99, [8, 16, 24]), (24, [8, 16, 24]), (40, [8, 16, 24]),
    (79.6, [8, 16, 24, 48, 80]),  # an H100 80 GB as NVML reports it
])
def test_classes_served(vram, classes):
    assert routing.classes_served(vram) == classes


def test_queues_stay_in_their_scope():
    assert routing.queues_served(Scope.CLOUD, 24) == ["gpu.cloud.8", "gpu.cloud.16", "gpu.cloud.24"]
    assert all(q.startswith("gpu.local.") for q in routing.queues_served(Scope.LOCAL, 80))


def test_every_queue_is_declared_durable():
    queues = topology.declared_queues()
    assert [q.name for q in queues] == routing.all_queues()
    assert all(q.durable and q.exchange.durable for q in queues)
    assert routing.CONTROL_QUEUE in routing.all_queues()


def test_gpu_queues_are_priority_queues_and_control_is_not():
    by_name = {q.name: q for q in topology.declared_queues()}
    assert by_name.pop(routing.CONTROL_QUEUE).max_priority is None
    assert {q.max_priority for q in by_name.values()} == {routing.MAX_PRIORITY}


def test_message_priority_orders_by_priority_then_urgency_within_the_levels():
    level = routing.message_priority
    assert level(0) == 4 and level(0, "high") == 5 and level(0, "low") == 3
    assert level(-1000, "low") == 0 and level(1000, "high") == routing.MAX_PRIORITY
    for urgency in ("low", "normal", "high"):
        by_priority = [level(p, urgency) for p in range(-6, 7)]
        assert by_priority == sorted(by_priority)
    for priority in range(-6, 7):
        assert level(priority, "low") <= level(priority) <= level(priority, "high")


def test_gpu_queue_rejects_a_non_class():
    with pytest.raises(ValueError, match="not a GPU class"):
        routing.gpu_queue(Scope.LOCAL, 12)


def test_control_tasks_route_to_control_and_gpu_work_is_left_to_placement():
    for name in (routing.TaskName.PROBE, routing.TaskName.PLACE, routing.TaskName.PROVISION):
        assert topology.route_task(name.value, (), {}, {}) == {"queue": routing.CONTROL_QUEUE}
    assert topology.route_task(routing.TaskName.ANALYSE.value, (), {}, {}) == {}


def test_a_gpu_whose_cuda_is_too_old_serves_no_queue():
    assert routing.queues_served(Scope.LOCAL, 24, "11.7") == []
    assert routing.queues_served(Scope.LOCAL, 24, "11.8") == [
        "gpu.local.8", "gpu.local.16", "gpu.local.24"]
    assert routing.queues_served(Scope.LOCAL, 24, "12.10") == routing.queues_served(
        Scope.LOCAL, 24, "12.4")
