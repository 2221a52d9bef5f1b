"""The ``subprocess`` provider with pause support (``AIMA_SUBPROCESS_PAUSE_SUPPORT=1``).

Each host gets a folder of its own, its disk: the agent's working folder
(``AIMA_AGENT_WORKDIR``, where it keeps its credential and its model cache)
and the command and environment it was started with. Pausing ends the host's
process and keeps the folder and the record (state ``STOPPED``, billed at the
storage price); resuming starts the same command with the same environment
after ``resume_delay_s``, so the agent comes back with the identity it kept
(its enrollment token was single-use) and the models it fetched.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from providers import errors
from providers.base import Pausable
from providers.subprocess import SubprocessProvider, _stop_group

# The file in a host's folder that keeps how to start it again.
BOOT_FILE = "boot.json"
# What a launch's agent needs on top of its delay: the same as offers' boot_s.
AGENT_START_S = 3.0


class PausableSubprocessProvider(Pausable, SubprocessProvider):
    def __init__(self, settings: Mapping[str, str]):
        super().__init__(settings)
        self.storage_price_gb_month = self.config.storage_price_gb_month
        self.resume_s = self.config.resume_delay_s + AGENT_START_S

    def host_dir(self, instance_id: str) -> Path:
        """The host's disk: kept while it is paused, gone with the host."""
        return self._path(instance_id).with_suffix("")

    def _host_env(self, instance_id: str) -> dict[str, str]:
        return super()._host_env(instance_id) | {
            "AIMA_AGENT_WORKDIR": str(self.host_dir(instance_id) / "agent")}

    def _start(self, instance_id: str, command: str, env: Mapping[str, str],
               delay_s: float) -> int:
        folder = self.host_dir(instance_id)
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        boot = folder / BOOT_FILE
        if not boot.exists():
            # Readable by its owner only: the environment holds the host's secrets.
            fd = os.open(boot, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                json.dump({"command": command, "env": dict(env)}, out)
        return super()._start(instance_id, command, env, delay_s)

    def terminate(self, instance_id: str) -> None:
        super().terminate(instance_id)
        # A terminated host's disk goes with it, and the secrets in it.
        with contextlib.suppress(errors.NotFoundError):
            shutil.rmtree(self.host_dir(instance_id), ignore_errors=True)

    def pause(self, instance_id: str) -> None:
        """Stop the host's process and keep its disk. Idempotent: a paused host
        stays paused; a terminated one cannot be paused."""
        record = self._read(instance_id)
        if record["terminated"]:
            raise errors.NotFoundError(f"subprocess instance {instance_id} is terminated")
        if record.get("paused"):
            return
        _stop_group(record["pid"])
        record |= {"paused": True, "paused_at": datetime.now(UTC).isoformat()}
        self._write(record)

    def resume(self, instance_id: str) -> None:
        """Start a paused host's command again after ``resume_delay_s``.
        Idempotent: a running host is left as it is."""
        record = self._read(instance_id)
        if record["terminated"]:
            raise errors.NotFoundError(f"subprocess instance {instance_id} is terminated")
        if not record.get("paused"):
            return
        boot = json.loads((self.host_dir(instance_id) / BOOT_FILE).read_text())
        pid = self._start(instance_id, boot["command"], boot["env"],
                          self.config.resume_delay_s)
        record |= {"pid": pid, "paused": False, "resumed_at": datetime.now(UTC).isoformat()}
        self._write(record)
