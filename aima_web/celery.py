"""The control plane's Celery app: ``celery -A aima_web.celery worker``.

Celery's Django fix-up sets Django up in the worker; the web process imports
this module only to send tasks.
"""

import os

from aima_tasks.celery_config import make_app
from aima_tasks.kernel.routing import TaskName

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aima_web.settings")

app = make_app("aima-control")
# Each app's tasks live in its own tasks.py, beside the domain they work on.
app.autodiscover_tasks()


@app.on_after_finalize.connect
def schedule_periodic_tasks(sender: object, **kwargs: object) -> None:
    """The beat's work (run with ``aima_worker --beat``): instance upkeep,
    reconciling with the providers, fresh prices, audit checkpoints, retention, stuck
    jobs driven on (aima_web/jobs/sweeper.py), alerts (aima_web/alerts). Intervals are settings."""
    from django.conf import settings  # read once Django is set up, not at import

    from aima_web.alerts import evaluate as alert_pass

    app.conf.beat_schedule = {
        "instances-tick": {"task": TaskName.TICK.value,
                           "schedule": float(settings.AIMA_INSTANCE_TICK_S)},
        "instances-reconcile": {"task": TaskName.RECONCILE.value,
                                "schedule": float(settings.AIMA_RECONCILE_S)},
        "offers-refresh": {"task": TaskName.REFRESH_OFFERS.value,
                           "schedule": float(settings.AIMA_PRICE_REFRESH_S)},
        "audit-checkpoint": {"task": TaskName.AUDIT_CHECKPOINT.value,
                             "schedule": float(settings.AIMA_AUDIT_CHECKPOINT_S)},
        "retention-sweep": {"task": TaskName.RETENTION.value,
                            "schedule": float(settings.AIMA_RETENTION_S)},
        "fleet-health": {"task": TaskName.FLEET_HEALTH.value,
                         "schedule": float(settings.AIMA_FLEET_HEALTH_S)},
        "jobs-sweep": {"task": TaskName.SWEEP.value,
                       "schedule": float(settings.AIMA_SWEEP_S)},
        "alerts": {"task": TaskName.ALERTS.value, "schedule": alert_pass.EVERY_S},
    }
