"""What the fleet tells other apps, without knowing them."""

from django.dispatch import Signal

# An agent enrolled: kwargs agent, token (the EnrollmentToken it used).
agent_registered = Signal()
