"""The ``local`` provider: registered on-premises GPUs as offers at their own
cost per hour, so that they can be listed and compared beside cloud offers.

Local GPUs are not rented: nothing is launched or terminated here (an agent
on the host serves them). The control plane hands the provider its fleet as
plain ``LocalGpu`` records through ``fleet_source``; the provider itself knows
nothing of the database.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from aima_tasks.kernel.classification import USABLE_GPU_STATUSES
from aima_tasks.kernel.placement import LocalGpu
from aima_tasks.kernel.placement.inputs import cuda_tuple
from providers.base import Health, Instance, LaunchSpec, Offer, Requirements
from providers.errors import NotFoundError, NotSupportedError

NAME = "local"


class LocalProvider:
    name = NAME
    supports_pause = False

    def __init__(self, settings: Mapping[str, str]):
        self.region = settings.get("region", "LOCAL")
        self.fleet_source: Callable[[], list[LocalGpu]] = list

    def offers(self, requirements: Requirements) -> list[Offer]:
        if requirements.spot:
            return []
        now = datetime.now(UTC)
        return [
            Offer(provider=NAME, instance_type=f"gpu-{gpu.gpu_id}", gpu_model=gpu.model,
                  vram_gb=gpu.vram_gb, price_per_hour=gpu.cost_per_hour,
                  cuda_version=gpu.cuda_version, region=self.region, boot_s=0.0,
                  priced_at=now, offer_id=f"{NAME}:{gpu.gpu_id}")
            for gpu in self.fleet_source()
            if gpu.status in USABLE_GPU_STATUSES and gpu.vram_gb >= requirements.min_vram_gb
            and cuda_tuple(gpu.cuda_version) >= cuda_tuple(requirements.min_cuda)
            and (requirements.max_price_per_hour is None
                 or gpu.cost_per_hour <= requirements.max_price_per_hour)
        ]

    def launch(self, offer: Offer, spec: LaunchSpec) -> Instance:
        raise NotSupportedError("local GPUs are not launched: start an agent on the host "
                                "(python -m agents run)")

    def describe(self, instance_id: str) -> Instance:
        raise NotFoundError("local GPUs have no instances")

    def list_instances(self, tags: Mapping[str, str]) -> list[Instance]:
        return []

    def terminate(self, instance_id: str) -> None:
        return None

    def pause(self, instance_id: str) -> None:
        raise NotSupportedError("local GPUs are drained in the admin, not paused")

    resume = pause

    def health(self) -> Health:
        count = len(self.fleet_source())
        return Health(ok=True, message=f"{count} local GPU(s) registered")
