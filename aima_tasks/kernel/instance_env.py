"""What a rented host's boot environment tells its agent about the host itself:
how to end it, when, and where its provider posts preemption notices. The
control plane and each provider set these; the agent reads them
(``agents/self_shutdown.py``, ``agents/preemption.py``)."""

from __future__ import annotations

from enum import StrEnum

# How the agent ends its own instance (a ShutdownMechanism); unset on local hosts.
SHUTDOWN_ENV = "AIMA_SHUTDOWN"
# Seconds without an answer from the control plane before the agent ends its instance.
SELF_SHUTDOWN_AFTER_ENV = "AIMA_SELF_SHUTDOWN_AFTER_S"
# Which provider's preemption notices the agent polls (a NoticeSource); unset: none.
PREEMPTION_ENV = "AIMA_PREEMPTION_NOTICES"
# The instance metadata service's base URL (a test points it at a fake).
METADATA_URL_ENV = "AIMA_METADATA_URL"
DEFAULT_METADATA_URL = "http://169.254.169.254"
# The exit code by which a containerised agent asks its AWS boot script to
# power the VM off: a container cannot, and EC2 terminates a VM that powers
# itself off (InstanceInitiatedShutdownBehavior=terminate).
POWER_OFF_EXIT = 75


class ShutdownMechanism(StrEnum):
    AWS = "aws"          # shutdown -h now (or exit POWER_OFF_EXIT to the boot script)
    RUNPOD = "runpod"    # podTerminate with the pod's own RUNPOD_API_KEY
    VASTAI = "vastai"    # DELETE its instance with the container's CONTAINER_API_KEY
    PROCESS = "process"  # the subprocess provider: the agent's process ends, so does the host
    GCP = "gcp"          # DELETE its own VM through the Compute API, with the VM's service account
    AZURE = "azure"      # DELETE its own VM through ARM, with the VM's managed identity


class NoticeSource(StrEnum):
    AWS = "aws"      # IMDSv2 spot/instance-action
    GCP = "gcp"      # the metadata server's instance/preempted
    AZURE = "azure"  # IMDS Scheduled Events (Preempt, Terminate)
