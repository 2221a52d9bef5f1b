"""/metrics while what it reads is down: gunicorn on a PostgreSQL cluster of the
test's own, which the test stops and starts again, and a broker that is not
there. The database down: a 503 with Retry-After and no series, and the series
again once it is back. The broker down: every series but the queue depths."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from devtools.stack import free_port
from tests.faults.web import Web, serving

pytestmark = pytest.mark.e2e

TOKEN = "outage-metrics-token"


@pytest.fixture(scope="module")
def web(tmp_path_factory) -> Iterator[Web]:
    # A RabbitMQ URL on a port nobody listens on: the broker is down throughout.
    nobody = f"amqp://guest:guest@127.0.0.1:{free_port()}//"
    with serving(tmp_path_factory.mktemp("metrics-outage"), AIMA_BROKER_URL=nobody,
                 AIMA_METRICS_TOKEN=TOKEN) as served:
        yield served


def scrape(web: Web) -> requests.Response:
    return requests.get(f"{web.base_url}/metrics", timeout=30,
                        headers={"Authorization": f"Bearer {TOKEN}"})


def test_with_the_broker_down_everything_but_the_queue_depths_is_served(web: Web):
    answer = scrape(web)
    assert answer.status_code == 200
    assert "# TYPE aima_queue_messages gauge" in answer.text
    assert "aima_queue_messages{" not in answer.text
    assert 'aima_queue_oldest_message_age_seconds{queue="control"} 0.0' in answer.text
    assert 'aima_jobs{state="received"} 0.0' in answer.text


def test_metrics_during_a_database_outage_is_503_with_retry_after(web: Web):
    before = scrape(web)
    assert before.status_code == 200 and "aima_jobs{" in before.text

    web.cluster.stop()
    try:
        during = scrape(web)
    finally:
        web.cluster.start()

    assert during.status_code == 503, during.text[:300]
    assert int(during.headers["Retry-After"]) > 0
    assert "the database is unavailable" in during.text
    assert "aima_" not in during.text
    after = scrape(web)
    assert after.status_code == 200 and "aima_jobs{" in after.text
