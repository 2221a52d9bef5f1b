"""The startup script a ``gcp`` launch boots: the agent in its image with
Docker, or its command on the VM itself when there is no image.

Compute Engine's guest agent runs the ``startup-script`` metadata value as root
at every boot (cloud.google.com/compute/docs/instances/startup-scripts/linux),
not only the first as cloud-init does with EC2 user data: a paused VM that is
resumed starts its agent again, with the same environment. The environment is
in the instance's metadata, which any process on the VM can read from the
metadata server and anyone allowed ``compute.instances.get`` can read from the
API: the enrolment token in it is single-use and short-lived for that reason.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping

from aima_tasks.kernel.instance_env import (
    POWER_OFF_EXIT,
    PREEMPTION_ENV,
    SHUTDOWN_ENV,
    NoticeSource,
    ShutdownMechanism,
)
from providers.errors import ProviderError

# One metadata value holds at most 256 KB.
METADATA_VALUE_LIMIT = 256 * 1024
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
CONTAINER_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*\Z")
IMAGE_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@-]*\Z")
# /run is a tmpfs: the file is written again at each boot and gone between.
ENV_DIR = "/run/aima"

# After the agent: it exits with POWER_OFF_EXIT when it could not end its VM
# itself (no service account to delete it with); a stopped VM bills only its
# disk, and the control plane deletes it when it sees it stopped.
POWER_OFF = [f'if [ "$rc" -eq {POWER_OFF_EXIT} ]; then shutdown -h now; fi']


def host_env() -> dict[str, str]:
    """What the agent learns of its GCP host: it deletes its own VM through the
    Compute API, and polls the metadata server's ``instance/preempted`` (which
    stays FALSE on a VM that is not Spot)."""
    return {SHUTDOWN_ENV: ShutdownMechanism.GCP.value, PREEMPTION_ENV: NoticeSource.GCP.value}


def startup_script(command: str, env: Mapping[str, str], image: str = "",
                   name: str = "") -> str:
    for key, value in env.items():
        if not ENV_NAME.match(key):
            raise ProviderError(f"environment variable name {key!r} is not a shell name")
        # docker --env-file reads one variable a line, the value as it stands.
        if image and ("\n" in value or "\r" in value):
            raise ProviderError(f"environment variable {key} holds a line break, which "
                                f"an env file cannot carry")
    script = _container(command, env, image, name) if image else _on_vm(command, env)
    if len(script.encode()) > METADATA_VALUE_LIMIT:
        raise ProviderError(f"the startup script is {len(script.encode())} bytes; a metadata "
                            f"value holds at most {METADATA_VALUE_LIMIT}")
    return script


def _on_vm(command: str, env: Mapping[str, str]) -> str:
    lines = ["#!/bin/bash", "# Written by AIMA's gcp provider: the environment, then the command."]
    lines.extend(f"export {key}={shlex.quote(value)}" for key, value in env.items())
    lines += ["rc=0", f"{command} || rc=$?", *POWER_OFF]
    return "\n".join(lines) + "\n"


def _container(command: str, env: Mapping[str, str], image: str, name: str) -> str:
    if not IMAGE_REF.match(image):
        raise ProviderError(f"agent image {image!r} is not an image reference")
    if not CONTAINER_NAME.match(name):
        raise ProviderError(f"instance name {name!r} is not a Docker container name")
    env_file = f"{ENV_DIR}/agent.env"
    pairs = " ".join(shlex.quote(f"{key}={value}") for key, value in env.items())
    run = ["docker", "run", "--rm", "--init", "--gpus", "all", "--network", "host",
           "--name", name, "--env-file", env_file, image]
    if command:
        run += ["sh", "-c", command]
    return "\n".join([
        "#!/bin/bash",
        "# Written by AIMA's gcp provider: the agent's environment, then its container.",
        "set -eu",
        # A file only root reads, not -e flags: any user sees a command line in ps.
        f"install -d -m 700 {shlex.quote(ENV_DIR)}",
        f"(umask 077; printf '%s\\n' {pairs} > {shlex.quote(env_file)})",
        "# At boot dockerd may still be starting.",
        "for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 2; done",
        # A container left from before a stop would hold the name.
        f"docker rm -f {shlex.quote(name)} >/dev/null 2>&1 || true",
        # No --restart: an agent that stopped leaves its VM to the control plane.
        # --network host: the agent only dials out, and reads the metadata server.
        "rc=0",
        f"{shlex.join(run)} || rc=$?",
        *POWER_OFF,
    ]) + "\n"
