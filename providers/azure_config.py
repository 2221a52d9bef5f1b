"""The ``azure`` provider's settings (``AIMA_AZURE_<KEY>``, see ``providers.azure``),
declared once as a ``providers.settings_schema`` schema and read into ``Config``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from azure.core.credentials import TokenCredential
from azure.identity import ClientSecretCredential, DefaultAzureCredential

from aima_tasks.kernel.placement.inputs import cuda_tuple
from providers.errors import ProviderError
from providers.settings_schema import Setting, SettingsError, parse

NAME = "azure"
DEFAULT_ARM = "https://management.azure.com"
DEFAULT_PRICES = "https://prices.azure.com/api/retail/prices"
DEFAULT_AUTHORITY = "login.microsoftonline.com"
# Microsoft Entra hosts msal knows; any other authority (Azure Stack Hub, a test)
# is trusted as configured, without asking login.microsoftonline.com about it.
KNOWN_AUTHORITIES = frozenset({DEFAULT_AUTHORITY, "login.microsoftonline.us",
                               "login.chinacloudapi.cn", "login.microsoft.com",
                               "login.windows.net", "sts.windows.net"})
# Azure's HPC Ubuntu image, built by github.com/Azure/azhpc-images
# (ubuntu-22.04-hpc/install.sh): the NVIDIA driver and CUDA, Docker and the NVIDIA
# container toolkit, which the boot script needs (providers.azure_boot). It is
# SkyPilot's Azure default too.
DEFAULT_VM_IMAGE = "microsoft-dsvm:ubuntu-hpc:2204:latest"
# Standard SSD managed disk, E-tier list price in East US: $9.60 a month for
# E10 (128 GiB), $0.075 per GiB-month; a deallocated VM bills only its disk.
DEFAULT_STORAGE_PRICE = 0.075

SETTINGS: tuple[Setting, ...] = (
    Setting("subscription_id", required=True, help="the Azure subscription's id (a UUID)"),
    Setting("resource_group", required=True,
            help="the resource group the agents' VMs are created in"),
    Setting("tenant_id", help="Entra tenant of the service principal"),
    Setting("client_id", help="the service principal's application (client) id"),
    Setting("client_secret", secret=True,
            help="its secret; without tenant, client and secret: DefaultAzureCredential"),
    Setting("authority_host", default=DEFAULT_AUTHORITY,
            help="Entra ID host (sovereign clouds, Azure Stack Hub)"),
    Setting("regions", default="eastus", help="comma list of regions searched for offers"),
    Setting("subnet_id", default="",
            help="subnet resource id for the VMs' NIC, or region=id pairs, comma separated"),
    Setting("public_ip", bool, default=False,
            help="give each VM a public IP (else the subnet needs a NAT gateway)"),
    Setting("arm_endpoint", default=DEFAULT_ARM, help="Azure Resource Manager's base URL"),
    Setting("prices_endpoint", default=DEFAULT_PRICES, help="the Retail Prices API"),
    Setting("ca_bundle", default="",
            help="a CA bundle to verify the endpoints with (Azure Stack Hub, a proxy)"),
    Setting("image", default="", help="the agent image; empty: the control plane's"),
    Setting("vm_image", default=DEFAULT_VM_IMAGE,
            help="publisher:offer:sku:version, or an image or gallery image version id"),
    Setting("disk_gb", int, default=64, help="least OS disk size in GiB"),
    Setting("disk_type", default="StandardSSD_LRS", help="the OS disk's storage type"),
    Setting("admin_username", default="aima"),
    Setting("ssh_public_key", default="", help="an OpenSSH public key for admin_username"),
    Setting("admin_password", secret=True,
            help="without key or password each VM gets a random one nobody keeps"),
    Setting("self_delete_role", bool, default=True,
            help="grant each VM's identity Virtual Machine Contributor on itself"),
    Setting("cuda_version", default="12.4", help="the CUDA version vm_image provides"),
    Setting("boot_s", float, default=300.0, help="seconds from launch to a working agent"),
    Setting("resume_s", float, default=120.0, help="seconds from start to a working agent"),
    Setting("storage_price_gb_month", float, default=DEFAULT_STORAGE_PRICE,
            help="what a deallocated VM's disk costs per GiB and month"),
    Setting("retry_total", int, default=3, help="azure-core's retries of a 429 or 5xx"),
)


@dataclass(frozen=True)
class Config:
    subscription_id: str
    resource_group: str
    tenant_id: str
    client_id: str
    client_secret: str = field(repr=False)
    authority_host: str
    regions: tuple[str, ...]
    # region (lower case) -> subnet id; "" -> the one subnet for every region.
    subnets: Mapping[str, str]
    public_ip: bool
    arm_endpoint: str
    prices_endpoint: str
    ca_bundle: str
    image: str
    vm_image: str
    disk_gb: int
    disk_type: str
    admin_username: str
    ssh_public_key: str
    admin_password: str = field(repr=False)
    self_delete_role: bool
    cuda_version: str
    boot_s: float
    resume_s: float
    storage_price_gb_month: float
    retry_total: int

    @classmethod
    def from_settings(cls, settings: Mapping[str, str]) -> Config:
        values = parse(NAME, SETTINGS, settings)
        try:
            cuda_tuple(values["cuda_version"])
        except ValueError:
            raise SettingsError(f"AIMA_AZURE_CUDA_VERSION must be a version such as 12.4, "
                                f"not {values['cuda_version']!r}") from None
        for key in ("arm_endpoint", "prices_endpoint"):
            if urlsplit(values[key]).scheme != "https":
                # azure-core sends no bearer token over plain http, and the
                # Retail Prices API is https only.
                raise SettingsError(f"AIMA_AZURE_{key.upper()} must be an https URL")
        return cls(
            subscription_id=values["subscription_id"].strip(),
            resource_group=values["resource_group"].strip(),
            tenant_id=(values["tenant_id"] or "").strip(),
            client_id=(values["client_id"] or "").strip(),
            client_secret=values["client_secret"] or "",
            authority_host=values["authority_host"].strip().rstrip("/"),
            regions=tuple(r.lower() for r in words(values["regions"])) or ("eastus",),
            subnets=subnets(values["subnet_id"]),
            public_ip=values["public_ip"],
            arm_endpoint=values["arm_endpoint"].strip().rstrip("/"),
            prices_endpoint=values["prices_endpoint"].strip(),
            ca_bundle=values["ca_bundle"].strip(),
            image=values["image"].strip(),
            vm_image=values["vm_image"].strip(),
            disk_gb=values["disk_gb"],
            disk_type=values["disk_type"].strip(),
            admin_username=values["admin_username"].strip(),
            ssh_public_key=values["ssh_public_key"].strip(),
            admin_password=values["admin_password"] or "",
            self_delete_role=values["self_delete_role"],
            cuda_version=values["cuda_version"],
            boot_s=values["boot_s"],
            resume_s=values["resume_s"],
            storage_price_gb_month=values["storage_price_gb_month"],
            retry_total=max(0, values["retry_total"]),
        )

    @property
    def verify(self) -> str | bool:
        """What azure-core and requests verify TLS with."""
        return self.ca_bundle or True

    def subnet_for(self, region: str) -> str:
        subnet = self.subnets.get(region.lower()) or self.subnets.get("", "")
        if not subnet:
            raise ProviderError(f"no subnet for {region}: set AIMA_AZURE_SUBNET_ID to a subnet "
                                f"id, or to region=id pairs")
        return subnet

    def launchable(self, region: str) -> bool:
        """Whether a VM can be placed in ``region``: a subnet of its own or the
        one for all. Without any subnet, offers still show (prices for placement),
        and launch says what is missing."""
        return not self.subnets or "" in self.subnets or region.lower() in self.subnets


def words(raw: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(w.strip() for w in raw.split(",") if w.strip()))


def subnets(raw: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for word in words(raw):
        region, sep, subnet = word.partition("=")
        if not sep:
            region, subnet = "", word
        if not subnet.lower().startswith("/subscriptions/"):
            raise SettingsError(f"AIMA_AZURE_SUBNET_ID: {subnet!r} is not a subnet resource id")
        found[region.strip().lower()] = subnet.strip()
    return found


def credential(config: Config) -> TokenCredential:
    verify = {"connection_verify": config.ca_bundle} if config.ca_bundle else {}
    # msal checks an authority it does not know with login.microsoftonline.com;
    # one set on purpose (Azure Stack Hub's, a sovereign cloud's) is taken as is.
    discovery = {"disable_instance_discovery":
                 config.authority_host.split("//")[-1] not in KNOWN_AUTHORITIES}
    parts = (config.tenant_id, config.client_id, config.client_secret)
    if all(parts):
        return ClientSecretCredential(config.tenant_id, config.client_id, config.client_secret,
                                      authority=config.authority_host, **discovery, **verify)
    if any(parts):
        raise SettingsError("AIMA_AZURE_TENANT_ID, AIMA_AZURE_CLIENT_ID and "
                            "AIMA_AZURE_CLIENT_SECRET go together: set all three or none")
    return DefaultAzureCredential(authority=config.authority_host, **verify)


def image_reference(vm_image: str) -> dict[str, str]:
    if vm_image.lower().startswith("/subscriptions/"):
        return {"id": vm_image}
    parts = vm_image.split(":")
    if len(parts) != 4 or not all(parts):
        raise ProviderError(f"AIMA_AZURE_VM_IMAGE {vm_image!r}: use publisher:offer:sku:version "
                            f"or an image resource id")
    return dict(zip(("publisher", "offer", "sku", "version"), parts, strict=True))
