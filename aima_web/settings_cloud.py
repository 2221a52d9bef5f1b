"""Settings of renting cloud GPUs: instances, their agents, prices, pausing,
off-peak deferral and warm capacity. ``aima_web/settings.py`` takes every name
here as its own (Django reads settings from that one module); they live apart
so that each settings module stays one readable page.
"""

from __future__ import annotations

import os

from aima_tasks import broker
from aima_web.environment import env_float, env_int

# --- Cloud instances (providers/, aima_web/instances) ---------------------------
# Tagged on every instance this control plane launches; the reconciler
# terminates any instance with this tag that the database does not know.
AIMA_DEPLOYMENT_ID = os.environ.get("AIMA_DEPLOYMENT_ID", "aima-default")
# The URL cloud agents reach this control plane at.
AIMA_PUBLIC_URL = os.environ.get("AIMA_PUBLIC_URL", "http://127.0.0.1:8000")
# The control plane's own broker URL: never handed to an agent.
AIMA_BROKER_URL = broker.broker_url()
AIMA_PUBLISH_TIMEOUT_S = broker.publish_timeout_s()  # a publish's bound: aima_tasks/broker.py
# RabbitMQ's management API, as a user with the administrator tag: it makes
# each cloud instance a broker user that may read its own GPU queue only.
# Required for cloud instances on RabbitMQ (instances/broker_accounts.py).
AIMA_BROKER_ADMIN_URL = os.environ.get("AIMA_BROKER_ADMIN_URL", "")
# Where cloud agents reach the broker: its scheme, host and port only (any
# credentials in it are dropped; each instance gets a user of its own).
AIMA_AGENT_BROKER_URL = os.environ.get("AIMA_AGENT_BROKER_URL") or AIMA_BROKER_URL
# What an instance runs: the agent image (container providers) and its command.
AIMA_AGENT_IMAGE = os.environ.get("AIMA_AGENT_IMAGE", "ghcr.io/aima/agent:latest")
AIMA_AGENT_COMMAND = os.environ.get("AIMA_AGENT_COMMAND", "python -m agents run")
# An instance whose agent has not registered this long after launch is
# terminated and the next offer tried.
AIMA_BOOT_TIMEOUT_S = env_int("AIMA_BOOT_TIMEOUT_S", 600)
# A cloud agent that has not reached this control plane for this long ends its
# own instance (agents/self_shutdown.py): no rented host outlives its control plane.
AIMA_SELF_SHUTDOWN_AFTER_S = env_int("AIMA_SELF_SHUTDOWN_AFTER_S", 600)
# An idle instance is terminated or paused (kernel/idle_policy.py) this long after its last job.
AIMA_IDLE_GRACE_S = env_int("AIMA_IDLE_GRACE_S", 60)
AIMA_PAUSE_GRACE_S = env_int("AIMA_PAUSE_GRACE_S", 3600)  # then a paused one is terminated
# A launch (the provider's API call) still unfinished this long after it began
# is taken for lost with its control worker: the instance is looked for at the
# provider by its tag and adopted, or launched again.
AIMA_LAUNCH_TIMEOUT_S = env_int("AIMA_LAUNCH_TIMEOUT_S", 300)
# An offer whose instance failed to boot is passed over for this long when
# another offer of its class exists.
AIMA_FAILED_OFFER_COOLDOWN_S = env_int("AIMA_FAILED_OFFER_COOLDOWN_S", 3600)
# Launches one control worker runs side by side (threads waiting on provider APIs).
AIMA_PARALLEL_LAUNCHES = env_int("AIMA_PARALLEL_LAUNCHES", 8)
# Launch attempts per wanted instance, over offers and providers, with backoff.
AIMA_LAUNCH_ATTEMPTS = env_int("AIMA_LAUNCH_ATTEMPTS", 4)
# Caps: instances per provider and GPU class, and cloud spend per hour (0: none).
AIMA_MAX_INSTANCES_PER_CLASS = env_int("AIMA_MAX_INSTANCES_PER_CLASS", 4)
AIMA_MAX_SPEND_PER_HOUR = env_float("AIMA_MAX_SPEND_PER_HOUR", 0.0)
# How often the control worker's beat checks instances, reconciles with the
# providers and refreshes prices (seconds).
AIMA_INSTANCE_TICK_S = env_int("AIMA_INSTANCE_TICK_S", 5)
AIMA_RECONCILE_S = env_int("AIMA_RECONCILE_S", 60)
AIMA_PRICE_REFRESH_S = env_int("AIMA_PRICE_REFRESH_S", 900)
# Price history (placement/prices.py) is kept this many days.
AIMA_PRICE_HISTORY_DAYS = env_int("AIMA_PRICE_HISTORY_DAYS", 90)

# --- Off-peak deferral and warm capacity: meanings in jobs/deferral.py, instances/warm.py
AIMA_DEADLINE_LOW_S = env_int("AIMA_DEADLINE_LOW_S", 72 * 3600)
AIMA_DEADLINE_NORMAL_S = env_int("AIMA_DEADLINE_NORMAL_S", 24 * 3600)
AIMA_DEFER_MIN_SAVING = env_float("AIMA_DEFER_MIN_SAVING", 0.10)
AIMA_WARM_VALUE_PER_WAIT_HOUR = env_float("AIMA_WARM_VALUE_PER_WAIT_HOUR", 5.0)
AIMA_WARM_MARGIN_S = env_int("AIMA_WARM_MARGIN_S", 900)
