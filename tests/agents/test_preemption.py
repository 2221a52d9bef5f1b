"""Polling the spot preemption notices (AWS's over IMDSv2, GCP's ``preempted``,
Azure's Scheduled Events), against local fakes of each metadata service."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler

import pytest

from agents import preemption
from agents.preemption import AwsSpotNotices, AzureScheduledEvents, GcpPreemption, Notice
from tests.agents.fake_azure import FakeAzure
from tests.agents.fake_gcp import FakeGcp
from tests.agents.fake_imds import FakeImds
from tests.providers.fake_server import FakeServer


def test_no_notice_then_a_notice_over_imdsv2() -> None:
    with FakeImds() as imds:
        notices = AwsSpotNotices(imds.url)
        assert notices.poll() is None
        posted = imds.preempt()
        assert notices.poll() == Notice(action="terminate", time=posted["time"])
        # One session token served both requests.
        assert len(imds.tokens) == 1


def test_an_expired_token_is_fetched_again() -> None:
    with FakeImds() as imds:
        notices = AwsSpotNotices(imds.url)
        assert notices.poll() is None
        imds.expire_tokens()
        imds.preempt()
        assert notices.poll() is not None


def test_each_host_sees_its_own_notice() -> None:
    with FakeImds() as imds:
        imds.preempt("host-a")
        assert AwsSpotNotices(f"{imds.url}/host-a").poll() is not None
        assert AwsSpotNotices(f"{imds.url}/host-b").poll() is None


def test_watch_calls_back_once_on_a_notice_and_survives_an_unreachable_service() -> None:
    seen: list[Notice] = []
    stop = threading.Event()
    with FakeImds() as imds:
        unreachable = AwsSpotNotices("http://127.0.0.1:9")  # discard port: refused
        with pytest.raises(OSError):
            unreachable.poll()
        watcher = threading.Thread(target=preemption.watch, args=(
            AwsSpotNotices(imds.url), seen.append, stop, 0.05))
        watcher.start()
        imds.preempt()
        watcher.join(timeout=5)
    stop.set()
    assert not watcher.is_alive() and len(seen) == 1


def test_only_a_host_named_spot_polls() -> None:
    assert preemption.from_env({}) is None
    found = preemption.from_env({"AIMA_PREEMPTION_NOTICES": "aws"})
    assert found is not None and found.base_url == "http://169.254.169.254"
    assert preemption.from_env({"AIMA_PREEMPTION_NOTICES": "aws",
                                "AIMA_METADATA_URL": "http://x:1/"}).base_url == "http://x:1"
    with pytest.raises(ValueError, match="AIMA_PREEMPTION_NOTICES='oci': use one of aws, "):
        preemption.from_env({"AIMA_PREEMPTION_NOTICES": "oci"})


def test_each_cloud_polls_its_own_metadata_service() -> None:
    gcp = preemption.from_env({"AIMA_PREEMPTION_NOTICES": "gcp"})
    assert isinstance(gcp, GcpPreemption) and gcp.base_url == "http://metadata.google.internal"
    azure = preemption.from_env({"AIMA_PREEMPTION_NOTICES": "azure"})
    assert isinstance(azure, AzureScheduledEvents)
    assert azure.base_url == "http://169.254.169.254"
    assert preemption.from_env({"AIMA_PREEMPTION_NOTICES": "azure",
                                "AIMA_METADATA_URL": "http://x:1/"}).base_url == "http://x:1"


def test_a_gcp_vm_sees_its_preemption_with_the_metadata_flavor_header() -> None:
    now = datetime(2026, 12, 2, 10, 0, 0, tzinfo=UTC)
    with FakeGcp() as gcp:
        # The metadata server refuses a request without the header.
        with pytest.raises(urllib.error.HTTPError, match="403"):
            urllib.request.urlopen(f"{gcp.url}/computeMetadata/v1/instance/preempted")
        notices = GcpPreemption(gcp.url, now=lambda: now)
        assert notices.poll() is None
        gcp.preempted = True
        # GCP names no time: about 30 s from the notice, the VM stops.
        assert notices.poll() == Notice(action="preempt", time="2026-12-02T10:00:30Z")
        assert gcp.polls == 2 and gcp.bare == 1


class Impostor(BaseHTTPRequestHandler):
    """Says TRUE to anything, as no metadata server (a proxy's page, say)."""

    def log_message(self, *_args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "4")
        self.end_headers()
        self.wfile.write(b"TRUE")


def test_a_server_that_does_not_answer_as_gcps_is_no_notice() -> None:
    with FakeServer(Impostor) as impostor, pytest.raises(OSError, match="did not answer as"):
        GcpPreemption(impostor.url).poll()


def test_an_azure_vm_sees_only_its_own_eviction() -> None:
    with FakeAzure(name="aima-gpu-1") as azure:
        notices = AzureScheduledEvents(azure.url)
        assert notices.poll() is None
        # A maintenance freeze, and another VM's eviction, are no notice for it.
        azure.schedule("Freeze")
        azure.schedule("Preempt", resources=["aima-gpu-2"])
        assert notices.poll() is None
        event = azure.schedule("Preempt")
        notice = notices.poll()
        assert notice is not None and notice.action == "preempt"
        assert notice.time == datetime.strptime(
            event["NotBefore"], "%a, %d %b %Y %H:%M:%S GMT").strftime("%Y-%m-%dT%H:%M:%SZ")
        assert azure.polls == 3 and azure.bare == 0


def test_an_azure_terminate_is_a_notice_too_and_a_started_one_has_no_time() -> None:
    with FakeAzure() as azure:
        azure.schedule("Terminate")["NotBefore"] = ""
        assert AzureScheduledEvents(azure.url).poll() == Notice(action="terminate", time="")


def test_imds_refuses_a_request_without_the_metadata_header() -> None:
    with FakeAzure() as azure:
        with pytest.raises(urllib.error.HTTPError, match="400"):
            urllib.request.urlopen(f"{azure.url}/metadata/scheduledevents?api-version=2020-07-01")
        assert azure.bare == 1


@pytest.mark.parametrize("cloud", ["gcp", "azure"])
def test_watch_calls_back_on_a_gcp_or_azure_notice(cloud: str) -> None:
    seen: list[Notice] = []
    stop = threading.Event()
    fake = FakeGcp() if cloud == "gcp" else FakeAzure()
    with fake:
        notices = preemption.from_env({"AIMA_PREEMPTION_NOTICES": cloud,
                                       "AIMA_METADATA_URL": fake.url})
        watcher = threading.Thread(target=preemption.watch, args=(notices, seen.append, stop,
                                                                  0.05))
        watcher.start()
        if isinstance(fake, FakeGcp):
            fake.preempted = True
        else:
            fake.schedule("Preempt")
        watcher.join(timeout=5)
    stop.set()
    assert not watcher.is_alive() and [n.action for n in seen] == ["preempt"]
