from django.db import models

from aima_web.access.roles import Capability


class Capabilities(models.Model):
    """Holds the capabilities as Django permissions (``access.<capability>``);
    it has no table."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = Capability.choices
