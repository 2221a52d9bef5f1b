"""The ``azure`` provider: NVIDIA GPU VMs on Microsoft Azure, pay-as-you-go or
Spot, through ``azure-mgmt-compute`` and ``azure-identity``.

Settings (``AIMA_AZURE_<KEY>``): ``providers.azure_config.SETTINGS`` declares
them all with their defaults; the ones to set are ``subscription_id``,
``resource_group``, ``tenant_id``/``client_id``/``client_secret`` (a service
principal; without them ``DefaultAzureCredential``: environment, managed
identity, Azure CLI), ``regions`` and ``subnet_id``.

Offers are one per GPU size (``providers.azure_prices.SIZES``) and region
where ``resource_skus`` lists the size for the subscription without a
location restriction: ``offer_id`` is ``"{size}:{region}"``, prices from the
Retail Prices API, a Spot price only for sizes whose SKU says
``LowPriorityCapable``. ``cuda_version`` and ``boot_s`` are settings because
the VM image decides both.

A launch creates the VM with ``network_profile.network_api_version`` and a
NIC configuration, so that Azure creates (and deletes with the VM) its NIC
in ``subnet_id`` without the network SDK; its OS disk goes with it too. The
VM's name is the launch's name with a random suffix (one resource group may
serve several deployments, and a retried launch must not update the VM of an
earlier try); it carries ``LaunchSpec.tags``, ``Name`` and, for ``describe``,
its offer and price. Its custom data is ``providers.azure_boot``'s script: the
agent image as a systemd service, with ``AIMA_SHUTDOWN=azure`` and
``AIMA_PREEMPTION_NOTICES=azure``. It has a system-assigned managed identity,
and (``self_delete_role``) the role Virtual Machine Contributor on itself, so
that its agent can delete its own VM when the control plane is gone; that
needs the service principal to be allowed ``roleAssignments/write`` on the
resource group (e.g. Role Based Access Control Administrator), and a refusal
is logged, not fatal. A VM that deletes itself leaves that assignment orphaned.
Spot VMs are ``priority=Spot`` with ``evictionPolicy=Delete`` and a max price.

Nothing waits for a long-running operation: the first answer of create,
delete, deallocate and start is taken, and the lifecycle polls ``describe``.
A pause deallocates (a deallocated VM bills only its disks; a VM that is only
stopped bills in full), a resume starts it again.
"""

from __future__ import annotations

import logging
import re
import secrets
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from azure.core.rest import HttpRequest
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute.models import VirtualMachine, VirtualMachineInstanceView

from aima_tasks.kernel.placement.inputs import cuda_tuple
from providers.azure_boot import custom_data, host_env
from providers.azure_config import NAME, SETTINGS, Config, credential, image_reference
from providers.azure_errors import calling
from providers.azure_prices import SIZES, RetailPrices
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
from providers.errors import NotFoundError, ProviderError
from providers.matching import matches, region_wanted

__all__ = ["NAME", "SETTINGS", "AzureProvider"]

OFFER_TAG = "aima-azure-offer"
PRICE_TAG = "aima-azure-price-per-hour"
INTERNAL_TAGS = frozenset({OFFER_TAG, PRICE_TAG})
VM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")
NETWORK_API_VERSION = "2022-11-01"
ROLE_API_VERSION = "2022-04-01"
VM_CONTRIBUTOR = "9980e02c-c2be-4d73-94e8-173b1dc7cf3c"  # built-in role id
POWER_STATES = {
    "starting": InstanceState.PENDING,
    "running": InstanceState.RUNNING,
    "stopping": InstanceState.STOPPED,
    "stopped": InstanceState.STOPPED,
    "deallocating": InstanceState.STOPPED,
    "deallocated": InstanceState.STOPPED,
}

log = logging.getLogger(__name__)
# azure-core logs every request and answer at INFO (headers, redacted); ours
# say what was done, and its warnings still come through.
logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)


