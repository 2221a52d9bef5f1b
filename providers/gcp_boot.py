"""The startup script a ``gcp`` launch boots: ``providers.boot``'s script,
which installs the agent as a systemd service, with Docker or (without an
image) its command on the VM itself.

Compute Engine's guest agent runs the ``startup-script`` metadata value as root
at every boot (cloud.google.com/compute/docs/instances/startup-scripts/linux),
not only the first as cloud-init does with EC2 user data. The service, enabled
at the first boot, is what starts the agent at the later ones (a resume): the
script then finds it installed and does nothing, so the agent starts once.
The environment is in the instance's metadata, which any process on the VM can
read from the metadata server and anyone allowed ``compute.instances.get`` can
read from the API: the enrolment token in it is single-use and short-lived for
that reason.
"""

from __future__ import annotations

from collections.abc import Mapping

from aima_tasks.kernel.instance_env import (
    PREEMPTION_ENV,
    SHUTDOWN_ENV,
    NoticeSource,
    ShutdownMechanism,
)
from providers import boot
from providers.errors import ProviderError

# One metadata value holds at most 256 KB.
METADATA_VALUE_LIMIT = 256 * 1024


def host_env() -> dict[str, str]:
    """What the agent learns of its GCP host: it deletes its own VM through the
    Compute API (or exits for the service to power it off: a stopped VM bills
    only its disk, and the control plane deletes it when it sees it stopped),
    and polls the metadata server's ``instance/preempted`` (which stays FALSE
    on a VM that is not Spot)."""
    return {SHUTDOWN_ENV: ShutdownMechanism.GCP.value, PREEMPTION_ENV: NoticeSource.GCP.value}


def startup_script(command: str, env: Mapping[str, str], image: str = "",
                   name: str = "") -> str:
    script = boot.boot_script(command, env, image=image, name=name, provider="gcp")
    if len(script.encode()) > METADATA_VALUE_LIMIT:
        raise ProviderError(f"the startup script is {len(script.encode())} bytes; a metadata "
                            f"value holds at most {METADATA_VALUE_LIMIT}")
    return script
