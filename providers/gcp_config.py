"""The ``gcp`` provider's settings (``AIMA_GCP_<KEY>``, see ``providers.gcp``),
read through ``providers.settings_schema``, and the credentials they name."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import google.auth
from google.auth import credentials as ga_credentials
from google.auth.exceptions import DefaultCredentialsError, GoogleAuthError
from google.oauth2 import service_account

from aima_tasks.kernel.placement.inputs import cuda_tuple
from providers.errors import AuthError
from providers.settings_schema import Setting, SettingsError, parse

NAME = "gcp"
# Compute Engine's service in the Cloud Billing Catalog.
COMPUTE_SERVICE_ID = "6F81-5844-456A"
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
# Zones with L4, T4 and A100 GPUs in the Americas and in Europe (2026).
DEFAULT_ZONES = "us-central1-a,us-central1-c,us-east1-c,europe-west4-a,europe-west4-b"

SETTINGS: tuple[Setting, ...] = (
    Setting("project", required=True, help="the Google Cloud project id to launch VMs in"),
    Setting("zones", default=DEFAULT_ZONES, help="comma list of zones to offer VMs in"),
    Setting("credentials_file", default="",
            help="a service-account JSON key file; unset: Application Default Credentials"),
    Setting("credentials_json", default="", secret=True,
            help="the same JSON key as text, for deployments without a file"),
    Setting("billing_api_key", default="", secret=True,
            help="an API key for the Cloud Billing Catalog; unset: the credentials"),
    Setting("api_endpoint", default="https://compute.googleapis.com",
            help="Compute Engine's REST endpoint"),
    Setting("billing_endpoint", default="https://cloudbilling.googleapis.com",
            help="the Cloud Billing Catalog's REST endpoint"),
    Setting("vm_image", default="",
            help="the boot image: NVIDIA driver, Docker and its NVIDIA toolkit, e.g. "
                 "projects/P/global/images/family/F; unset: launches are refused"),
    Setting("image", default="",
            help="the agent image its VMs run in Docker; unset: AIMA_AGENT_IMAGE"),
    Setting("cuda_version", default="12.4", help="the CUDA version the image provides"),
    Setting("gpus", default="", help="comma list of accelerator types to offer "
                                     "(e.g. nvidia-l4); unset: all the provider knows"),
    Setting("disk_gb", type=int, default=50, help="least boot disk size in GB"),
    Setting("disk_type", default="pd-balanced", help="the boot disk's type"),
    Setting("network", default="global/networks/default", help="the VPC network"),
    Setting("subnetwork", default="", help="a subnetwork (regions/R/subnetworks/S); "
                                           "unset: the network's in the zone's region"),
    Setting("external_ip", type=bool, default=True,
            help="give VMs a public address (without one the VPC needs Cloud NAT)"),
    Setting("service_account", default="",
            help="the VMs' service account e-mail; its agent deletes its own VM with it"),
    Setting("boot_s", type=float, default=180.0, help="seconds from launch to a working agent"),
    Setting("storage_price_gb_month", type=float, default=0.10,
            help="what a stopped VM's disk costs per GB and month (pd-balanced)"),
    Setting("price_ttl_s", type=float, default=3600.0,
            help="how long catalogue prices and zones' GPU types are kept"),
    Setting("operation_timeout_s", type=float, default=90.0,
            help="how long a launch or resume waits for Compute Engine's answer"),
    Setting("request_timeout_s", type=float, default=30.0, help="timeout of one API call"),
)


@dataclass(frozen=True)
class Config:
    project: str
    zones: tuple[str, ...]
    credentials_file: str
    credentials_json: str = field(repr=False)
    billing_api_key: str = field(repr=False)
    api_endpoint: str
    billing_endpoint: str
    vm_image: str
    image: str
    cuda_version: str
    gpus: tuple[str, ...]
    disk_gb: int
    disk_type: str
    network: str
    subnetwork: str
    external_ip: bool
    service_account: str
    boot_s: float
    storage_price_gb_month: float
    price_ttl_s: float
    operation_timeout_s: float
    request_timeout_s: float

    @classmethod
    def from_settings(cls, settings: Mapping[str, str]) -> Config:
        values: dict[str, Any] = parse(NAME, SETTINGS, settings)
        try:
            cuda_tuple(values["cuda_version"])
        except ValueError:
            raise SettingsError(f"AIMA_GCP_CUDA_VERSION must be a version like 12.4, not "
                                f"{values['cuda_version']!r}") from None
        values["zones"] = words(values["zones"])
        if not values["zones"]:
            raise SettingsError("AIMA_GCP_ZONES names no zone")
        values["gpus"] = words(values["gpus"])
        for key in ("api_endpoint", "billing_endpoint"):
            values[key] = values[key].strip().rstrip("/")
        return cls(**values)


def words(raw: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(w.strip() for w in raw.split(",") if w.strip()))


def load_credentials(config: Config) -> ga_credentials.Credentials:
    """The credentials the settings name: the JSON text, the file, or else
    Application Default Credentials (a VM's service account, gcloud's login).
    A failure is an AuthError that names the setting, never the key."""
    try:
        if config.credentials_json:
            try:
                info = json.loads(config.credentials_json)
            except ValueError:
                raise AuthError("AIMA_GCP_CREDENTIALS_JSON is not JSON") from None
            # A service-account key only: google-auth warns that a generic
            # loader would also run whatever an external-account JSON names.
            credentials = service_account.Credentials.from_service_account_info(
                info, scopes=SCOPES)
        elif config.credentials_file:
            credentials = service_account.Credentials.from_service_account_file(
                config.credentials_file, scopes=SCOPES)
        else:
            credentials, _ = google.auth.default(scopes=SCOPES)
    except (DefaultCredentialsError, ValueError, OSError) as problem:
        where = ("AIMA_GCP_CREDENTIALS_JSON" if config.credentials_json else
                 "AIMA_GCP_CREDENTIALS_FILE" if config.credentials_file else
                 "Application Default Credentials (set AIMA_GCP_CREDENTIALS_FILE)")
        # The message of a malformed key may quote it: only its kind is shown.
        raise AuthError(f"gcp: no usable credentials from {where} "
                        f"({type(problem).__name__})") from None
    except GoogleAuthError as problem:
        raise AuthError(f"gcp: credentials refused ({type(problem).__name__})") from None
    return credentials
