"""The ``subprocess`` provider: "rents" a GPU host by starting the instance's
command as a local process. A real lifecycle with no cloud account: it boots
(after a configurable delay), bills by the second at a configured price, can
fail on purpose, and is found again after a control-plane restart, because
every instance is a record on disk next to its process group.

Settings (``AIMA_SUBPROCESS_<KEY>``):

| key | default | meaning |
| --- | --- | --- |
| ``state_dir`` | ``$AIMA_VAR_DIR/subprocess-instances`` | where instance records live |
| ``gpu`` | ``Subprocess GPU:24`` | the GPU model and VRAM (GB) its offers claim |
| ``gpu_count`` | ``1`` | GPUs per instance |
| ``price_per_hour`` | ``0.50`` | on-demand price |
| ``spot_price_per_hour`` | (none) | spot price; no spot offers without it |
| ``boot_delay_s`` | ``1.0`` | seconds before the command starts |
| ``launch_delay_s`` | ``0`` | seconds a launch call takes once its host exists |
| ``fail_launch_share`` | ``0`` | share of launches that fail, 0 to 1 |
| ``fail_as`` | ``capacity`` | how they fail: ``capacity``, ``transient``, ``quota`` or ``auth`` |
| ``never_register_share`` | ``0`` | share of hosts that boot but never run the command |
| ``fail_seed`` | ``0`` | seed of the failure draws, for repeatable tests |
| ``region`` | ``LOCAL`` | the offers' region |
| ``metadata_url`` | (none) | a fake EC2 metadata service: its hosts poll it for spot notices |
| ``pause_support`` | ``0`` | ``1``: hosts can pause and resume (``subprocess_pause.py``) |
| ``resume_delay_s`` | ``0.2`` | seconds before a resumed host's command starts again |
| ``storage_price_gb_month`` | ``0.10`` | what a paused host's disk costs per GB and month |
| ``cuda_version`` | ``12.4`` | the CUDA version its offers claim |
| ``image`` | ``AIMA_AGENT_IMAGE`` | declared as every provider's; hosts here run no image |

The settings are declared in ``SETTINGS`` and checked with ``parse``; offers are
checked with ``providers.matching.matches``, the one rule of every provider.

A host's agent ends its host by ending its process (``AIMA_SHUTDOWN=process``).
With ``metadata_url`` every host plays an AWS spot instance: its agent polls
``<metadata_url>/<instance id>`` for preemption notices over IMDSv2's paths.

The process gets only the instance's environment plus what any process needs
to start (``PATH``, ``HOME``, the locale, the virtualenv): a rented host knows
nothing of the control plane's secrets. ``python`` on its ``PATH`` is this
interpreter, and ``AIMA_SIMULATE_GPU`` says the GPU its offers claim, so the
agent command an image would run works here unchanged.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from subprocess import DEVNULL, Popen

from aima_tasks.broker import var_dir
from aima_tasks.kernel.instance_env import (
    METADATA_URL_ENV,
    PREEMPTION_ENV,
    SHUTDOWN_ENV,
    NoticeSource,
    ShutdownMechanism,
)
from providers import errors
from providers.base import (
    Health,
    Instance,
    InstanceState,
    LaunchSpec,
    MultiGpu,
    Offer,
    ProviderBase,
    Regional,
    Requirements,
    SpotMarket,
)
from providers.matching import matches
from providers.settings_schema import IMAGE, Setting, SettingsError, parse

NAME = "subprocess"
INHERITED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV", "PYTHONPATH",
                 "SYSTEMROOT")
FAILURES: dict[str, type[errors.ProviderError]] = {
    "capacity": errors.CapacityError, "transient": errors.TransientError,
    "quota": errors.QuotaError, "auth": errors.AuthError}
# A cloud takes a terminated machine away at once; the agent gets a moment to
# give its unfinished task back, no more.
STOP_GRACE_S = 2.0

SETTINGS: tuple[Setting, ...] = (
    Setting("state_dir", str, "", help="where instance records live "
            "(default: $AIMA_VAR_DIR/subprocess-instances)"),
    Setting("gpu", str, "Subprocess GPU:24", help="the GPU model and VRAM (GB) its offers claim"),
    Setting("gpu_count", int, 1, help="GPUs per instance"),
    Setting("cuda_version", str, "12.4", help="the CUDA version its offers claim"),
    Setting("price_per_hour", float, 0.50, help="on-demand price"),
    Setting("spot_price_per_hour", float, None, help="spot price; no spot offers without it"),
    Setting("boot_delay_s", float, 1.0, help="seconds before the command starts"),
    Setting("launch_delay_s", float, 0.0, help="seconds a launch call takes once its host exists"),
    Setting("fail_launch_share", float, 0.0, help="share of launches that fail, 0 to 1"),
    Setting("fail_as", str, "capacity", choices=tuple(FAILURES), help="how they fail"),
    Setting("never_register_share", float, 0.0,
            help="share of hosts that boot but never run the command"),
    Setting("fail_seed", int, 0, help="seed of the failure draws, for repeatable tests"),
    Setting("region", str, "LOCAL", help="the offers' region"),
    Setting("metadata_url", str, "", help="a fake EC2 metadata service for spot notices"),
    Setting("pause_support", bool, False, help="hosts can pause and resume"),
    Setting("resume_delay_s", float, 0.2, help="seconds before a resumed host's command starts"),
    Setting("storage_price_gb_month", float, 0.10,
            help="what a paused host's disk costs per GB and month"),
    # Declared as every provider's is; hosts here run the command without an image.
    IMAGE,
)


@dataclass(frozen=True)
class Config:
    state_dir: Path
    gpu_model: str
    vram_gb: float
    gpu_count: int
    price_per_hour: float
    spot_price_per_hour: float | None
    boot_delay_s: float
    launch_delay_s: float
    fail_launch_share: float
    never_register_share: float
    fail_as: type[errors.ProviderError]
    fail_seed: int
    region: str
    metadata_url: str = ""
    pause_support: bool = False
    resume_delay_s: float = 0.2
    storage_price_gb_month: float = 0.10
    cuda_version: str = "12.4"

    @classmethod
    def from_settings(cls, settings: Mapping[str, str]) -> Config:
        values = parse(NAME, SETTINGS, settings)
        model, _, vram = values["gpu"].rpartition(":")
        try:
            vram_gb = float(vram)
        except ValueError:
            raise SettingsError(f"AIMA_SUBPROCESS_GPU={values['gpu']!r}: write NAME:VRAM_GB, "
                                "e.g. 'Subprocess GPU:24'") from None
        for key in ("fail_launch_share", "never_register_share"):
            if not 0 <= values[key] <= 1:
                raise SettingsError(f"AIMA_SUBPROCESS_{key.upper()}={values[key]:g} must be "
                                    "between 0 and 1")
        return cls(
            state_dir=Path(values["state_dir"] or var_dir() / "subprocess-instances"),
            gpu_model=model or "Subprocess GPU", vram_gb=vram_gb,
            gpu_count=values["gpu_count"], price_per_hour=values["price_per_hour"],
            spot_price_per_hour=values["spot_price_per_hour"] or None,
            boot_delay_s=values["boot_delay_s"], launch_delay_s=values["launch_delay_s"],
            fail_launch_share=values["fail_launch_share"],
            never_register_share=values["never_register_share"],
            fail_as=FAILURES[values["fail_as"]], fail_seed=values["fail_seed"],
            region=values["region"], metadata_url=values["metadata_url"].rstrip("/"),
            pause_support=values["pause_support"], resume_delay_s=values["resume_delay_s"],
            storage_price_gb_month=values["storage_price_gb_month"],
            cuda_version=values["cuda_version"])


class SubprocessProvider(ProviderBase, SpotMarket, Regional, MultiGpu):
    name = NAME

    def __new__(cls, settings: Mapping[str, str]) -> SubprocessProvider:
        # One entry point, two capabilities: with pause support on, the provider
        # is the subclass that has the Pausable capability.
        if cls is SubprocessProvider and Config.from_settings(settings).pause_support:
            from providers.subprocess_pause import PausableSubprocessProvider
            cls = PausableSubprocessProvider
        return super().__new__(cls)

    def __init__(self, settings: Mapping[str, str]):
        self.config = Config.from_settings(settings)
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        self._draws = random.Random(self.config.fail_seed)

    # ------------------------------------------------------------ offers

    def offers(self, requirements: Requirements) -> list[Offer]:
        config = self.config
        offer = Offer(
            provider=NAME, instance_type=f"{config.gpu_count}x-local-process",
            gpu_model=config.gpu_model, vram_gb=config.vram_gb, gpu_count=config.gpu_count,
            price_per_hour=config.price_per_hour, spot_price_per_hour=config.spot_price_per_hour,
            region=config.region, cuda_version=config.cuda_version,
            boot_s=config.boot_delay_s + 3.0, priced_at=datetime.now(UTC),
            offer_id=f"{NAME}:{config.region}")
        return [offer] if matches(requirements, offer) else []

    # ------------------------------------------------------------ lifecycle

    def launch(self, offer: Offer, spec: LaunchSpec) -> Instance:
        if self._draws.random() < self.config.fail_launch_share:
            raise self.config.fail_as(f"injected {self.config.fail_as.__name__} on launch")
        instance_id = f"sp-{uuid.uuid4().hex[:12]}"
        env = {key: os.environ[key] for key in INHERITED_ENV if key in os.environ}
        # "python" in the command is this interpreter, as on an image built for it.
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        # A GPU that says what it is: the one this provider's offers claim.
        env["AIMA_SIMULATE_GPU"] = f"{self.config.gpu_model}:{self.config.vram_gb:g}"
        env.update(spec.env)
        env.update(self._host_env(instance_id))
        command = spec.command
        # Drawn only when asked for, so that the failure draws of a seed stay as they were.
        if self.config.never_register_share and \
                self._draws.random() < self.config.never_register_share:
            command = "sleep infinity"
        pid = self._start(instance_id, command, env, self.config.boot_delay_s)
        price = (spec.bid_per_hour or offer.spot_price_per_hour or offer.price_per_hour) \
            if spec.spot else offer.price_per_hour
        record = {
            "instance_id": instance_id, "pid": pid, "offer_id": offer.key,
            "gpu_model": offer.gpu_model, "price_per_hour": price, "spot": spec.spot,
            "tags": dict(spec.tags), "name": spec.name,
            "launched_at": datetime.now(UTC).isoformat(), "terminated": False}
        self._write(record)
        # The host exists (and bills) before the API call returns.
        time.sleep(self.config.launch_delay_s)
        return self._instance(record)

    def _start(self, instance_id: str, command: str, env: Mapping[str, str],
               delay_s: float) -> int:
        """Start the host's command after ``delay_s`` (booting: a shell that
        sleeps, then execs it) in a process group of its own; return its pid."""
        log_path = self.config.state_dir / f"{instance_id}.log"
        with log_path.open("ab") as log:
            process = Popen(["/bin/sh", "-c", f"sleep {delay_s:g} && exec {command}"],
                            env=dict(env), stdin=DEVNULL, stdout=log, stderr=log,
                            start_new_session=True)
        return process.pid

    def _host_env(self, instance_id: str) -> dict[str, str]:
        """What this provider tells a host about itself: its agent ends the host
        by ending its process; with a metadata service, it is a spot host."""
        env = {SHUTDOWN_ENV: ShutdownMechanism.PROCESS.value}
        if self.config.metadata_url:
            env |= {PREEMPTION_ENV: NoticeSource.AWS.value,
                    METADATA_URL_ENV: f"{self.config.metadata_url}/{instance_id}"}
        return env

    def describe(self, instance_id: str) -> Instance:
        return self._instance(self._read(instance_id))

    def list_instances(self, tags: Mapping[str, str]) -> list[Instance]:
        found = []
        for path in sorted(self.config.state_dir.glob("sp-*.json")):
            record = json.loads(path.read_text())
            instance = self._instance(record)
            if instance.state == InstanceState.TERMINATED:
                continue
            if all(record["tags"].get(k) == v for k, v in tags.items()):
                found.append(instance)
        return found

    def terminate(self, instance_id: str) -> None:
        try:
            record = self._read(instance_id)
        except errors.NotFoundError:
            return
        # An ended (or paused) host's pid may be another process's now.
        if not record["terminated"] and not record.get("paused"):
            _stop_group(record["pid"])
        record["terminated"] = True
        self._write(record)

    def health(self) -> Health:
        writable = os.access(self.config.state_dir, os.W_OK)
        return Health(ok=writable, message=f"instances kept in {self.config.state_dir}"
                      if writable else f"{self.config.state_dir} is not writable")

    # ------------------------------------------------------------ records

    def _path(self, instance_id: str) -> Path:
        if not instance_id.startswith("sp-") or "/" in instance_id:
            raise errors.NotFoundError(f"no subprocess instance {instance_id!r}")
        return self.config.state_dir / f"{instance_id}.json"

    def _read(self, instance_id: str) -> dict:
        path = self._path(instance_id)
        if not path.exists():
            raise errors.NotFoundError(f"no subprocess instance {instance_id!r}")
        return json.loads(path.read_text())

    def _write(self, record: dict) -> None:
        path = self._path(record["instance_id"])
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(record))
        temporary.replace(path)

    def _instance(self, record: dict) -> Instance:
        paused = bool(record.get("paused")) and not record["terminated"]
        alive = not record["terminated"] and not paused and _alive(record["pid"])
        if not alive and not record["terminated"] and not paused:
            # Its process ended by itself (the agent ended its host): on record
            # as ended, as a cloud's API shows a host that powered itself off.
            record |= {"terminated": True, "ended_at": datetime.now(UTC).isoformat()}
            self._write(record)
        launched = datetime.fromisoformat(record["launched_at"])
        return Instance(
            provider=NAME, instance_id=record["instance_id"],
            state=InstanceState.STOPPED if paused else InstanceState.RUNNING if alive
            else InstanceState.TERMINATED,
            offer_id=record["offer_id"], gpu_model=record["gpu_model"],
            price_per_hour=record["price_per_hour"], spot=record["spot"],
            tags=record["tags"], launched_at=launched, address="127.0.0.1")


def _alive(pid: int) -> bool:
    try:
        # A child that exited but was not reaped yet is gone for our purposes.
        finished, _ = os.waitpid(pid, os.WNOHANG)
        if finished:
            return False
    except ChildProcessError:
        pass  # not our child (another worker process launched it): ask the kernel
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # Exited, but its parent has not reaped it: a zombie is not running.
    stat = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError):
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def _stop_group(pid: int) -> None:
    """SIGTERM the instance's process group, SIGKILL what is left after a grace."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + STOP_GRACE_S
    while time.monotonic() < deadline:
        if not _alive(pid):
            break
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    _alive(pid)  # reap it if it is our child
