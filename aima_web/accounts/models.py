"""API tokens: only a SHA-256 of each secret is stored, shown once at creation."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

# How many leading characters of a secret are kept in clear: enough to find the
# row and to tell tokens apart in a listing, far too few to guess the rest.
PREFIX_LENGTH = 8


class ApiToken(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=PREFIX_LENGTH, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True,
                                      help_text="empty: valid until revoked")
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.prefix}… {self.name} ({self.user})"

    def usable(self) -> bool:
        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)
