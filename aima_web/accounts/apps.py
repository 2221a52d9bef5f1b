from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "aima_web.accounts"
    label = "accounts"

    def ready(self) -> None:
        from aima_web.accounts import (
            lockout,  # noqa: F401  (audits account lockouts)
            schema,  # noqa: F401  (registers the schema extension)
        )
