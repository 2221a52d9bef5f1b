"""The ``runpod`` provider: GPU pods at RunPod through the ``runpod`` SDK.

Settings (``AIMA_RUNPOD_<KEY>``):

| key | default | meaning |
| --- | --- | --- |
| ``api_key`` | (required) | a RunPod API key with read and write access |
| ``url`` | ``https://api.runpod.io`` | the API's base; ``/graphql`` is added |
| ``cloud_type`` | ``ALL`` | ``SECURE``, ``COMMUNITY`` or ``ALL`` (offers from both) |
| ``min_cuda`` | ``12.4`` | the least CUDA its offers promise; launches are pinned to it |
| ``boot_s`` | ``240`` | expected seconds from launch to a running agent (image pull) |
| ``image`` | ``AIMA_AGENT_IMAGE`` | the agent image its pods run |

Offers: one per GPU type and cloud type with a free machine now, priced per
hour for ``Requirements.gpu_count`` GPUs: on demand from RunPod's lowest
uninterruptible price, spot from its lowest (minimum) bid. ``offer_id`` is
``"<gpu type id>:<SECURE|COMMUNITY>"``, with ``":<n>"`` added for n > 1 GPUs.
RunPod picks the machine, so an offer has no region; a job that must stay in a
region gets no RunPod offers. Offers are checked with ``providers.matching.matches``.

RunPod pods carry no tags. A pod launched here carries its tags in its
environment, ``AIMA_TAGS`` (``key=value&...``, URL-encoded), next to
``AIMA_OFFER_ID`` and ``AIMA_LAUNCHED_AT``; ``list_instances`` reads them back
and never lists a pod without ``AIMA_TAGS``, so pods started by hand in the
same account are left alone. The boot command travels base64-encoded in the
docker arguments, out of reach of RunPod's quoting.

The SDK keeps its key in ``runpod.api_key`` and reads its base URL from the
environment (``RUNPOD_API_BASE_URL``) on every call: each call here sets both
under one lock and puts back what was there, so providers with different keys
or URLs, and other users of the SDK, do not see each other's.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode

import runpod
from runpod.api.graphql import run_graphql_query

from aima_tasks.kernel.instance_env import SHUTDOWN_ENV, ShutdownMechanism
from aima_tasks.kernel.placement.inputs import cuda_tuple
from providers import runpod_graphql as gql
from providers.base import (
    Health,
    Instance,
    InstanceState,
    LaunchSpec,
    MultiGpu,
    Offer,
    Pausable,
    ProviderBase,
    Requirements,
    SpotMarket,
)
from providers.errors import AuthError, CapacityError, NotFoundError, ProviderError, TransientError
from providers.matching import matches
from providers.runpod_config import CLOUD_TYPES, CUDA_VERSIONS, NAME, SETTINGS, Config
from providers.runpod_errors import map_error

__all__ = ["NAME", "SETTINGS", "RunPodProvider"]

# Where the SDK (runpod/api/graphql.py) looks for its base URL, on every call.
BASE_URL_ENV = "RUNPOD_API_BASE_URL"
TAGS_ENV = "AIMA_TAGS"
OFFER_ENV = "AIMA_OFFER_ID"
LAUNCHED_ENV = "AIMA_LAUNCHED_AT"
SPOT_POD_TYPES = frozenset({"INTERRUPTABLE", "BID"})
STATES = {
    "CREATED": InstanceState.PENDING,
    "RESTARTING": InstanceState.PENDING,
    "EXITED": InstanceState.STOPPED,
    "PAUSED": InstanceState.STOPPED,
    # A dead container still holds its machine's disk and bills for it until
    # terminated: stopped, not gone.
    "DEAD": InstanceState.STOPPED,
    "TERMINATED": InstanceState.TERMINATED,
}
POD_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

_SDK_LOCK = threading.RLock()

log = logging.getLogger(__name__)
T = TypeVar("T")


class RunPodProvider(ProviderBase, Pausable, SpotMarket, MultiGpu):
    name = NAME

    def __init__(self, settings: Mapping[str, str]):
        self.config = Config.from_settings(settings)

    # ------------------------------------------------------------ offers

    def offers(self, requirements: Requirements) -> list[Offer]:
        cuda = max(requirements.min_cuda, self.config.min_cuda, key=cuda_tuple)
        if not _cuda_from(cuda):
            return []
        count = requirements.gpu_count
        answer = self._call("listing GPU prices", run_graphql_query,
                            gql.offers_query(count, self.config.cloud_types))
        gpu_types = gql.data(answer, "gpuTypes", "listing GPU prices") or []
        now = datetime.now(UTC)
        found = []
        for gpu in gpu_types:
            most = gpu.get("maxGpuCount")
            if not gpu.get("memoryInGb") or (most and count > most):
                continue  # nothing to price, or not rentable with that many GPUs
            for cloud in self.config.cloud_types:
                offer = self._offer(gpu, cloud, count, cuda, now)
                if offer is not None and matches(requirements, offer):
                    found.append(offer)
        return found

    def _offer(self, gpu: Mapping[str, Any], cloud: str, count: int, cuda: str,
               now: datetime) -> Offer | None:
        lowest = gpu.get(cloud.lower()) or {}
        if not lowest.get("stockStatus"):
            return None
        prefix = cloud.lower()
        per_gpu = lowest.get("uninterruptablePrice") or gpu.get(f"{prefix}Price")
        spot_per_gpu = lowest.get("minimumBidPrice") or gpu.get(f"{prefix}SpotPrice")
        if not per_gpu:
            return None
        offer_id = f"{gpu['id']}:{cloud}" + (f":{count}" if count > 1 else "")
        return Offer(
            provider=NAME, instance_type=f"{count}x {gpu.get('displayName') or gpu['id']} "
                                         f"{cloud}",
            gpu_model=gpu.get("displayName") or gpu["id"], vram_gb=float(gpu["memoryInGb"]),
            gpu_count=count, price_per_hour=round(per_gpu * count, 4),
            spot_price_per_hour=round(spot_per_gpu * count, 4) if spot_per_gpu else None,
            cuda_version=cuda, boot_s=self.config.boot_s, priced_at=now, offer_id=offer_id)

    # ------------------------------------------------------------ lifecycle

    def launch(self, offer: Offer, spec: LaunchSpec) -> Instance:
        gpu_type_id, cloud, count = _parse_offer(offer)
        launched_at = datetime.now(UTC)
        env = {**spec.env, TAGS_ENV: urlencode(sorted(spec.tags.items())),
               OFFER_ENV: offer.key, LAUNCHED_ENV: launched_at.isoformat(),
               # Its agent ends it with the pod's own RUNPOD_POD_ID and RUNPOD_API_KEY.
               SHUTDOWN_ENV: ShutdownMechanism.RUNPOD.value}
        docker_args = _boot_args(spec.command)
        cuda = _cuda_from(offer.cuda_version)
        if spec.spot:
            bid = spec.bid_per_hour or offer.spot_price_per_hour
            if not bid:
                raise ProviderError(f"offer {offer.key} has no spot price and the launch "
                                    "named no bid")
            bid_per_gpu = round(bid / count, 4)
            answer = self._call("renting a spot pod", run_graphql_query, gql.spot_mutation({
                "bidPerGpu": bid_per_gpu, "name": spec.name, "imageName": spec.image,
                "gpuTypeId": gpu_type_id, "cloudType": gql.Enum(cloud), "gpuCount": count,
                "containerDiskInGb": spec.disk_gb, "volumeInGb": 0, "dockerArgs": docker_args,
                "env": [{"key": k, "value": v} for k, v in env.items()],
                "allowedCudaVersions": list(cuda), "supportPublicIp": False,
                "startSsh": False}))
            pod = gql.data(answer, "podRentInterruptable", "renting a spot pod")
            price = round(bid_per_gpu * count, 4)
        else:
            pod = self._call(
                "creating a pod", runpod.create_pod, name=gql.escape(spec.name),
                image_name=gql.escape(spec.image), gpu_type_id=gql.escape(gpu_type_id),
                cloud_type=cloud, gpu_count=count, container_disk_in_gb=spec.disk_gb,
                volume_in_gb=0, docker_args=gql.escape(docker_args),
                env={gql.escape(k): gql.escape(v) for k, v in env.items()},
                allowed_cuda_versions=list(cuda), support_public_ip=False, start_ssh=False)
            price = offer.price_per_hour
        if not pod or not pod.get("id"):
            raise TransientError("RunPod accepted the launch but answered no pod id")
        log.info("launched RunPod pod %s (%s, %s)", pod["id"], offer.key,
                 "spot" if spec.spot else "on demand")
        # Built from what was asked rather than described again: a failed
        # describe must not hide a pod that was rented.
        return Instance(provider=NAME, instance_id=pod["id"], state=InstanceState.PENDING,
                        offer_id=offer.key, gpu_model=offer.gpu_model, price_per_hour=price,
                        spot=spec.spot, tags=dict(spec.tags), launched_at=launched_at)

    def describe(self, instance_id: str) -> Instance:
        return _instance(self._pod(instance_id))

    def list_instances(self, tags: Mapping[str, str]) -> list[Instance]:
        pods = self._call("listing pods", runpod.get_pods) or []
        found = []
        for pod in pods:
            env = _env(pod)
            if TAGS_ENV not in env:
                continue
            instance = _instance(pod)
            if instance.state != InstanceState.TERMINATED and all(
                    instance.tags.get(key) == value for key, value in tags.items()):
                found.append(instance)
        return found

    def terminate(self, instance_id: str) -> None:
        if not POD_ID.match(instance_id):
            return
        try:
            self._pod_mutation("terminating pod", instance_id, runpod.terminate_pod,
                               instance_id)
        except NotFoundError:
            return

    def pause(self, instance_id: str) -> None:
        self._pod_mutation("stopping pod", instance_id, runpod.stop_pod, instance_id)

    def resume(self, instance_id: str) -> None:
        pod = self._pod(instance_id)
        if pod.get("desiredStatus") == "RUNNING":
            return
        count = int(pod.get("gpuCount") or 1)
        if pod.get("podType") not in SPOT_POD_TYPES:
            self._pod_mutation("resuming pod", instance_id, runpod.resume_pod, instance_id,
                               count)
            return
        # RunPod refuses podResume for a spot pod ("Cannot resume a spot pod as an
        # on demand pod"): it is bid for again, at the price it ran at.
        bid_per_gpu = round(float(pod.get("costPerHr") or 0) / count, 4)
        if bid_per_gpu <= 0:
            raise ProviderError(f"spot pod {instance_id} has no price to bid again with")
        self._pod_mutation("resuming spot pod", instance_id, run_graphql_query,
                           gql.bid_resume_mutation(instance_id, bid_per_gpu, count))

    def health(self) -> Health:
        try:
            user = self._call("checking the API key", runpod.get_user)
        except ProviderError as problem:
            return Health(ok=False, message=str(problem))
        if not user:
            return Health(ok=False, message=f"RunPod at {self.config.url} answered no user")
        return Health(ok=True, message=f"RunPod at {self.config.url} accepts the API key")

    # ------------------------------------------------------------ the SDK

    def _pod(self, instance_id: str) -> dict[str, Any]:
        if not POD_ID.match(instance_id):
            raise NotFoundError(f"no RunPod pod {instance_id!r}")
        pod = self._call("describing pod", runpod.get_pod, instance_id)
        if not pod:
            raise NotFoundError(f"no RunPod pod {instance_id!r}")
        return pod

    def _pod_mutation(self, action: str, instance_id: str, function: Callable[..., Any],
                      *args: Any) -> Any:
        """A change to one pod; RunPod's refusal for a pod that is gone (or
        terminated) becomes NotFoundError, whatever its words for it."""
        if not POD_ID.match(instance_id):
            raise NotFoundError(f"no RunPod pod {instance_id!r}")
        try:
            return self._call(action, function, *args)
        except ProviderError as refusal:
            if refusal.retryable or isinstance(refusal, AuthError | NotFoundError):
                raise
            if self._pod(instance_id).get("desiredStatus") == "TERMINATED":
                raise NotFoundError(f"RunPod pod {instance_id!r} is terminated") from None
            raise

    def _call(self, action: str, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            with self._sdk():
                return function(*args, **kwargs)
        except Exception as problem:  # every SDK failure becomes a typed ProviderError
            mapped = map_error(problem, action, self.config.api_key, self.config.url)
        expected = isinstance(mapped, NotFoundError | CapacityError)
        log.log(logging.DEBUG if expected else logging.WARNING, "%s: %s",
                type(mapped).__name__, mapped)
        # Dropping the cause keeps the SDK's query text, with the pod's env
        # values, out of tracebacks and logs.
        raise mapped from None

    @contextmanager
    def _sdk(self) -> Iterator[None]:
        with _SDK_LOCK:
            saved_key, saved_url = runpod.api_key, os.environ.get(BASE_URL_ENV)
            runpod.api_key = self.config.api_key
            os.environ[BASE_URL_ENV] = self.config.url
            try:
                yield
            finally:
                runpod.api_key = saved_key
                if saved_url is None:
                    os.environ.pop(BASE_URL_ENV, None)
                else:
                    os.environ[BASE_URL_ENV] = saved_url


# ------------------------------------------------------------------ helpers

def _cuda_from(version: str) -> tuple[str, ...]:
    floor = cuda_tuple(version)
    return tuple(v for v in CUDA_VERSIONS if cuda_tuple(v) >= floor)


def _parse_offer(offer: Offer) -> tuple[str, str, int]:
    gpu_type_id, _, rest = offer.offer_id.partition(":")
    cloud, _, count = rest.partition(":")
    if offer.provider != NAME or not gpu_type_id or cloud not in CLOUD_TYPES:
        raise ProviderError(f"offer {offer.key!r} is not a RunPod offer")
    return gpu_type_id, cloud, int(count or offer.gpu_count or 1)


def _boot_args(command: str) -> str:
    """Docker arguments that run ``command`` with sh. base64 carries any quotes
    or newlines past RunPod's splitting of the arguments (SkyPilot's RunPod
    provisioner does the same for the same reason)."""
    if not command:
        return ""
    encoded = base64.b64encode(command.encode()).decode()
    return (f"sh -c 'echo {encoded} | base64 -d > /tmp/aima-boot.sh; "
            f"exec sh /tmp/aima-boot.sh'")


def _env(pod: Mapping[str, Any]) -> dict[str, str]:
    pairs = (item.partition("=") for item in pod.get("env") or [] if isinstance(item, str))
    return {key: value for key, _, value in pairs}


def _instance(pod: Mapping[str, Any]) -> Instance:
    env = _env(pod)
    status = pod.get("desiredStatus") or ""
    runtime = pod.get("runtime")
    if status == "RUNNING":
        # Running as desired but with no runtime yet: still pulling its image.
        state = InstanceState.RUNNING if runtime else InstanceState.PENDING
    else:
        state = STATES.get(status, InstanceState.UNKNOWN)
    ports = (runtime or {}).get("ports") or []
    public = [p["ip"] for p in ports if p.get("isIpPublic") and p.get("ip")]
    launched = env.get(LAUNCHED_ENV)
    try:
        launched_at = datetime.fromisoformat(launched) if launched else None
    except ValueError:
        launched_at = None
    return Instance(
        provider=NAME, instance_id=pod["id"], state=state, offer_id=env.get(OFFER_ENV, ""),
        gpu_model=(pod.get("machine") or {}).get("gpuDisplayName") or "",
        price_per_hour=float(pod.get("costPerHr") or 0.0),
        spot=pod.get("podType") in SPOT_POD_TYPES,
        tags=dict(parse_qsl(env.get(TAGS_ENV, ""), keep_blank_values=True)),
        launched_at=launched_at, address=public[0] if public else "")
