"""The role groups: viewer, analyst, operator and admin, with their capabilities."""

from django.db import migrations

from aima_web.access.groups import sync_role_groups


def create_role_groups(apps, schema_editor) -> None:
    sync_role_groups(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("access", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_role_groups, migrations.RunPython.noop)]