class AzureProvider(ProviderBase, Pausable, SpotMarket, Regional, MultiGpu):
    name = NAME

    def __init__(self, settings: Mapping[str, str]):
        self.config = config = Config.from_settings(settings)
        self.storage_price_gb_month = config.storage_price_gb_month
        self.resume_s = config.resume_s
        verify = {"connection_verify": config.ca_bundle} if config.ca_bundle else {}
        self._compute = ComputeManagementClient(
            credential(config), config.subscription_id, base_url=config.arm_endpoint,
            credential_scopes=[f"{config.arm_endpoint}/.default"],
            retry_total=config.retry_total, **verify)
        self._prices = RetailPrices(config.prices_endpoint, config.verify)

    # ------------------------------------------------------------ offers

    def offers(self, requirements: Requirements) -> list[Offer]:
        if cuda_tuple(self.config.cuda_version) < cuda_tuple(requirements.min_cuda):
            return []
        regions = [r for r in self.config.regions if region_wanted(r, requirements.regions)
                   and self.config.launchable(r)]
        found: list[Offer] = []
        failures: list[ProviderError] = []
        for region in regions:
            try:
                found.extend(self._region_offers(region, requirements))
            except ProviderError as exc:
                # One region that is down, or not enabled, leaves the others' offers.
                log.warning("azure offers in %s: %s", region, exc)
                failures.append(exc)
        if failures and len(failures) == len(regions):
            raise failures[0]
        return found

    def _region_offers(self, region: str, requirements: Requirements) -> list[Offer]:
        now = datetime.now(UTC)
        found = []
        for size, spot_capable in self._available_sizes(region).items():
            gpu = SIZES[size]
            # Cheap checks first: each size left costs a price request.
            if gpu.gpu_count < requirements.gpu_count or gpu.vram_gb < requirements.min_vram_gb:
                continue
            price = self._prices.price(region, size)
            if price.on_demand is None:
                continue
            offer = Offer(
                provider=NAME, instance_type=size, gpu_model=gpu.gpu_model,
                vram_gb=gpu.vram_gb, gpu_count=gpu.gpu_count, price_per_hour=price.on_demand,
                spot_price_per_hour=price.spot if spot_capable else None, region=region,
                cuda_version=self.config.cuda_version, boot_s=self.config.boot_s,
                priced_at=now, offer_id=f"{size}:{region}")
            if matches(requirements, offer):
                found.append(offer)
        return found

    def _available_sizes(self, region: str) -> dict[str, bool]:
        """The table's sizes this subscription may create in ``region``, each
        with whether it may run as Spot."""
        sizes: dict[str, bool] = {}
        with calling(f"listing VM sizes in {region}"):
            skus = list(self._compute.resource_skus.list(filter=f"location eq '{region}'"))
        for sku in skus:
            if sku.resource_type != "virtualMachines" or sku.name not in SIZES:
                continue
            if region.lower() not in {loc.lower() for loc in sku.locations or []}:
                continue
            # ResourceSkuRestrictions is a mapping: .values is the method, not the field.
            if any(r.type == "Location" and region.lower() in
                   {v.lower() for v in r.get("values") or []} for r in sku.restrictions or []):
                continue  # e.g. NotAvailableForSubscription
            capabilities = {c.name: c.value for c in sku.capabilities or []}
            sizes[sku.name] = str(capabilities.get("LowPriorityCapable", "")).lower() == "true"
        return sizes

    # ------------------------------------------------------------ lifecycle

    def launch(self, offer: Offer, spec: LaunchSpec) -> Instance:
        size, region = _target(offer)
        image = spec.image or self.config.image
        if not image:
            raise ProviderError("the azure launch names no agent image (LaunchSpec.image or "
                                "AIMA_AZURE_IMAGE)")
        name = vm_name(spec.name)
        if spec.spot:
            bid = spec.bid_per_hour or offer.spot_price_per_hour
            price = offer.spot_price_per_hour or bid or offer.price_per_hour
        else:
            bid, price = None, offer.price_per_hour
        tags = {**spec.tags, "Name": spec.name}
        body = self._vm_body(name, size, region, spec, image, bid)
        body["tags"] = {**tags, OFFER_TAG: offer.key, PRICE_TAG: f"{price:.5f}"}
        with calling(f"creating VM {name}"):
            # polling=False: the first answer; Azure goes on creating the VM.
            vm = self._compute.virtual_machines.begin_create_or_update(
                self.config.resource_group, name, body, polling=False).result()
        log.info("azure launched %s (%s in %s, %s)", name, size, region,
                 "spot" if spec.spot else "on demand")
        if self.config.self_delete_role:
            self._let_it_delete_itself(vm)
        # Built from what was asked: the VM may not be visible to a list yet.
        return Instance(provider=NAME, instance_id=name, state=InstanceState.PENDING,
                        offer_id=offer.key, gpu_model=offer.gpu_model, price_per_hour=price,
                        spot=spec.spot, tags=tags, launched_at=datetime.now(UTC))

    def _vm_body(self, name: str, size: str, region: str, spec: LaunchSpec, image: str,
                 bid: float | None) -> dict[str, Any]:
        """The VM as ARM's REST API takes it (azure.mgmt.compute.types.VirtualMachine)."""
        config = self.config
        env = {**spec.env, **host_env()}
        nic: dict[str, Any] = {"name": f"{name}-nic", "properties": {
            "primary": True, "deleteOption": "Delete",
            "ipConfigurations": [{"name": f"{name}-ip", "properties": {
                "primary": True, "subnet": {"id": config.subnet_for(region)}}}]}}
        if config.public_ip:
            nic["properties"]["ipConfigurations"][0]["properties"][
                "publicIPAddressConfiguration"] = {
                "name": f"{name}-pip", "sku": {"name": "Standard"},
                "properties": {"deleteOption": "Delete"}}
        properties: dict[str, Any] = {
            "hardwareProfile": {"vmSize": size},
            "storageProfile": {
                "imageReference": image_reference(config.vm_image),
                "osDisk": {"createOption": "FromImage", "deleteOption": "Delete",
                           "diskSizeGB": max(config.disk_gb, spec.disk_gb),
                           "managedDisk": {"storageAccountType": config.disk_type}}},
            "osProfile": self._os_profile(name, custom_data(spec.command, env, image, name)),
            "networkProfile": {"networkApiVersion": NETWORK_API_VERSION,
                               "networkInterfaceConfigurations": [nic]},
        }
        if spec.spot:
            # -1: up to the pay-as-you-go price, never evicted for price.
            properties.update(priority="Spot", evictionPolicy="Delete",
                              billingProfile={"maxPrice": round(bid, 5) if bid else -1})
        return {"location": region, "identity": {"type": "SystemAssigned"},
                "properties": properties}

    def _os_profile(self, name: str, custom: str) -> dict[str, Any]:
        config = self.config
        profile: dict[str, Any] = {"computerName": name, "adminUsername": config.admin_username,
                                   "customData": custom}
        if config.ssh_public_key:
            profile["linuxConfiguration"] = {"disablePasswordAuthentication": True, "ssh": {
                "publicKeys": [{"path": f"/home/{config.admin_username}/.ssh/authorized_keys",
                                "keyData": config.ssh_public_key}]}}
        else:
            # Azure wants a key or a password; one nobody keeps locks the door.
            profile["adminPassword"] = config.admin_password or "Aa1!" + secrets.token_urlsafe(24)
        return profile

    def _let_it_delete_itself(self, vm: VirtualMachine) -> None:
        principal = vm.identity.principal_id if vm.identity else None
        if not principal or not vm.id:
            log.warning("azure VM %s has no identity yet: its agent cannot delete it", vm.name)
            return
        subscription = self.config.subscription_id
        # A name derived from the VM: a retried assignment is the same one.
        assignment = uuid.uuid5(uuid.NAMESPACE_URL, f"{vm.id}/{VM_CONTRIBUTOR}")
        request = HttpRequest(
            "PUT", f"{vm.id}/providers/Microsoft.Authorization/roleAssignments/{assignment}",
            params={"api-version": ROLE_API_VERSION},
            json={"properties": {
                "roleDefinitionId": f"/subscriptions/{subscription}/providers/"
                                    f"Microsoft.Authorization/roleDefinitions/{VM_CONTRIBUTOR}",
                # Said outright: a just-made identity may not have replicated yet.
                "principalId": principal, "principalType": "ServicePrincipal"}})
        try:
            with calling(f"granting VM {vm.name} its own deletion"):
                answer = self._compute.send_request(request)
                answer.raise_for_status()
        except ProviderError as exc:
            log.warning("azure VM %s: its agent will not be able to delete it: %s", vm.name, exc)

    def describe(self, instance_id: str) -> Instance:
        if not VM_NAME.match(instance_id):
            raise NotFoundError(f"no Azure VM {instance_id!r}")
        with calling(f"reading VM {instance_id}"):
            vm = self._compute.virtual_machines.get(self.config.resource_group, instance_id,
                                                    expand="instanceView")
        return _instance(vm, vm.instance_view)

    def list_instances(self, tags: Mapping[str, str]) -> list[Instance]:
        group = self.config.resource_group
        with calling("listing VMs"):
            vms = [vm for vm in self._compute.virtual_machines.list(group)
                   if all((vm.tags or {}).get(k) == v for k, v in tags.items())]
        found = []
        for vm in vms:
            if (vm.provisioning_state or "").lower() == "deleting":
                continue  # on its way out, no longer billed: nothing to reconcile
            try:
                with calling(f"reading VM {vm.name}"):
                    view = self._compute.virtual_machines.instance_view(group, vm.name)
            except NotFoundError:
                continue  # deleted since the list
            found.append(_instance(vm, view))
        return found

    def terminate(self, instance_id: str) -> None:
        if not VM_NAME.match(instance_id):
            return
        try:
            with calling(f"deleting VM {instance_id}"):
                # ARM answers a delete of a VM that is gone with 204: no error.
                self._compute.virtual_machines.begin_delete(
                    self.config.resource_group, instance_id, polling=False).result()
        except NotFoundError:
            return
        log.info("azure deleting %s", instance_id)

    def pause(self, instance_id: str) -> None:
        self._vm_action("deallocating", instance_id,
                        self._compute.virtual_machines.begin_deallocate)

    def resume(self, instance_id: str) -> None:
        self._vm_action("starting", instance_id, self._compute.virtual_machines.begin_start)

    def _vm_action(self, action: str, instance_id: str, begin: Any) -> None:
        if not VM_NAME.match(instance_id):
            raise NotFoundError(f"no Azure VM {instance_id!r}")
        with calling(f"{action} VM {instance_id}"):
            begin(self.config.resource_group, instance_id, polling=False).result()

    def health(self) -> Health:
        config = self.config
        try:
            with calling("listing VMs"):
                next(iter(self._compute.virtual_machines.list(config.resource_group)), None)
        except ProviderError as exc:
            return Health(ok=False, message=str(exc))
        where = (f"subscription {config.subscription_id}, resource group "
                 f"{config.resource_group}, regions {','.join(config.regions)}")
        if not config.subnets:
            return Health(ok=False, message=f"{where}; no subnet to launch in: set "
                                            f"AIMA_AZURE_SUBNET_ID")
        return Health(ok=True, message=f"{where}, image {config.vm_image}")


