"""The subprocess provider: real processes with a real lifecycle."""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from providers.base import (
    CapacityError,
    InstanceState,
    LaunchSpec,
    NotFoundError,
    NotSupportedError,
    Requirements,
    TransientError,
)
from providers.subprocess import SubprocessProvider

SLEEPER = (f"{sys.executable} -c \"import os, time; "
           f"print('db=' + os.environ.get('DATABASE_URL', 'none'), "
           f"'agent=' + os.environ['AIMA_AGENT_TOKEN'], flush=True); time.sleep(120)\"")


def provider(tmp_path, **settings) -> SubprocessProvider:
    return SubprocessProvider({"state_dir": str(tmp_path), "boot_delay_s": "0.2", **settings})


def spec(deployment: str = "d1", **kw) -> LaunchSpec:
    return LaunchSpec(name="agent-1", image="(local)", env={"AIMA_AGENT_TOKEN": "t0k"},
                      command=SLEEPER, tags={"aima-deployment": deployment}, **kw)


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def test_offers_follow_the_settings_and_the_requirements(tmp_path):
    sp = provider(tmp_path, gpu="Sim L40S:48", price_per_hour="0.8", spot_price_per_hour="0.3")
    [offer] = sp.offers(Requirements(min_vram_gb=24))
    assert (offer.gpu_model, offer.vram_gb, offer.price_per_hour, offer.spot_price_per_hour) == (
        "Sim L40S", 48, 0.8, 0.3)
    assert sp.offers(Requirements(min_vram_gb=80)) == []
    assert sp.offers(Requirements(spot=False, max_price_per_hour=0.5)) == []
    # Spot or not left open, the lower price counts (providers.matching.price_for).
    assert sp.offers(Requirements(max_price_per_hour=0.5))
    assert sp.offers(Requirements(min_cuda="12.8")) == []  # it claims CUDA 12.4
    assert sp.offers(Requirements(spot=True, max_price_per_hour=0.5))
    assert provider(tmp_path / "b").offers(Requirements(spot=True)) == []


def test_an_instance_boots_runs_with_only_its_own_env_and_terminates(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://secret@db/aima")
    sp = provider(tmp_path)
    [offer] = sp.offers(Requirements())
    instance = sp.launch(offer, spec())
    assert instance.state == InstanceState.RUNNING and instance.price_per_hour == 0.5
    log = tmp_path / f"{instance.instance_id}.log"
    wait_for(lambda: log.exists() and "agent=" in log.read_text())
    # A rented host knows nothing of the control plane's secrets.
    assert "db=none agent=t0k" in log.read_text()
    sp.terminate(instance.instance_id)
    assert sp.describe(instance.instance_id).state == InstanceState.TERMINATED
    sp.terminate(instance.instance_id)  # again: nothing to do, no error
    with pytest.raises(NotFoundError):
        sp.describe("sp-unknown")


def test_instances_are_found_by_tag_even_by_a_restarted_control_plane(tmp_path):
    sp = provider(tmp_path)
    [offer] = sp.offers(Requirements())
    ours = sp.launch(offer, spec("d1"))
    theirs = sp.launch(offer, spec("d2"))
    try:
        again = provider(tmp_path)  # a new process would build a new provider
        assert [i.instance_id for i in again.list_instances({"aima-deployment": "d1"})] == [
            ours.instance_id]
        again.terminate(ours.instance_id)
        assert again.list_instances({"aima-deployment": "d1"}) == []
        pid = json.loads((tmp_path / f"{ours.instance_id}.json").read_text())["pid"]
        # Terminated and reaped: the process is gone, not a zombie.
        assert not Path(f"/proc/{pid}").exists()
    finally:
        sp.terminate(ours.instance_id)
        sp.terminate(theirs.instance_id)


def test_a_process_that_dies_is_reported_terminated(tmp_path):
    sp = provider(tmp_path)
    [offer] = sp.offers(Requirements())
    instance = sp.launch(offer, LaunchSpec(name="x", image="", env={}, command="true",
                                           tags={"aima-deployment": "d1"}))
    wait_for(lambda: sp.describe(instance.instance_id).state == InstanceState.TERMINATED)
    assert sp.list_instances({"aima-deployment": "d1"}) == []


@pytest.mark.parametrize("fail_as, error", [("capacity", CapacityError),
                                            ("transient", TransientError)])
def test_injected_launch_failures_are_seeded(tmp_path, fail_as, error):
    sp = provider(tmp_path, fail_launch_share="0.5", fail_as=fail_as, fail_seed="3")
    [offer] = sp.offers(Requirements())
    outcomes = []
    for _ in range(8):
        try:
            instance = sp.launch(offer, LaunchSpec(name="x", image="", env={}, command="true"))
            outcomes.append("ok")
            sp.terminate(instance.instance_id)
        except error:
            outcomes.append("fail")
    again = provider(tmp_path / "again", fail_launch_share="0.5", fail_as=fail_as,
                     fail_seed="3")
    replay = []
    for _ in range(8):
        try:
            instance = again.launch(offer, LaunchSpec(name="x", image="", env={},
                                                      command="true"))
            replay.append("ok")
            again.terminate(instance.instance_id)
        except error:
            replay.append("fail")
    assert outcomes == replay and "ok" in outcomes and "fail" in outcomes


def test_pause_is_not_supported(tmp_path):
    with pytest.raises(NotSupportedError):
        provider(tmp_path).pause("sp-x")


def test_a_broken_host_boots_but_never_runs_its_command(tmp_path):
    sp = provider(tmp_path, never_register_share="1")
    [offer] = sp.offers(Requirements())
    instance = sp.launch(offer, spec())
    try:
        time.sleep(1.0)  # well past the boot delay of 0.2 s
        assert sp.describe(instance.instance_id).state == InstanceState.RUNNING
        assert "agent=" not in (tmp_path / f"{instance.instance_id}.log").read_text()
    finally:
        sp.terminate(instance.instance_id)
    assert sp.list_instances({}) == []


def test_the_host_exists_before_a_slow_launch_call_returns(tmp_path):
    sp = provider(tmp_path, launch_delay_s="1.5")
    [offer] = sp.offers(Requirements())
    with ThreadPoolExecutor(1) as pool:
        launching = pool.submit(sp.launch, offer, spec("slow"))
        # A control plane that lost the call still finds the host by its tags.
        wait_for(lambda: sp.list_instances({"aima-deployment": "slow"}), timeout=1.2)
        assert not launching.done()
        instance = launching.result()
    try:
        [found] = sp.list_instances({"aima-deployment": "slow"})
        assert found.instance_id == instance.instance_id
    finally:
        sp.terminate(instance.instance_id)


@pytest.mark.parametrize("key", ["fail_launch_share", "never_register_share"])
def test_a_share_outside_zero_to_one_is_refused_by_name(tmp_path, key):
    with pytest.raises(ValueError, match=f"AIMA_SUBPROCESS_{key.upper()}=1.5 must be between"):
        provider(tmp_path, **{key: "1.5"})
