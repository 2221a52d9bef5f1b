"""A resumable upload in progress (``aima_web.uploads``): what the client declared,
how far it got, and the sealed chunk files that hold what arrived so far."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class Upload(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                              related_name="uploads")
    filename = models.CharField(max_length=255)
    size_bytes = models.BigIntegerField(help_text="The file's size, declared up front.")
    sha256 = models.CharField(max_length=64, help_text="The file's SHA-256, declared up front.")
    offset = models.BigIntegerField(default=0, help_text="Bytes received so far.")
    complete = models.BooleanField(
        default=False, help_text="Every byte arrived, the checksum matched and the chunks "
                                 "were assembled into one sealed file.")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(help_text="Swept (its files deleted) after this; "
                                                "each chunk moves it on.")

    def __str__(self) -> str:
        return f"upload {self.id} of {self.filename} ({self.offset}/{self.size_bytes})"


class UploadChunk(models.Model):
    """One PATCH's bytes, sealed in a file of its own under AIMA_MEDIA_ROOT/incoming."""

    upload = models.ForeignKey(Upload, on_delete=models.CASCADE, related_name="chunks")
    offset = models.BigIntegerField()
    size_bytes = models.BigIntegerField()
    name = models.CharField(max_length=100)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["upload", "offset"],
                                               name="uploads_one_chunk_per_offset")]
