"""The ``gcp`` provider: NVIDIA GPU VMs on Google Compute Engine, on demand or
Spot, through ``google-cloud-compute`` (REST).

Settings (``AIMA_GCP_<KEY>``): ``providers.gcp_config.SETTINGS`` declares them
(project, zones, credentials, endpoints, the boot image, disk, network, prices).
Credentials: ``credentials_json`` or ``credentials_file`` (a service-account
key), else Application Default Credentials.

Offers: per zone, one per GPU type the zone has (``acceleratorTypes``) and the
provider knows (``gcp_catalogue.GPUS``): the fewest GPUs of that type that give
``Requirements.gpu_count``, on the machine type that carries them (G2 for L4,
A2 for A100, A3 for H100, N1 with attached T4 or V100), if the zone lists that
type (``machineTypes``). ``offer_id`` is ``"{machine type}:{zone}:{accelerator}:
{count}"``, ``region`` the zone's region. Prices are the Cloud Billing
Catalog's list prices for the parts (``gcp_catalogue``); ``cuda_version`` and
``boot_s`` come from the settings because the boot image decides both.
``reliability`` is 1.0: GCP publishes no per-host score, and Spot VMs'
preemptions are the policy's ``interruption_per_hour``.

A launch inserts a VM named after ``LaunchSpec.name`` with a random suffix;
its ``instance_id`` is ``"{zone}/{name}"``. Its ``startup-script`` metadata
(``gcp_boot``, or ``LaunchSpec.user_data`` when given) runs the agent; the env
says it deletes its own VM (``AIMA_SHUTDOWN=gcp``) and polls for preemption
(``AIMA_PREEMPTION_NOTICES=gcp``). Tags are labels (``gcp_labels``) for
filtering and metadata (``aima-tags``, JSON) for reading back, beside the offer
and the hourly price it was launched at; ``list_instances`` lists only VMs
with ``aima-tags``, so VMs started by hand are left alone. GPUs cannot live
migrate: ``onHostMaintenance=TERMINATE``, and no automatic restart (a VM that
crashed stays stopped for the control plane to end: its work has gone to another host). A Spot VM is
``provisioningModel=SPOT`` and deleted when preempted; GCP has no bids, so
``bid_per_hour`` is not used. The launch waits up to ``operation_timeout_s``
for the insert to finish, because an exhausted zone is only told there.

Pause stops the VM (its disk is kept and billed); resume starts it and waits
like a launch, since a start may find no capacity.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime

import requests
from google.auth.credentials import Credentials, with_scopes_if_required
from google.auth.transport.requests import AuthorizedSession
from google.cloud import compute_v1

from aima_tasks.kernel.placement.inputs import cuda_tuple
from providers import gcp_catalogue as cat
from providers.base import (
    Health,
    Instance,
    InstanceState,
    LaunchSpec,
    MultiGpu,
    Offer,
    Pausable,
    ProviderBase,
    Regional,
    Requirements,
    SpotMarket,
)
from providers.errors import NotFoundError, ProviderError, TransientError
from providers.gcp_boot import host_env, startup_script
from providers.gcp_config import (
    COMPUTE_SERVICE_ID,
    NAME,
    SCOPES,
    SETTINGS,
    Config,
    load_credentials,
)
from providers.gcp_errors import calling, operation_error
from providers.gcp_labels import encode, instance_name, label_filter, labels
from providers.gcp_records import (
    NAME_LABEL,
    OFFER_KEY,
    PRICE_KEY,
    STATES,
    TAGS_KEY,
    instance_from,
    metadata_of,
    parse_offer,
    region_of,
    split_id,
)
from providers.matching import matches, region_wanted

__all__ = ["NAME", "SETTINGS", "GcpProvider"]

DEPRECATED = frozenset({"DEPRECATED", "OBSOLETE", "DELETED"})

log = logging.getLogger(__name__)


class GcpProvider(Pausable, SpotMarket, Regional, MultiGpu, ProviderBase):
    """The mixins come before ``ProviderBase`` so that theirs are the
    attributes found first (``supports_pause`` above all)."""

    name = NAME
    resume_s = 90.0

    def __init__(self, settings: Mapping[str, str], credentials: Credentials | None = None):
        self.config = config = Config.from_settings(settings)
        self.storage_price_gb_month = config.storage_price_gb_month
        credentials = credentials or load_credentials(config)
        options = {"api_endpoint": config.api_endpoint}
        made = {"credentials": credentials, "client_options": options, "transport": "rest"}
        self.instances = compute_v1.InstancesClient(**made)
        self.operations = compute_v1.ZoneOperationsClient(**made)
        self.accelerator_types = compute_v1.AcceleratorTypesClient(**made)
        self.machine_types = compute_v1.MachineTypesClient(**made)
        self.billing: requests.Session = (
            requests.Session() if config.billing_api_key
            else AuthorizedSession(with_scopes_if_required(credentials, SCOPES)))
        self.cache = cat.Cache(config.price_ttl_s)
        self._call = {"timeout": config.request_timeout_s, "retry": None}

    # ------------------------------------------------------------ offers

    def offers(self, requirements: Requirements) -> list[Offer]:
        if cuda_tuple(self.config.cuda_version) < cuda_tuple(requirements.min_cuda):
            return []
        zones = [z for z in self.config.zones if region_wanted(region_of(z), requirements.regions)]
        candidates: list[tuple[str, cat.Gpu, int, str, tuple[int, float]]] = []
        failures: list[ProviderError] = []
        for zone in zones:
            try:
                hardware: cat.ZoneHardware = self.cache.get(f"zone:{zone}",
                                                            lambda z=zone: self._hardware(z))
            except ProviderError as problem:
                # A zone the project cannot use, or one down, leaves the others' offers.
                log.warning("gcp offers in %s: %s", zone, problem)
                failures.append(problem)
                continue
            for gpu in self._gpus():
                count = cat.count_for(gpu, requirements.gpu_count,
                                      hardware.accelerators.get(gpu.accelerator, 0))
                machine_type = gpu.machine_types.get(count or 0, "")
                if count and machine_type in hardware.machine_types:
                    candidates.append((zone, gpu, count, machine_type,
                                       hardware.machine_types[machine_type]))
        if failures and len(failures) == len(zones):
            raise failures[0]
        if not candidates:
            return []
        book: cat.PriceBook = self.cache.get("prices", self._prices)
        found = [self._offer(book, *candidate) for candidate in candidates]
        return [o for o in found if o is not None and matches(requirements, o)]

    def _offer(self, book: cat.PriceBook, zone: str, gpu: cat.Gpu, count: int,
               machine_type: str, size: tuple[int, float]) -> Offer | None:
        region = region_of(zone)
        price = book.hourly(machine_type, *size, gpu, count, region, spot=False)
        if price is None:
            return None
        spot = book.hourly(machine_type, *size, gpu, count, region, spot=True)
        kind = f"{machine_type} + {count}x {gpu.accelerator}" if gpu.attached else machine_type
        return Offer(
            provider=NAME, instance_type=kind, gpu_model=gpu.model, vram_gb=gpu.vram_gb,
            gpu_count=count, price_per_hour=price, region=region,
            cuda_version=self.config.cuda_version, spot_price_per_hour=spot,
            boot_s=self.config.boot_s, priced_at=book.fetched_at,
            offer_id=f"{machine_type}:{zone}:{gpu.accelerator}:{count}")

    def _gpus(self) -> list[cat.Gpu]:
        wanted = self.config.gpus
        return [gpu for gpu in cat.GPUS if not wanted or gpu.accelerator in wanted]

    def _hardware(self, zone: str) -> cat.ZoneHardware:
        project = self.config.project
        names = sorted({t for gpu in self._gpus() for t in gpu.machine_types.values()})
        with calling(f"listing GPU types in {zone}"):
            accelerators = {a.name: a.maximum_cards_per_instance for a in
                            self.accelerator_types.list(project=project, zone=zone,
                                                        **self._call)}
        with calling(f"listing machine types in {zone}"):
            # eq takes an RE2 expression that must match the whole name.
            request = compute_v1.ListMachineTypesRequest(
                project=project, zone=zone, filter=f'name eq "({"|".join(names)})"')
            machine_types = {m.name: (m.guest_cpus, round(m.memory_mb / 1024, 2)) for m in
                             self.machine_types.list(request=request, **self._call)
                             if m.deprecated.state not in DEPRECATED}
        return cat.ZoneHardware(accelerators=accelerators, machine_types=machine_types)

    def _prices(self) -> cat.PriceBook:
        with calling("reading the billing catalogue"):
            skus = cat.fetch_skus(self.billing, self.config.billing_endpoint,
                                  COMPUTE_SERVICE_ID, self.config.billing_api_key,
                                  self.config.request_timeout_s)
        return cat.parse_skus(skus)

    # ------------------------------------------------------------ lifecycle

    def launch(self, offer: Offer, spec: LaunchSpec) -> Instance:
        if not self.config.vm_image:
            raise ProviderError("the gcp provider has no boot image: set AIMA_GCP_VM_IMAGE to an "
                                "image with the NVIDIA driver, Docker and its NVIDIA toolkit")
        machine_type, zone, gpu, count = parse_offer(offer)
        name = instance_name(spec.name)
        price = (offer.spot_price_per_hour or offer.price_per_hour) if spec.spot \
            else offer.price_per_hour
        script = spec.user_data or startup_script(spec.command, {**spec.env, **host_env()},
                                                  image=spec.image, name=name)
        metadata = {"startup-script": script, TAGS_KEY: json.dumps(dict(spec.tags)),
                    OFFER_KEY: offer.key, PRICE_KEY: f"{price:.6f}",
                    # Deep Learning VM images install the driver at first boot when asked.
                    "install-nvidia-driver": "True"}
        resource = self._resource(name, zone, machine_type, gpu, count, spec, metadata)
        launched_at = datetime.now(UTC)
        with calling(f"inserting instance {name} in {zone}"):
            operation = self.instances.insert_unary(project=self.config.project, zone=zone,
                                                    instance_resource=resource, **self._call)
        log.info("gcp launching %s/%s (%s, %s)", zone, name, offer.key,
                 "spot" if spec.spot else "on demand")
        self._wait(operation, zone, f"launching {name} in {zone}")
        # Built from what was asked rather than described again: a failed
        # describe must not hide a VM that was created.
        return Instance(provider=NAME, instance_id=f"{zone}/{name}", state=InstanceState.PENDING,
                        offer_id=offer.key, gpu_model=gpu.model, price_per_hour=price,
                        spot=spec.spot, tags=dict(spec.tags), launched_at=launched_at)

    def _resource(self, name: str, zone: str, machine_type: str, gpu: cat.Gpu, count: int,
                  spec: LaunchSpec, metadata: Mapping[str, str]) -> compute_v1.Instance:
        config = self.config
        interface = compute_v1.NetworkInterface(network=config.network)
        if config.subnetwork:
            interface.subnetwork = config.subnetwork
        if config.external_ip:
            interface.access_configs = [compute_v1.AccessConfig(name="External NAT",
                                                                type_="ONE_TO_ONE_NAT")]
        scheduling = compute_v1.Scheduling(on_host_maintenance="TERMINATE",
                                           automatic_restart=False,
                                           provisioning_model="SPOT" if spec.spot else "STANDARD")
        if spec.spot:
            scheduling.instance_termination_action = "DELETE"
        resource = compute_v1.Instance(
            name=name, machine_type=f"zones/{zone}/machineTypes/{machine_type}",
            labels={NAME_LABEL: encode(spec.name), **labels(spec.tags)},
            metadata=compute_v1.Metadata(items=[compute_v1.Items(key=k, value=v)
                                                for k, v in metadata.items()]),
            disks=[compute_v1.AttachedDisk(
                boot=True, auto_delete=True,
                initialize_params=compute_v1.AttachedDiskInitializeParams(
                    source_image=config.vm_image, disk_size_gb=max(spec.disk_gb, config.disk_gb),
                    disk_type=f"zones/{zone}/diskTypes/{config.disk_type}"))],
            network_interfaces=[interface], scheduling=scheduling)
        if gpu.attached:
            resource.guest_accelerators = [compute_v1.AcceleratorConfig(
                accelerator_type=f"zones/{zone}/acceleratorTypes/{gpu.accelerator}",
                accelerator_count=count)]
        if config.service_account:
            resource.service_accounts = [compute_v1.ServiceAccount(
                email=config.service_account, scopes=list(SCOPES))]
        return resource

    def _wait(self, operation: compute_v1.Operation, zone: str, action: str) -> None:
        """Until the operation is done or ``operation_timeout_s`` has passed; its
        error, if it ended with one, raised as a typed ProviderError. Not hearing
        back is no failure: the VM may well be coming, and the caller keeps it."""
        deadline = time.monotonic() + self.config.operation_timeout_s
        while operation.status != compute_v1.Operation.Status.DONE:
            left = deadline - time.monotonic()
            if left <= 0:
                log.warning("gcp %s: not done after %.0f s", action,
                            self.config.operation_timeout_s)
                return
            try:
                with calling(action):
                    # wait answers when the operation is done, or after at most 2 minutes.
                    operation = self.operations.wait(
                        project=self.config.project, zone=zone, operation=operation.name,
                        timeout=left + self.config.request_timeout_s, retry=None)
            except TransientError as problem:
                log.warning("gcp %s: waiting: %s", action, problem)
                return
        if operation.error.errors or operation.http_error_status_code >= 400:
            raise operation_error(operation, action)

    def describe(self, instance_id: str) -> Instance:
        return instance_from(self._get(instance_id))

    def list_instances(self, tags: Mapping[str, str]) -> list[Instance]:
        request = compute_v1.AggregatedListInstancesRequest(project=self.config.project)
        if tags:
            request.filter = label_filter(tags)
        found = []
        with calling("listing instances"):
            for _, scoped in self.instances.aggregated_list(request=request, **self._call):
                for raw in scoped.instances:
                    if TAGS_KEY not in metadata_of(raw):
                        continue
                    instance = instance_from(raw)
                    if all(instance.tags.get(k) == v for k, v in tags.items()):
                        found.append(instance)
        return found

    def terminate(self, instance_id: str) -> None:
        try:
            zone, name = split_id(instance_id)
            with calling(f"deleting instance {instance_id}"):
                self.instances.delete_unary(project=self.config.project, zone=zone,
                                            instance=name, **self._call)
        except NotFoundError:
            return
        log.info("gcp deleting %s", instance_id)

    def pause(self, instance_id: str) -> None:
        raw = self._get(instance_id)
        if STATES.get(raw.status) == InstanceState.STOPPED:
            return
        zone, name = split_id(instance_id)
        with calling(f"stopping instance {instance_id}"):
            self.instances.stop_unary(project=self.config.project, zone=zone, instance=name,
                                      **self._call)

    def resume(self, instance_id: str) -> None:
        raw = self._get(instance_id)
        if raw.status in ("STOPPING", "SUSPENDING"):
            raise TransientError(f"gcp: {instance_id} is {raw.status.lower()}; resume it "
                                 "once it has stopped")
        if raw.status not in ("TERMINATED", "STOPPED", "SUSPENDED"):
            return
        zone, name = split_id(instance_id)
        start = self.instances.resume_unary if raw.status == "SUSPENDED" \
            else self.instances.start_unary
        with calling(f"starting instance {instance_id}"):
            operation = start(project=self.config.project, zone=zone, instance=name,
                              **self._call)
        self._wait(operation, zone, f"starting {instance_id}")

    def health(self) -> Health:
        zone = self.config.zones[0]
        try:
            with calling("checking the credentials"):
                request = compute_v1.ListAcceleratorTypesRequest(
                    project=self.config.project, zone=zone, max_results=1)
                next(iter(self.accelerator_types.list(request=request, **self._call)), None)
        except ProviderError as problem:
            return Health(ok=False, message=str(problem))
        where = f"project {self.config.project}, zones {','.join(self.config.zones)}"
        if not self.config.vm_image:
            return Health(ok=False, message=f"{where}; no boot image: set AIMA_GCP_VM_IMAGE")
        return Health(ok=True, message=f"{where}, boot image {self.config.vm_image}")

    def _get(self, instance_id: str) -> compute_v1.Instance:
        zone, name = split_id(instance_id)
        with calling(f"describing instance {instance_id}"):
            return self.instances.get(project=self.config.project, zone=zone, instance=name,
                                      **self._call)
