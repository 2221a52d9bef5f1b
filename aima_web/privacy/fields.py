"""A JSON model field sealed at rest with the keyring (``aima_web.privacy.keyring``).

The column holds ``PREFIX`` + base64 of a sealed stream; Python code, forms and
serializers see plain dicts and lists. A value that fails to open raises ``Unreadable`` rather than
reading as something else. Lookups into the JSON cannot run in the database.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
from typing import Any

from django.db import models

from aima_web.privacy import keyring
from aima_web.privacy.sealing import Unreadable, key_id_of, seal, unseal

PREFIX = "sealed:"


def seal_json(value: Any) -> str:
    ring = keyring.load()
    sealed = seal(json.dumps(value).encode(), ring.current, ring.current_key)
    return PREFIX + base64.b64encode(sealed).decode()


def _sealed_bytes(text: str) -> bytes:
    if not text.startswith(PREFIX):
        raise Unreadable("the stored value is not sealed")
    try:
        return base64.b64decode(text[len(PREFIX):], validate=True)
    except binascii.Error as exc:
        raise Unreadable(f"the sealed value is not base64: {exc}") from None


def open_json(text: str) -> Any:
    return json.loads(unseal(_sealed_bytes(text), keyring.load().key))


def key_id_of_text(text: str) -> str:
    """The key a stored value was sealed with, without opening it."""
    return key_id_of(io.BytesIO(_sealed_bytes(text)))


class EncryptedJSONField(models.JSONField):
    """A JSONField to forms, serializers and code; sealed text in the database."""

    description = "JSON sealed with the keyring"

    def get_internal_type(self) -> str:
        return "TextField"

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Any:
        return None if value is None else open_json(value)

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        return None if value is None else seal_json(value)

    def get_transform(self, name: str) -> Any:
        # Keys inside sealed JSON cannot be looked up in the database.
        return models.Field.get_transform(self, name)
