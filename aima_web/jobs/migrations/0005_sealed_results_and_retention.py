"""Results sealed at rest, and what retention deleted.

The result columns become text in three steps: plain text (PostgreSQL casts the
jsonb to its JSON text), every row sealed with the keyring's current key, then
the sealed field, which only changes how Python reads the column.
"""

import json

from django.db import migrations, models

import aima_web.privacy.fields

RESULT_MODELS = ("analysisresult", "segmentresult")
META_HELP = ("How it was made: models (name, version, sha256), device, precision, batch size, "
             "segments.")


def seal_rows(apps, schema_editor):
    for name in RESULT_MODELS:
        model = apps.get_model("jobs", name)
        for pk, data, meta in model.objects.values_list("pk", "data", "meta").iterator():
            model.objects.filter(pk=pk).update(
                data=aima_web.privacy.fields.seal_json(json.loads(data)),
                meta=aima_web.privacy.fields.seal_json(json.loads(meta)))


def open_rows(apps, schema_editor):
    for name in RESULT_MODELS:
        model = apps.get_model("jobs", name)
        for pk, data, meta in model.objects.values_list("pk", "data", "meta").iterator():
            model.objects.filter(pk=pk).update(
                data=json.dumps(aima_web.privacy.fields.open_json(data)),
                meta=json.dumps(aima_web.privacy.fields.open_json(meta)))


def fields(field_class, **kwargs):
    return [
        migrations.AlterField(model_name=model, name=name, field=field_class(**extra, **kwargs))
        for model in RESULT_MODELS
        for name, extra in (("data", {}),
                            ("meta", {"default": dict, "blank": True, "help_text": META_HELP}))
    ]


class Migration(migrations.Migration):

    dependencies = [
        ("jobs", "0004_results_meta_and_segments"),
    ]

    operations = [
        migrations.AddField(
            model_name="mediaasset",
            name="deleted_at",
            field=models.DateTimeField(
                blank=True, null=True,
                help_text="When the file was deleted because no job needed it any more "
                          "(retention, erasure); a new upload of the same content stores it "
                          "again.")),
        migrations.AddField(
            model_name="job",
            name="results_deleted_at",
            field=models.DateTimeField(
                blank=True, null=True,
                help_text="When retention or an erasure deleted its results.")),
        *fields(models.TextField),
        migrations.RunPython(seal_rows, open_rows),
        *fields(aima_web.privacy.fields.EncryptedJSONField),
    ]
