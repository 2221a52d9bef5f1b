"""/metrics while its database is down: gunicorn on a PostgreSQL cluster of the
test's own, which the test stops and starts again. A 503 with Retry-After and no
series while it is down, and the series again once it is back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.faults.web import Web, serving

pytestmark = pytest.mark.e2e

TOKEN = "outage-metrics-token"


@pytest.fixture(scope="module")
def web(tmp_path_factory) -> Iterator[Web]:
    # The embedded broker, in the test's folder.
    with serving(tmp_path_factory.mktemp("metrics-outage"), AIMA_BROKER_URL="",
                 AIMA_METRICS_TOKEN=TOKEN) as served:
        yield served


def scrape(web: Web) -> requests.Response:
    return requests.get(f"{web.base_url}/metrics", timeout=30,
                        headers={"Authorization": f"Bearer {TOKEN}"})


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
