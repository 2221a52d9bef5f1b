"""The subprocess provider with pause support: a paused host's process ends,
its disk stays, and it resumes with the same command, environment and folder."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from providers.base import InstanceState, LaunchSpec, NotFoundError, Pausable, Requirements
from providers.subprocess import SubprocessProvider
from providers.subprocess_pause import PausableSubprocessProvider

# Counts its starts in its working folder, as an agent keeps its identity there.
STARTER = (f"{sys.executable} -c \"import os, pathlib, time; "
           f"p = pathlib.Path(os.environ['AIMA_AGENT_WORKDIR']); p.mkdir(parents=True, "
           f"exist_ok=True); f = p / 'starts'; "
           f"f.write_text(str(int(f.read_text() if f.exists() else 0) + 1)); "
           f"print('token=' + os.environ['AIMA_AGENT_TOKEN'], flush=True); time.sleep(120)\"")


def provider(tmp_path: Path, **settings: str) -> SubprocessProvider:
    return SubprocessProvider({"state_dir": str(tmp_path), "boot_delay_s": "0.2",
                               "pause_support": "1", "resume_delay_s": "0.1",
                               "storage_price_gb_month": "7.3", **settings})


def spec() -> LaunchSpec:
    return LaunchSpec(name="agent-1", image="(local)", env={"AIMA_AGENT_TOKEN": "t0k"},
                      command=STARTER, tags={"aima-deployment": "d1"})


def wait_for(predicate, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def starts(sp: PausableSubprocessProvider, instance_id: str) -> int:
    counter = sp.host_dir(instance_id) / "agent" / "starts"
    return int(counter.read_text()) if counter.exists() else 0


def test_pause_support_is_a_setting_and_makes_it_pausable(tmp_path):
    plain = SubprocessProvider({"state_dir": str(tmp_path / "a")})
    assert not plain.supports_pause and not isinstance(plain, Pausable)
    sp = provider(tmp_path / "b")
    assert isinstance(sp, PausableSubprocessProvider) and sp.supports_pause
    # 40 GB at 7.3 per GB and month: 0.4 per hour of a 730-hour month.
    assert sp.paused_price_per_hour(40) == pytest.approx(0.4)
    [offer] = sp.offers(Requirements())
    assert sp.resume_s < offer.boot_s


def test_a_paused_host_stops_keeps_its_disk_and_resumes_as_itself(tmp_path):
    sp = provider(tmp_path)
    [offer] = sp.offers(Requirements())
    host = sp.launch(offer, spec())
    try:
        wait_for(lambda: starts(sp, host.instance_id) == 1)
        first_pid = json.loads((tmp_path / f"{host.instance_id}.json").read_text())["pid"]
        sp.pause(host.instance_id)
        sp.pause(host.instance_id)  # again: nothing to do
        assert sp.describe(host.instance_id).state == InstanceState.STOPPED
        # Still ours: the reconciler sees it, stopped, not gone.
        [listed] = sp.list_instances({"aima-deployment": "d1"})
        assert listed.state == InstanceState.STOPPED
        sp.resume(host.instance_id)
        assert sp.describe(host.instance_id).state == InstanceState.RUNNING
        wait_for(lambda: starts(sp, host.instance_id) == 2)
        record = json.loads((tmp_path / f"{host.instance_id}.json").read_text())
        assert record["pid"] != first_pid and not record["paused"]
        # The same environment again (a real agent would use its kept credential).
        log = (tmp_path / f"{host.instance_id}.log").read_text()
        assert log.count("token=t0k") == 2
        sp.resume(host.instance_id)  # running: nothing to do
        assert starts(sp, host.instance_id) == 2
    finally:
        sp.terminate(host.instance_id)
    assert sp.describe(host.instance_id).state == InstanceState.TERMINATED
    assert not sp.host_dir(host.instance_id).exists()


def test_a_paused_host_terminates_and_a_terminated_one_cannot_pause(tmp_path):
    sp = provider(tmp_path)
    [offer] = sp.offers(Requirements())
    host = sp.launch(offer, spec())
    sp.pause(host.instance_id)
    sp.terminate(host.instance_id)
    assert sp.describe(host.instance_id).state == InstanceState.TERMINATED
    assert sp.list_instances({"aima-deployment": "d1"}) == []
    with pytest.raises(NotFoundError):
        sp.resume(host.instance_id)
    with pytest.raises(NotFoundError):
        sp.pause(host.instance_id)
