"""The users and rows the role matrix asks about: a staff user of every role
(and one without a role), a job of each, and a row of every model the admin
shows, made once for the whole module and rolled back after it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib.admin import site as admin_site
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.db.models import Model
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from aima_web.access.roles import Role
from aima_web.fleet.models import Agent, LocalGPU
from aima_web.fleet.services import create_enrollment_token
from aima_web.instances.models import CloudInstance
from aima_web.jobs.models import Job, MediaAsset
from aima_web.placement.models import CloudOffer, PlacementPolicy
from aima_web.registry.models import ModelArtifact
from aima_web.uploads.models import Upload
from aima_web.uploads.services import open_upload
from tests.conftest import client_for

ANONYMOUS, NO_ROLE, SUPERUSER = "anonymous", "no role", "superuser"
# Who asks: nobody, a staff user without a role, each role, a superuser without one.
PRINCIPALS = (ANONYMOUS, NO_ROLE, *(role.label for role in Role), SUPERUSER)


@dataclass
class World:
    users: dict[str, AbstractBaseUser]
    jobs: dict[str, Job]
    gpu: LocalGPU
    instance: CloudInstance
    artifact: ModelArtifact
    api: dict[str, APIClient]
    admin: dict[str, Client]
    uploads: dict[str, Upload]

    def job_of(self, principal: str) -> Job:
        """The principal's own job (anonymous: the admin's)."""
        return self.jobs.get(principal, self.jobs[Role.ADMIN.label])

    def upload_of(self, principal: str) -> Upload:
        """The principal's own upload, begun (anonymous: the admin's)."""
        return self.uploads.get(principal, self.uploads[Role.ADMIN.label])


def _user(principal: str) -> AbstractBaseUser:
    users = get_user_model().objects
    name = principal.replace(" ", "-")
    if principal == SUPERUSER:
        return users.create_superuser(name, f"{name}@example.org", "pw")
    user = users.create_user(name, password="pw", is_staff=True)
    if principal != NO_ROLE:
        user.groups.add(Group.objects.get(name=principal))
    return user


def _axes_row(model: str, **extra: Any) -> Callable[[World], Model]:
    def make(world: World) -> Model:
        from axes import models

        return getattr(models, model).objects.create(
            user_agent="test", ip_address="127.0.0.1", username="someone", http_accept="*/*",
            path_info="/", **extra)
    return make


def _device(model: str) -> Callable[[World], Model]:
    def make(world: World) -> Model:
        from django_otp.plugins.otp_static.models import StaticDevice
        from django_otp.plugins.otp_totp.models import TOTPDevice

        holder, _ = get_user_model().objects.get_or_create(username="device-holder")
        kind = {"TOTPDevice": TOTPDevice, "StaticDevice": StaticDevice}[model]
        # Unconfirmed, and of a user nobody logs in as.
        return kind.objects.create(user=holder, name="phone", confirmed=False)
    return make


def _legal_hold(world: World) -> Model:
    from aima_web.privacy.models import LegalHold

    return LegalHold.objects.create(job=world.job_of(Role.ADMIN.label), reason="case 17")


def _retention(world: World) -> Model:
    from aima_web.privacy.models import RetentionPolicy

    return RetentionPolicy.objects.get_or_create(confidentiality="internal")[0]


def _alert(world: World) -> Model:
    from aima_web.alerts.models import Alert, Kind, Severity

    return Alert.objects.create(kind=Kind.GPU_FAILED, subject=f"gpu:{world.gpu.pk}",
                                severity=Severity.CRITICAL, message="matrix",
                                raised_at=timezone.now())


# A row for each admin page's model that the world lacks otherwise, by model label.
ROW_MAKERS: dict[str, Callable[[World], Model]] = {
    "alerts.Alert": _alert,
    "fleet.Agent": lambda w: Agent.objects.create(name="matrix-host", scope="local",
                                                  credential_hash="x" * 64),
    "fleet.EnrollmentToken": lambda w: create_enrollment_token("matrix")[0],
    "placement.CloudOffer": lambda w: CloudOffer.objects.create(
        key="subprocess:MATRIX", provider="subprocess", instance_type="matrix",
        gpu_model="RTX 4090", vram_gb=24, price_per_hour=1.0, priced_at=timezone.now()),
    "placement.PlacementPolicy": lambda w: PlacementPolicy.current(),
    "axes.AccessAttempt": _axes_row("AccessAttempt", get_data="", post_data="",
                                    failures_since_start=1),
    "axes.AccessLog": _axes_row("AccessLog"),
    "axes.AccessFailureLog": _axes_row("AccessFailureLog"),
    "otp_totp.TOTPDevice": _device("TOTPDevice"),
    "otp_static.StaticDevice": _device("StaticDevice"),
    "privacy.LegalHold": _legal_hold,
    "privacy.RetentionPolicy": _retention,
}


def build() -> World:
    users = {p: _user(p) for p in PRINCIPALS if p != ANONYMOUS}
    asset = MediaAsset.objects.create(sha256="cd" * 32, size_bytes=10, media_type="image")
    jobs = {p: Job.objects.create(owner=user, media=asset, confidentiality="internal",
                                  analyses=["objects"])
            for p, user in users.items()}
    gpu = LocalGPU.objects.create(model="NVIDIA RTX 4090", vram_gb=24, host="ws-17",
                                  uuid="GPU-MATRIX")
    instance = CloudInstance.objects.create(provider="subprocess", offer_id="x", gpu_class=24,
                                            price_per_hour=1.0)
    artifact = ModelArtifact.objects.create(name="person", version="1.0", sha256="ab" * 32,
                                            size_bytes=10, filename="person.onnx")
    api = {p: client_for(user) for p, user in users.items()}
    api[ANONYMOUS] = APIClient()
    admin = {p: Client() for p in PRINCIPALS}
    for p, user in users.items():
        admin[p].force_login(user)
    uploads = {p: open_upload(user, "clip.mp4", 10, "ab" * 32) for p, user in users.items()}
    world = World(users=users, jobs=jobs, gpu=gpu, instance=instance, artifact=artifact,
                  api=api, admin=admin, uploads=uploads)
    registered = {model._meta.label for model in admin_site._registry}
    for label, make in ROW_MAKERS.items():
        if label in registered:
            make(world)
    return world
