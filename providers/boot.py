"""The boot script the VM providers (``aws``, ``gcp``, ``azure``) hand their VMs:
one ``#!/bin/bash`` script, run as root at first boot, that installs the agent
as a systemd service (``aima-agent.service``) and starts it.

A service rather than a run of the agent from the script itself, because a
pause stops the VM and a resume starts it again with its disk, and cloud-init
(EC2 user data, Azure custom data) runs the script only at the first boot: the
service starts the agent at every boot. Its working folder is on the VM's disk
(``WORKDIR``, mounted into the container), so that a resumed agent comes back
with the credential it enrolled for; enrolment tokens are single use and it
could not enrol again.

GCP runs its startup script at every boot, and systemd has started the
enabled service by then: the script does nothing once the service is
installed, so the agent is never started twice (not even once it has exited).

With an agent image the service runs it with Docker; without one it runs the
command on the VM itself, as root, with ``AIMA_AGENT_WORKDIR`` set to the same
folder unless the environment sets it. Each provider keeps its size limit, its
host environment and its wording in its own module (``providers.aws_boot``,
``gcp_boot``, ``azure_boot``).
"""

from __future__ import annotations

import base64
import re
import shlex
from collections.abc import Mapping

from aima_tasks.kernel.instance_env import POWER_OFF_EXIT
from providers.errors import ProviderError

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# Docker's rule for container names; an image reference, which cannot pass for an option.
CONTAINER_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*\Z")
IMAGE_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@-]*\Z")

SERVICE = "aima-agent.service"
ETC_DIR = "/etc/aima"
# On the disk, not /run: the service reads it again at every boot.
ENV_FILE = f"{ETC_DIR}/agent.env"
RUNNER = f"{ETC_DIR}/run-agent.sh"
UNIT = f"/etc/systemd/system/{SERVICE}"
WORKDIR = "/var/lib/aima-agent"  # the agent image's AIMA_AGENT_WORKDIR
AGENT_UID = 1000  # the agent image's user (deploy/images/agent.Containerfile)


def check_env(env: Mapping[str, str], *, env_file: bool) -> None:
    """Refuse names a shell cannot export, and, for ``docker --env-file``,
    values with a line break: it reads one variable a line, the value as it stands."""
    for key, value in env.items():
        if not ENV_NAME.match(key):
            raise ProviderError(f"environment variable name {key!r} is not a shell name")
        if env_file and ("\n" in value or "\r" in value):
            raise ProviderError(f"environment variable {key} holds a line break, which "
                                f"an env file cannot carry")


def check_image(image: str) -> None:
    if not IMAGE_REF.match(image):
        raise ProviderError(f"agent image {image!r} is not an image reference")


def check_name(name: str) -> None:
    if not CONTAINER_NAME.match(name):
        raise ProviderError(f"instance name {name!r} is not a Docker container name")


def boot_script(command: str, env: Mapping[str, str], *, image: str, name: str,
                provider: str, root: str = "") -> str:
    """The script for ``provider``'s VMs. With ``image`` the agent runs in a
    container named ``name``, else ``command`` runs on the VM. ``root`` is
    where the VM's file system is: empty on a VM, a folder in a test."""
    check_env(env, env_file=bool(image))
    if image:
        check_image(image)
        check_name(name)
        runner = _container_runner(command, env, image, name, root)
    elif command.strip():
        runner = _command_runner(command, env)
    else:
        raise ProviderError("a launch without an agent image needs a command to run")
    # What the script writes where: the env file only with an image (without
    # one the runner exports the env itself, line breaks and all).
    pairs = " ".join(shlex.quote(f"{key}={value}") for key, value in env.items())
    env_lines = [f"printf '%s\\n' {pairs} > {shlex.quote(root + ENV_FILE)}"] if image else []
    return "\n".join([
        "#!/bin/bash",
        f"# Written by AIMA's {provider} provider: the agent's environment and "
        f"{SERVICE}, which starts it at every boot.",
        "set -eu",
        # Installed at an earlier boot (GCP runs this at every boot): systemd has
        # started it already, and a second start would be a second agent.
        f"if systemctl is-enabled --quiet {SERVICE} 2>/dev/null; then exit 0; fi",
        # Files only root reads, not -e flags: any user sees a command line in ps.
        "umask 077",
        f"install -d -m 700 {shlex.quote(root + ETC_DIR)}",
        *env_lines,
        f"install -d -m 700 {shlex.quote(root + WORKDIR)}",
        f"chown {AGENT_UID}:{AGENT_UID} {shlex.quote(root + WORKDIR)}",
        # base64: no line of the command can end a heredoc or meet a quote.
        f"echo {base64.b64encode(runner.encode()).decode()} | base64 -d "
        f"> {shlex.quote(root + RUNNER)}",
        f"install -d -m 755 {shlex.quote(root + UNIT.rsplit('/', 1)[0])}",
        f"(umask 022; cat > {shlex.quote(root + UNIT)}) <<'AIMA_UNIT'",
        _unit(root, docker=bool(image)),
        "AIMA_UNIT",
        "systemctl daemon-reload",
        f"systemctl enable --now {SERVICE}",
    ]) + "\n"


def _unit(root: str, *, docker: bool) -> str:
    after = "network-online.target docker.service" if docker else "network-online.target"
    return "\n".join([
        "[Unit]",
        "Description=AIMA GPU agent",
        f"After={after}",
        "Wants=network-online.target",
        *(["Requires=docker.service"] if docker else []),
        "[Service]",
        f"ExecStart=/bin/bash {root + RUNNER}",
        # No Restart=: a stopped agent leaves its VM to the control plane (the
        # boot timeout, the idle grace); the next boot starts it again.
        "[Install]",
        "WantedBy=multi-user.target",
    ])


# After the agent: it exits with POWER_OFF_EXIT when it could not end its VM
# itself, which from a container only the VM can do (and the provider decides
# what a powered-off VM becomes: EC2 terminates it, GCP and Azure stop it).
_POWER_OFF = [f'if [ "$rc" -eq {POWER_OFF_EXIT} ]; then systemctl poweroff; fi', 'exit "$rc"']


def _container_runner(command: str, env: Mapping[str, str], image: str, name: str,
                      root: str) -> str:
    run = ["docker", "run", "--rm", "--init", "--gpus", "all", "--network", "host",
           "--name", name, "--env-file", root + ENV_FILE,
           "--volume", f"{root + WORKDIR}:{WORKDIR}", image]
    if command:
        run += ["sh", "-c", command]
    # --init: a PID 1 that reaps whatever the agent's processes leave behind.
    # --network host: the agent only dials out; no bridge or NAT in its way.
    return "\n".join([
        "#!/bin/bash",
        f"# The agent's container, started by {SERVICE} at every boot.",
        # A container left by a VM that lost power would hold the name.
        f"docker rm -f {shlex.quote(name)} >/dev/null 2>&1 || true",
        "rc=0",
        f"{shlex.join(run)} || rc=$?",
        *_POWER_OFF,
    ]) + "\n"


def _command_runner(command: str, env: Mapping[str, str]) -> str:
    env = {"AIMA_AGENT_WORKDIR": WORKDIR, **env}
    return "\n".join([
        "#!/bin/bash",
        f"# The agent's command on the VM, started by {SERVICE} at every boot.",
        *(f"export {key}={shlex.quote(value)}" for key, value in env.items()),
        "rc=0",
        # Its own lines: a command with ; or a line break is still one.
        "(",
        command,
        ") || rc=$?",
        *_POWER_OFF,
    ]) + "\n"
