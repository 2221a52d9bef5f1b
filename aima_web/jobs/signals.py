"""What happens to jobs that other apps act on, without jobs knowing them."""

from django.dispatch import Signal

# An agent started a job: kwargs job_id, agent_id.
job_started = Signal()
# A running job ended (succeeded or failed): kwargs job_id.
job_finished = Signal()
