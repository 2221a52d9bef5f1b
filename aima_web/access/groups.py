"""The role groups: one Django group per role, holding its capabilities; the
admin role's group also holds every model permission (users, groups, tokens,
and the pages of apps that keep Django's own checks)."""

from __future__ import annotations

from typing import Any

from django.apps import apps as installed
from django.apps.registry import Apps

from aima_web.access.roles import Capability, Role, capabilities


def sync_role_groups(apps: Apps) -> None:
    """Create or update the role groups to match the table in ``roles``;
    idempotent. ``apps`` may be a migration's historical registry."""
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    content_type_model = apps.get_model("contenttypes", "ContentType")
    content_type, _ = content_type_model.objects.get_or_create(app_label="access",
                                                               model="capabilities")
    granted = {}
    for capability in Capability:
        granted[capability], _ = permission_model.objects.update_or_create(
            content_type=content_type, codename=capability.value,
            defaults={"name": capability.label})
    for role in Role:
        group, _ = group_model.objects.get_or_create(name=role.label)
        permissions = [granted[cap] for cap in capabilities(role)]
        if role is Role.ADMIN:
            permissions = list(permission_model.objects.all())
        group.permissions.set(permissions)


def sync_after_migrate(sender: Any, apps: Apps = installed, **kwargs: Any) -> None:
    # post_migrate comes once per app: sync after the last, when every app's
    # permissions exist. `flush` (a transactional test's teardown) sends it
    # without ``apps``: the installed apps then. Only apps with models get the signal.
    if sender is [app for app in installed.get_app_configs() if app.models_module][-1]:
        sync_role_groups(apps)
