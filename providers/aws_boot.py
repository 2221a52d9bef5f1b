"""The user data an ``aws`` launch boots when ``LaunchSpec.user_data`` is empty:
``providers.boot``'s script, which installs the agent as a systemd service.
cloud-init runs user data that starts with ``#!`` once, as root, at the first
boot (its output goes to /var/log/cloud-init-output.log); the service starts
the agent again after a stop and start (a pause and resume)."""

from __future__ import annotations

from collections.abc import Mapping

from aima_tasks.kernel.instance_env import (
    PREEMPTION_ENV,
    SHUTDOWN_ENV,
    NoticeSource,
    ShutdownMechanism,
)
from providers import boot
from providers.base import LaunchSpec

# EC2 refuses user data over 16 KB before base64 (providers.aws checks it,
# since LaunchSpec.user_data given as it is must fit too).
USER_DATA_LIMIT = 16 * 1024


def host_env(spec: LaunchSpec) -> dict[str, str]:
    """What the agent learns of its EC2 host: it ends it by powering it off
    (terminated: see ``InstanceInitiatedShutdownBehavior``), and a spot
    instance's agent polls the metadata service for interruption notices."""
    env = {SHUTDOWN_ENV: ShutdownMechanism.AWS.value}
    if spec.spot:
        env[PREEMPTION_ENV] = NoticeSource.AWS.value
    return env


def boot_script(command: str, env: Mapping[str, str], image: str = "",
                name: str = "") -> str:
    """With an ``image`` the agent runs in a container named ``name``;
    without one, ``command`` runs on the VM."""
    return boot.boot_script(command, env, image=image, name=name, provider="aws")