# ------------------------------------------------------------------ helpers

def vm_name(name: str) -> str:
    """A fresh VM name for a launch named ``name``: Linux host names take 64 characters."""
    unique = f"{name[:57]}-{secrets.token_hex(3)}"
    if not VM_NAME.match(unique) or unique.endswith("."):
        raise ProviderError(f"instance name {name!r} cannot name an Azure VM")
    return unique


def _target(offer: Offer) -> tuple[str, str]:
    size, _, region = offer.offer_id.partition(":")
    if offer.provider != NAME or size not in SIZES or not (region or offer.region):
        raise ProviderError(f"offer {offer.key!r} is not an Azure offer")
    return size, region or offer.region


def _state(power: str, provisioning: str) -> InstanceState:
    if provisioning == "deleting":
        return InstanceState.TERMINATED
    if power in POWER_STATES:
        return POWER_STATES[power]
    if provisioning in ("creating", "updating", ""):
        return InstanceState.PENDING
    return InstanceState.UNKNOWN  # e.g. failed without a power state


def _instance(vm: VirtualMachine, view: VirtualMachineInstanceView | None) -> Instance:
    codes = [s.code or "" for s in (view.statuses if view and view.statuses else [])]
    power = next((c.split("/", 1)[1] for c in codes if c.startswith("PowerState/")), "")
    provisioning = (vm.provisioning_state or "").lower()
    tags = dict(vm.tags or {})
    size = vm.hardware_profile.vm_size if vm.hardware_profile else ""
    gpu = SIZES.get(size or "")
    try:
        price = float(tags.get(PRICE_TAG, "0"))
    except ValueError:
        price = 0.0
    created = vm.time_created
    return Instance(
        provider=NAME, instance_id=vm.name or "", state=_state(power.lower(), provisioning),
        offer_id=tags.get(OFFER_TAG) or f"{size}:{vm.location}",
        gpu_model=gpu.gpu_model if gpu else "", price_per_hour=price,
        spot=vm.priority == "Spot",
        tags={k: v for k, v in tags.items() if k not in INTERNAL_TAGS},
        launched_at=created.astimezone(UTC) if isinstance(created, datetime) else None)
