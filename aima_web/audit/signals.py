"""Events the trail takes from Django itself: admin changes, logins (failed
too) and logouts. Connected in ``AuditConfig.ready``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.contrib.admin.actions import delete_selected
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.contrib.contenttypes.models import ContentType
from django.db.models.signals import post_save
from django.http import HttpRequest
from django.utils import timezone

from aima_web.audit import trail

ADMIN_ACTIONS = {ADDITION: "admin.added", CHANGE: "admin.changed", DELETION: "admin.deleted"}


def connect() -> None:
    post_save.connect(admin_entry_saved, sender=LogEntry, dispatch_uid="audit.admin_entry")
    user_logged_in.connect(logged_in, dispatch_uid="audit.logged_in")
    user_login_failed.connect(login_failed, dispatch_uid="audit.login_failed")
    user_logged_out.connect(logged_out, dispatch_uid="audit.logged_out")
    # Deleting several objects at once logs them with bulk_create, which sends no
    # post_save: the site-wide "delete selected" action records them itself.
    admin.site.add_action(audited(delete_selected), "delete_selected")


def admin_entry_saved(sender: type, instance: LogEntry, created: bool, **kwargs: Any) -> None:
    if created:
        record_admin_entry(instance)


def record_admin_entry(entry: LogEntry) -> None:
    kind = entry.content_type.natural_key() if entry.content_type_id else ("?", "?")
    trail.record(trail.user_actor(entry.user), ADMIN_ACTIONS.get(entry.action_flag, "admin.other"),
                 f"{'.'.join(kind)}:{entry.object_id}", object=entry.object_repr,
                 change=entry.get_change_message())


def audited(action: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(action)  # keeps its description and the "delete" permission it needs
    def run(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: Any) -> Any:
        started, several = timezone.now(), queryset.count() > 1
        response = action(modeladmin, request, queryset)
        if several and response is None:  # None: deleted (else the confirmation page)
            kind = ContentType.objects.get_for_model(queryset.model, for_concrete_model=False)
            for entry in LogEntry.objects.filter(user_id=request.user.pk, action_flag=DELETION,
                                                 content_type=kind, action_time__gte=started):
                record_admin_entry(entry)
        return response

    return run


def logged_in(sender: type, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    trail.record(trail.user_actor(user), "auth.login", f"user:{user.get_username()}",
                 **trail.client(request))


def login_failed(sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None,
                 **kwargs: Any) -> None:
    # Django has already masked the password in ``credentials``; only the name is kept.
    tried = str(credentials.get(get_user_model().USERNAME_FIELD, credentials.get("username", "")))
    trail.record("anonymous", "auth.login_failed", f"user:{tried}", username=tried,
                 **trail.client(request))


def logged_out(sender: type, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if user is not None:
        trail.record(trail.user_actor(user), "auth.logout", f"user:{user.get_username()}",
                     **trail.client(request))
