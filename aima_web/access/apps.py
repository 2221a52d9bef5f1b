from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccessConfig(AppConfig):
    name = "aima_web.access"
    label = "access"
    verbose_name = "Roles and access"

    def ready(self) -> None:
        from aima_web.access.groups import sync_after_migrate

        # After every app's migrations: the admin role also holds the model
        # permissions of apps migrated after this one, and a database flushed
        # by a test gets its role groups back.
        post_migrate.connect(sync_after_migrate, dispatch_uid="aima-access-sync-roles")
