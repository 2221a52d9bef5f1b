"""Random secrets handed out once and stored only as their SHA-256.

The secrets are 256-bit random, so a plain hash is as good as a slow KDF here
and lets a request be authenticated with one indexed lookup.
"""

from __future__ import annotations

import hashlib
import secrets


def new_secret() -> str:
    # Hex, not URL-safe base64: a secret starting with "-" reads as an option
    # on a command line.
    return secrets.token_hex(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
