"""A launch's tags as GCP labels, and the instance names GCP allows.

GCP labels take lowercase letters, digits, ``_`` and ``-``, at most 63
characters, and a key must start with a letter (cloud.google.com/compute/docs/
labeling-resources). A tag that already fits is its own label; any other is
written ``x--`` and its UTF-8 in lowercase base32 (so a tag that starts with
``x--`` is encoded too, and decoding is never ambiguous). One still too long
becomes ``h--`` and a hash: it can be filtered on but not read back, which is
why the tags also travel whole, as JSON, in the instance's metadata
(``providers.gcp`` reads them from there).
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Mapping

LABEL_MAX = 63
_VALUE = re.compile(r"[a-z0-9_-]{0,63}\Z")
_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}\Z")
_ENCODED, _HASHED = "x--", "h--"
# Instance names: RFC 1035 labels, at most 63 characters.
_NAME = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?\Z")
SUFFIX_LEN = 6


def encode(text: str, key: bool = False) -> str:
    """The label key (``key=True``) or value that stands for ``text``."""
    fits = _KEY if key else _VALUE
    if fits.match(text) and not text.startswith((_ENCODED, _HASHED)):
        return text
    encoded = _ENCODED + base64.b32encode(text.encode()).decode().rstrip("=").lower()
    if len(encoded) <= LABEL_MAX:
        return encoded
    return _HASHED + hashlib.sha256(text.encode()).hexdigest()[:LABEL_MAX - len(_HASHED)]


def decode(label: str) -> str | None:
    """The text a label stands for; None for a hashed one."""
    if label.startswith(_HASHED):
        return None
    if not label.startswith(_ENCODED):
        return label
    body = label[len(_ENCODED):].upper()
    return base64.b32decode(body + "=" * (-len(body) % 8)).decode()


def labels(tags: Mapping[str, str]) -> dict[str, str]:
    return {encode(key, key=True): encode(value) for key, value in tags.items()}


def label_filter(tags: Mapping[str, str]) -> str:
    """A Compute list filter that keeps instances labelled with all ``tags``."""
    return " ".join(f'(labels.{key} = "{value}")' for key, value in labels(tags).items())


def instance_name(name: str) -> str:
    """A GCP instance name from a launch's name, with a random suffix: two
    deployments in one project may both launch their ``aima-7``, and a retried
    launch must not be refused as a duplicate of the first try."""
    base = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    if not base or not base[0].isalpha():
        base = f"aima-{base}".rstrip("-")
    base = base[:LABEL_MAX - SUFFIX_LEN - 1].rstrip("-")
    full = f"{base}-{secrets.token_hex(SUFFIX_LEN // 2)}"
    assert _NAME.match(full), full
    return full
