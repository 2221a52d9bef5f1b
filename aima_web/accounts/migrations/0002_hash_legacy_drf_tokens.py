"""DRF's own tokens (``rest_framework.authtoken``, no longer installed) kept their
keys in clear. Each is stored again as its hash, so that the clients holding it
keep working, and the clear table is dropped."""

from django.db import migrations

from aima_web.accounts.models import PREFIX_LENGTH
from aima_web.fleet.credentials import digest

LEGACY_TABLE = "authtoken_token"


def hash_legacy_tokens(apps, schema_editor) -> None:
    connection = schema_editor.connection
    if LEGACY_TABLE not in connection.introspection.table_names():
        return
    quote = schema_editor.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {quote('key')}, {quote('user_id')} FROM {quote(LEGACY_TABLE)}")
        rows = cursor.fetchall()
    ApiToken = apps.get_model("accounts", "ApiToken")
    ApiToken.objects.bulk_create(
        ApiToken(user_id=user_id, name="DRF token (imported)", prefix=key[:PREFIX_LENGTH],
                 key_hash=digest(key))
        for key, user_id in rows)
    schema_editor.execute(f"DROP TABLE {quote(LEGACY_TABLE)}")


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]

    # Backwards: the clear keys are gone for good; the hashed tokens stay usable.
    operations = [migrations.RunPython(hash_legacy_tokens, migrations.RunPython.noop)]
