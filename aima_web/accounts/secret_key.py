"""The embedded default's secret key: made once, kept in a file only its owner reads.

Only a single-machine installation (SQLite under ``AIMA_VAR_DIR``) uses it; every
process there reads the same file, so sessions and signatures stay valid across
restarts and between the web server and the workers.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.core.management.utils import get_random_secret_key


def embedded_secret_key(path: Path) -> str:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f"{path.name}.{os.getpid()}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(get_random_secret_key())
        try:
            # link() fails when another process got there first: then its key is the key.
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()
