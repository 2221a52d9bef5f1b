"""The API's permission class, reading what each view needs from the view."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from aima_web.access.roles import Capability, holds

if TYPE_CHECKING:  # rest_framework.views imports this module through its settings
    from rest_framework.views import APIView


class HasCapability(BasePermission):
    """Allows a request when the user holds the capability the view names for
    it in ``capabilities``: by action on a viewset, by lower-case HTTP method on
    a plain view. What a view does not name, nobody may do (the default for
    every view). OPTIONS is for anyone who may do something there."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        table: Mapping[str, Capability] = getattr(view, "capabilities", {})
        key = getattr(view, "action", None) or request.method.lower()
        if key in ("metadata", "options"):
            # What the route serves: some actions of a viewset, all a plain view names.
            names = getattr(view, "action_map", {}).values() or table.keys()
            return any(holds(request.user, table.get(name)) for name in names)
        if key == "head":
            key = "get"
        return holds(request.user, table.get(key))
