"""What an error report (or a debug page) may show of settings and the environment."""

from __future__ import annotations

import re

from django.views.debug import SafeExceptionReporterFilter


class SecretMaskingFilter(SafeExceptionReporterFilter):
    # Django's list, plus URL and DSN: DATABASE_URL, AIMA_BROKER_URL and
    # AIMA_AGENT_BROKER_URL hold passwords.
    hidden_settings = re.compile(
        "API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|URL|DSN|CREDENTIAL", flags=re.I)
