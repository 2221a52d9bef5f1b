from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from aima_web.accounts import tokens
from aima_web.accounts.models import ApiToken
from aima_web.audit import trail


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """API tokens by their prefix: the secret is shown once, when the token is made."""

    list_display = ("prefix", "name", "user", "created_at", "expires_at", "revoked_at",
                    "last_used_at")
    list_filter = ("revoked_at",)
    search_fields = ("prefix", "name", "user__username")
    raw_id_fields = ("user",)
    actions = ["revoke"]

    def get_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> tuple:
        if obj is None:
            return ("user", "name", "expires_at")
        return ("prefix", "user", "name", "created_at", "expires_at", "revoked_at",
                "last_used_at")

    def get_readonly_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> tuple:
        if obj is None:
            return ()
        return ("prefix", "user", "created_at", "expires_at", "revoked_at", "last_used_at")

    def save_model(self, request: HttpRequest, obj: ApiToken, form, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        secret = tokens.issue(obj, trail.user_actor(request.user))
        self.message_user(request, f"API token for {obj.user} (shown once, copy it now): {secret}",
                          level=messages.WARNING)

    # Revoked, not deleted: the row stays as the record of what the token was.
    def has_delete_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        return False

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        actor = trail.user_actor(request.user)
        done = sum(tokens.revoke(token, actor) for token in queryset.select_related("user"))
        self.message_user(request, f"{done} token(s) revoked.")
