"""The custom data an ``azure`` launch boots: ``providers.boot``'s script, which
cloud-init runs once, as root, at the VM's first boot. It installs the agent
as a systemd service because Azure keeps a VM's identity across a deallocate
and start (a pause and resume) and cloud-init does not run the script again
then: the service starts the agent's container at every boot, with its working
folder on the OS disk so that it comes back with the credential it enrolled
for (enrollment tokens are single use). An agent image is required.

Custom data is not readable through ARM or the instance metadata service once
the VM exists (unlike user data), which keeps the agent's token out of reach
of readers of the VM.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping

from aima_tasks.kernel.instance_env import (
    PREEMPTION_ENV,
    SHUTDOWN_ENV,
    NoticeSource,
    ShutdownMechanism,
)
from providers import boot
from providers.errors import ProviderError

# Azure refuses custom data over 64 KiB (65535 bytes before base64).
CUSTOM_DATA_LIMIT = 65535


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
    # Checked here, not left to boot_script: without an image it would run the
    # command on the VM, which Azure's VMs (an image with only Docker) cannot.
    boot.check_image(image)
    return boot.boot_script(command, env, image=image, name=name, provider="azure")
