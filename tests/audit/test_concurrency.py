"""Writers appending at the same moment keep one unbroken chain (on PostgreSQL
an advisory lock serialises them; SQLite serialises writers itself)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from aima_web.audit import trail
from aima_web.audit.models import AuditEvent
from tests.audit.conftest import audit

WRITERS, EACH = 8, 15


def append(writer: int, start: threading.Barrier, failures: list[BaseException]) -> None:
    try:
        start.wait()
        for n in range(EACH):
            if n % 3 == 0:
                # Inside an outer transaction the chain stays locked until it commits.
                with transaction.atomic():
                    trail.record(f"agent:{writer}", "gpu.failed", f"gpu:{writer}", n=n)
            else:
                trail.record(f"agent:{writer}", "gpu.recovered", f"gpu:{writer}", n=n)
    except BaseException as exc:  # reported by the test, in the main thread
        failures.append(exc)
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_keep_one_chain():
    start, failures = threading.Barrier(WRITERS), []
    threads = [threading.Thread(target=append, args=(w, start, failures)) for w in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    total = WRITERS * EACH
    assert list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True)) == list(
        range(1, total + 1))
    assert audit("verify").startswith(f"audit trail intact: {total} rows")
