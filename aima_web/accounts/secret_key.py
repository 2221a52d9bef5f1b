"""The embedded default's secret key: made once, kept in a file only its owner reads.

Only a single-machine installation (SQLite under ``AIMA_VAR_DIR``) uses it; every
process there reads the same file, so sessions and signatures stay valid across
restarts and between the web server and the workers.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.utils import get_random_secret_key

from aima_web.core.content import write_atomically


def embedded_secret_key(path: Path) -> str:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Processes starting together may all get here: the first file made wins.
        write_atomically(path, lambda out: out.write(get_random_secret_key().encode()),
                         overwrite=False)
    return path.read_text().strip()
