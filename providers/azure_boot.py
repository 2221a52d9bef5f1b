"""The custom data an ``azure`` launch boots: a ``#!/bin/bash`` script that
cloud-init runs once, as root, at the VM's first boot. It installs the agent
as a systemd service rather than running it once, because Azure keeps a VM's
identity across a deallocate and start (a pause and resume) and cloud-init
does not run the script again then: the service starts the agent's container
at every boot, with its working folder on the OS disk so that it comes back
with the credential it enrolled for (enrollment tokens are single use).

Custom data is not readable through ARM or the instance metadata service once
the VM exists (unlike user data), which keeps the agent's token out of reach
of readers of the VM.
"""

from __future__ import annotations

import base64
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

# Azure refuses custom data over 64 KiB (65535 bytes before base64).
CUSTOM_DATA_LIMIT = 65535
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
CONTAINER_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*\Z")
IMAGE_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@-]*\Z")
ENV_FILE = "/etc/aima/agent.env"
WORKDIR = "/var/lib/aima-agent"  # the agent image's AIMA_AGENT_WORKDIR
AGENT_UID = 1000  # the agent image's user
UNIT = "/etc/systemd/system/aima-agent.service"
RUNNER = "/etc/aima/run-agent.sh"


def host_env() -> dict[str, str]:
    """What the agent learns of its Azure host: it deletes its own VM with the
    VM's managed identity, and it listens to Scheduled Events for a Spot
    eviction or a maintenance that ends the VM (on an on-demand VM too)."""
    return {SHUTDOWN_ENV: ShutdownMechanism.AZURE.value,
            PREEMPTION_ENV: NoticeSource.AZURE.value}


def custom_data(command: str, env: Mapping[str, str], image: str, name: str) -> str:
    """The script, base64-encoded as ARM takes ``osProfile.customData``."""
    script = boot_script(command, env, image, name)
    size = len(script.encode())
    if size > CUSTOM_DATA_LIMIT:
        raise ProviderError(f"the boot script is {size} bytes; Azure takes at most "
                            f"{CUSTOM_DATA_LIMIT} of custom data")
    return base64.b64encode(script.encode()).decode()


def boot_script(command: str, env: Mapping[str, str], image: str, name: str) -> str:
    _check(env, image, name)
    pairs = " ".join(shlex.quote(f"{key}={value}") for key, value in env.items())
    run = ["/usr/bin/docker", "run", "--rm", "--init", "--gpus", "all", "--network", "host",
           "--name", name, "--env-file", ENV_FILE, "--volume", f"{WORKDIR}:{WORKDIR}", image]
    if command:
        run += ["sh", "-c", command]
    agent = "\n".join([
        "#!/bin/sh",
        "# The agent's container, started by aima-agent.service at every boot.",
        "rc=0",
        f"{shlex.join(run)} || rc=$?",
        # An agent that could not delete its own VM exits POWER_OFF_EXIT for its
        # host to stop, which a container cannot do.
        f'if [ "$rc" -eq {POWER_OFF_EXIT} ]; then systemctl poweroff; fi',
        'exit "$rc"',
    ])
    unit = "\n".join([
        "[Unit]",
        "Description=AIMA GPU agent",
        "After=docker.service network-online.target",
        "Wants=network-online.target",
        "Requires=docker.service",
        "[Service]",
        # A container left by a VM that lost power would hold the name.
        f"ExecStartPre=-/usr/bin/docker rm -f {name}",
        f"ExecStart=/bin/sh {RUNNER}",
        # No Restart=: an agent that stopped leaves its VM to the control plane
        # (the boot timeout, the idle grace), as with the aws provider.
        "[Install]",
        "WantedBy=multi-user.target",
    ])
    return "\n".join([
        "#!/bin/bash",
        "# Written by AIMA's azure provider: the agent's environment, its service, its start.",
        "set -eu",
        # A file only root reads, not -e flags: any user sees a command line in ps.
        "install -d -m 700 /etc/aima",
        f"(umask 077; printf '%s\\n' {pairs} > {ENV_FILE})",
        f"install -d -m 700 -o {AGENT_UID} -g {AGENT_UID} {WORKDIR}",
        # base64: no line of the command can end a heredoc or meet a quote.
        f"echo {base64.b64encode(agent.encode()).decode()} | base64 -d > {RUNNER}",
        f"cat > {UNIT} <<'AIMA_UNIT'",
        unit,
        "AIMA_UNIT",
        "systemctl daemon-reload",
        "systemctl enable --now aima-agent.service",
    ]) + "\n"


def _check(env: Mapping[str, str], image: str, name: str) -> None:
    if not IMAGE_REF.match(image):
        raise ProviderError(f"agent image {image!r} is not an image reference")
    if not CONTAINER_NAME.match(name):
        raise ProviderError(f"instance name {name!r} is not a Docker container name")
    for key, value in env.items():
        if not ENV_NAME.match(key):
            raise ProviderError(f"environment variable name {key!r} is not a shell name")
        # docker --env-file reads one variable a line, the value as it stands.
        if "\n" in value or "\r" in value:
            raise ProviderError(f"environment variable {key} holds a line break, which "
                                f"an env file cannot carry")

