"""The base of AIMA's model admins: each page's permissions come from the
role table (``roles.ADMIN_PAGES``), so a staff user without a role sees nothing."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from aima_web.access.roles import ADMIN_PAGES, AdminAccess, holds


class RoleAdmin(admin.ModelAdmin):
    @property
    def access(self) -> AdminAccess:
        return ADMIN_PAGES[self.model._meta.label]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_or_change_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return holds(request.user, self.access.view)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return holds(request.user, self.access.change)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return holds(request.user, self.access.add)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return holds(request.user, self.access.delete)

    def get_actions(self, request: HttpRequest) -> dict:
        # Django keeps delete_selected to those who may delete; every other
        # action needs its capability from the table, by default the change one.
        actions = super().get_actions(request)
        return {name: action for name, action in actions.items()
                if name == "delete_selected"
                or holds(request.user, self.access.actions.get(name, self.access.change))}


class RoleTabularInline(admin.TabularInline):
    """An inline shown and edited as its parent page is (``ADMIN_PAGES``)."""

    @property
    def access(self) -> AdminAccess:
        return ADMIN_PAGES[self.parent_model._meta.label]

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return holds(request.user, self.access.view)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return holds(request.user, self.access.change)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return holds(request.user, self.access.change)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return holds(request.user, self.access.change)
