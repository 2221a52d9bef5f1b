"""The tick and the provision task deciding capacity at the same moment, each
on its own database connection, request one instance per queued cloud job,
not one each (on PostgreSQL an advisory lock serialises them; SQLite
serialises writers itself)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from aima_web.instances import capacity
from aima_web.instances.models import CloudInstance
from tests.test_instances import cloud, queued_cloud_job  # noqa: F401  (cloud: a fixture)

DECIDERS, ROUNDS = 2, 4


def decide(start: threading.Barrier, created: list[int], failures: list[BaseException]) -> None:
    try:
        start.wait()
        created.extend(capacity.ensure_capacity())
    except BaseException as exc:  # reported by the test, in the main thread
        failures.append(exc)
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_concurrent_deciders_request_one_instance_per_job(cloud, api, video_file):  # noqa: F811
    for round_ in range(1, ROUNDS + 1):
        queued_cloud_job(api, video_file)
        start, created, failures = threading.Barrier(DECIDERS), [], []
        threads = [threading.Thread(target=decide, args=(start, created, failures))
                   for _ in range(DECIDERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert failures == []
        assert len(created) == 1, f"round {round_}: {len(created)} instances for one job"
        assert CloudInstance.objects.count() == round_
