"""Polling the AWS spot interruption notice over IMDSv2, against a local fake of
the metadata service."""

from __future__ import annotations

import threading

import pytest

from agents import preemption
from agents.preemption import AwsSpotNotices, Notice
from tests.agents.fake_imds import FakeImds


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
    with pytest.raises(ValueError, match="AIMA_PREEMPTION_NOTICES='gcp'"):
        preemption.from_env({"AIMA_PREEMPTION_NOTICES": "gcp"})
