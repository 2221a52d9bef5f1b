"""The control plane's Celery app: ``celery -A aima_tasks.app worker``.

Celery's Django fix-up sets Django up in the worker; the web process imports
this module only to send tasks.
"""

import os

from aima_tasks.celery_config import make_app

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aima_web.settings")

app = make_app("aima-control")
app.conf.include = ["aima_tasks.control"]
