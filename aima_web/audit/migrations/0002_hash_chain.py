"""The hash chain: a sequence number and the hashes linking each event to the
one before. Existing events are chained in the order they were written."""

from django.db import migrations, models
from django.utils import timezone

from aima_web.audit import chain


def chain_existing_events(apps, schema_editor) -> None:
    AuditEvent = apps.get_model("audit", "AuditEvent")
    prev_hash = chain.GENESIS
    events = AuditEvent.objects.using(schema_editor.connection.alias).order_by("created_at", "id")
    for seq, event in enumerate(events.iterator(chunk_size=2000), start=1):
        event.seq, event.prev_hash = seq, prev_hash
        event.detail = chain.json_safe(event.detail)
        event.hash = chain.digest({
            "seq": seq, "created_at": chain.timestamp(event.created_at), "actor": event.actor,
            "action": event.action, "subject": event.subject, "detail": event.detail,
            "prev_hash": prev_hash})
        event.save(update_fields=["seq", "prev_hash", "hash", "detail"])
        prev_hash = event.hash


class Migration(migrations.Migration):

    dependencies = [
        ("audit", "0001_initial"),
    ]

    operations = [
        migrations.AlterModelOptions(name="auditevent", options={"ordering": ["-seq"]}),
        migrations.AlterField(
            model_name="auditevent", name="created_at",
            field=models.DateTimeField(db_index=True, default=timezone.now, editable=False)),
        migrations.AddField(
            model_name="auditevent", name="seq",
            field=models.PositiveBigIntegerField(editable=False, null=True)),
        migrations.AddField(
            model_name="auditevent", name="prev_hash",
            field=models.CharField(default="", editable=False, max_length=64),
            preserve_default=False),
        migrations.AddField(
            model_name="auditevent", name="hash",
            field=models.CharField(default="", editable=False, max_length=64),
            preserve_default=False),
        migrations.RunPython(chain_existing_events, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="auditevent", name="seq",
            field=models.PositiveBigIntegerField(editable=False, unique=True)),
    ]
