"""WSGI entry point for the AIMA control plane (gunicorn aima_web.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aima_web.settings")
application = get_wsgi_application()
