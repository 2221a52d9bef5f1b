"""The user data an ``aws`` launch boots when ``LaunchSpec.user_data`` is empty:
a ``#!/bin/bash`` script that runs the agent in its image with Docker, or on
the VM itself when there is no image (see ``providers.aws``)."""

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
from providers.base import LaunchSpec
from providers.errors import ProviderError

# EC2 refuses user data over 16 KB before base64.
USER_DATA_LIMIT = 16 * 1024
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# Docker's rule for container names; an image reference, which cannot pass for an option.
CONTAINER_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*\Z")
IMAGE_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@-]*\Z")
# Where a container launch keeps the agent's environment: /run is a tmpfs, so
# the file is gone at the next boot (Docker keeps its own root-only copy).
ENV_DIR = "/run/aima"


def host_env(spec: LaunchSpec) -> dict[str, str]:
    """What the agent learns of its EC2 host: it ends it by powering it off
    (terminated: see ``InstanceInitiatedShutdownBehavior``), and a spot
    instance's agent polls the metadata service for interruption notices."""
    env = {SHUTDOWN_ENV: ShutdownMechanism.AWS.value}
    if spec.spot:
        env[PREEMPTION_ENV] = NoticeSource.AWS.value
    return env


# After the agent: it exits with POWER_OFF_EXIT when it ended its own instance,
# which from a container only the VM can carry out.
POWER_OFF = [f'if [ "$rc" -eq {POWER_OFF_EXIT} ]; then shutdown -h now; fi']


def boot_script(command: str, env: Mapping[str, str], image: str = "",
                name: str = "") -> str:
    """The user data of a launch without its own: cloud-init runs a script
    that starts with ``#!`` once, as root, at first boot, and writes its output
    to /var/log/cloud-init-output.log. With an ``image`` the agent runs in a
    container named ``name``; without one, ``command`` runs on the VM."""
    for key in env:
        if not ENV_NAME.match(key):
            raise ProviderError(f"environment variable name {key!r} is not a shell name")
    if image:
        return _container_script(command, env, image, name)
    lines = ["#!/bin/bash", "# Written by AIMA's aws provider: the environment, then the command."]
    lines.extend(f"export {key}={shlex.quote(value)}" for key, value in env.items())
    lines += ["rc=0", f"{command} || rc=$?", *POWER_OFF]
    return "\n".join(lines) + "\n"


def _container_script(command: str, env: Mapping[str, str], image: str, name: str) -> str:
    if not IMAGE_REF.match(image):
        raise ProviderError(f"agent image {image!r} is not an image reference")
    if not CONTAINER_NAME.match(name):
        raise ProviderError(f"instance name {name!r} is not a Docker container name")
    for key, value in env.items():
        # docker --env-file reads one variable a line, the value as it stands.
        if "\n" in value or "\r" in value:
            raise ProviderError(f"environment variable {key} holds a line break, which "
                                f"an env file cannot carry")
    env_file = f"{ENV_DIR}/agent.env"
    pairs = " ".join(shlex.quote(f"{key}={value}") for key, value in env.items())
    run = ["docker", "run", "--rm", "--init", "--gpus", "all", "--network", "host",
           "--name", name, "--env-file", env_file, image]
    if command:
        run += ["sh", "-c", command]
    return "\n".join([
        "#!/bin/bash",
        "# Written by AIMA's aws provider: the agent's environment, then its container.",
        "set -eu",
        # A file only root reads, not -e flags: any user sees a command line in ps.
        f"install -d -m 700 {shlex.quote(ENV_DIR)}",
        f"(umask 077; printf '%s\\n' {pairs} > {shlex.quote(env_file)})",
        "# At first boot dockerd may still be starting.",
        "for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 2; done",
        # No --restart: a second start would enrol a second agent with the same
        # token, one the instance does not know. An agent that stops leaves its
        # instance to the control plane (the boot timeout, the idle grace).
        # --init: a PID 1 that reaps whatever the agent's processes leave behind.
        # --network host: the agent only dials out; no bridge or NAT in its way.
        "# No --restart: an instance whose agent stopped is the control plane's to end.",
        "rc=0",
        f"{shlex.join(run)} || rc=$?",
        *POWER_OFF,
    ]) + "\n"
