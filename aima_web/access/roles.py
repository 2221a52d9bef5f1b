"""The roles, what each may do, and which admin page needs what: the one table
every API permission, admin page and role group is derived from.

Roles are nested: each holds the capabilities of the roles below it. A
capability is a Django permission (``access.<capability>``) held through the
role's group, so a superuser holds every one, and an admin may grant one to a
single user. Users with no role hold none: they see and do nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from django.db import models


class Role(IntEnum):
    """The roles, lowest first; a role's group is named by ``role.label``."""

    VIEWER = 1
    ANALYST = 2
    OPERATOR = 3
    ADMIN = 4

    @property
    def label(self) -> str:
        return self.name.lower()


ROLE_NAMES = frozenset(role.label for role in Role)


class Capability(models.TextChoices):
    VIEW_JOBS = "view_jobs", "See own and team jobs, their results and reports"
    VIEW_GPUS = "view_gpus", "List GPUs without identifying details"
    SUBMIT_JOBS = "submit_jobs", "Submit jobs"
    CANCEL_OWN_JOBS = "cancel_own_jobs", "Cancel own jobs"
    EXPLAIN_PLACEMENT = "explain_placement", "Ask placement where a job would run"
    VIEW_POLICY = "view_policy", "Read the placement policy"
    VIEW_ALL_JOBS = "view_all_jobs", "See every job, its media and results"
    CANCEL_ANY_JOB = "cancel_any_job", "Cancel anyone's job"
    VIEW_GPU_DETAILS = "view_gpu_details", "See GPUs' UUIDs, hosts, agents and telemetry"
    OPERATE_GPUS = "operate_gpus", "Drain and resume GPUs, change their schedule and location"
    VIEW_CLOUD = "view_cloud", "See cloud instances, offers and providers"
    VIEW_MODELS = "view_models", "Read the model registry"
    CHANGE_POLICY = "change_policy", "Change the placement policy"
    MANAGE_GPUS = "manage_gpus", "Register, edit, restrict and retire GPUs"
    MANAGE_CLOUD = "manage_cloud", "Terminate instances, delete offers"
    MANAGE_MODELS = "manage_models", "Activate, roll back and edit models"
    MANAGE_ENROLLMENT = "manage_enrollment", "Create and revoke enrollment tokens, remove agents"
    MANAGE_DATA = "manage_data", "Delete jobs and media in the admin"
    VIEW_AUDIT = "view_audit", "Read the audit trail"

    @property
    def permission(self) -> str:
        """As ``User.has_perm`` spells it."""
        return f"access.{self.value}"


# The lowest role holding each capability.
LOWEST_ROLE: Mapping[Capability, Role] = {
    Capability.VIEW_JOBS: Role.VIEWER,
    Capability.VIEW_GPUS: Role.VIEWER,
    Capability.SUBMIT_JOBS: Role.ANALYST,
    Capability.CANCEL_OWN_JOBS: Role.ANALYST,
    Capability.EXPLAIN_PLACEMENT: Role.ANALYST,
    Capability.VIEW_POLICY: Role.ANALYST,
    Capability.VIEW_ALL_JOBS: Role.OPERATOR,
    Capability.CANCEL_ANY_JOB: Role.OPERATOR,
    Capability.VIEW_GPU_DETAILS: Role.OPERATOR,
    Capability.OPERATE_GPUS: Role.OPERATOR,
    Capability.VIEW_CLOUD: Role.OPERATOR,
    Capability.VIEW_MODELS: Role.OPERATOR,
    Capability.CHANGE_POLICY: Role.ADMIN,
    Capability.MANAGE_GPUS: Role.ADMIN,
    Capability.MANAGE_CLOUD: Role.ADMIN,
    Capability.MANAGE_MODELS: Role.ADMIN,
    Capability.MANAGE_ENROLLMENT: Role.ADMIN,
    Capability.MANAGE_DATA: Role.ADMIN,
    Capability.VIEW_AUDIT: Role.ADMIN,
}


def capabilities(role: Role) -> frozenset[Capability]:
    return frozenset(cap for cap, lowest in LOWEST_ROLE.items() if lowest <= role)


def holds(user: Any, capability: Capability | None) -> bool:
    """None is a capability nobody holds, superusers included."""
    return capability is not None and user.has_perm(capability.permission)


@dataclass(frozen=True)
class AdminAccess:
    """What an admin page of a model needs; None: nobody (not even superusers)
    does that there. Actions need the change capability unless named."""

    view: Capability
    change: Capability | None = None
    add: Capability | None = None
    delete: Capability | None = None
    actions: Mapping[str, Capability] = field(default_factory=dict)


# Admin pages of AIMA's models, by model label. Models of other apps (users,
# groups, tokens) keep Django's model permissions, which only the admin role holds.
ADMIN_PAGES: Mapping[str, AdminAccess] = {
    # The trail is evidence: nobody edits or deletes it through the admin.
    "audit.AuditEvent": AdminAccess(view=Capability.VIEW_AUDIT),
    # Raised and resolved by the alert pass from what it finds: nobody edits them.
    "alerts.Alert": AdminAccess(view=Capability.VIEW_GPU_DETAILS),
    "fleet.LocalGPU": AdminAccess(
        view=Capability.VIEW_GPU_DETAILS, change=Capability.MANAGE_GPUS,
        add=Capability.MANAGE_GPUS, delete=Capability.MANAGE_GPUS,
        actions={"drain": Capability.OPERATE_GPUS, "resume": Capability.OPERATE_GPUS}),
    # Agents enrol themselves with a token: none is added by hand.
    "fleet.Agent": AdminAccess(view=Capability.VIEW_GPU_DETAILS,
                               change=Capability.MANAGE_ENROLLMENT,
                               delete=Capability.MANAGE_ENROLLMENT),
    "fleet.EnrollmentToken": AdminAccess(
        view=Capability.MANAGE_ENROLLMENT, change=Capability.MANAGE_ENROLLMENT,
        add=Capability.MANAGE_ENROLLMENT, delete=Capability.MANAGE_ENROLLMENT),
    # Instances are rented by placement, not by hand.
    "instances.CloudInstance": AdminAccess(view=Capability.VIEW_CLOUD,
                                           change=Capability.MANAGE_CLOUD,
                                           delete=Capability.MANAGE_CLOUD),
    # Jobs come in through the API, with their media; the pages are read-only.
    "jobs.Job": AdminAccess(view=Capability.VIEW_ALL_JOBS, delete=Capability.MANAGE_DATA),
    "jobs.MediaAsset": AdminAccess(view=Capability.VIEW_ALL_JOBS,
                                   delete=Capability.MANAGE_DATA),
    # There is one policy, never added or deleted.
    "placement.PlacementPolicy": AdminAccess(view=Capability.VIEW_POLICY,
                                             change=Capability.CHANGE_POLICY),
    # Prices come from snapshots and providers, not from typing.
    "placement.CloudOffer": AdminAccess(view=Capability.VIEW_CLOUD,
                                        delete=Capability.MANAGE_CLOUD),
    # The bytes are the artifact: added with `manage.py aima_models add`.
    "registry.ModelArtifact": AdminAccess(view=Capability.VIEW_MODELS,
                                          change=Capability.MANAGE_MODELS,
                                          delete=Capability.MANAGE_MODELS),
}
