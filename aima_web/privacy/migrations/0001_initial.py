import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

# Public and internal media and results are kept 90 days after their job
# finished, confidential ones 30; the admin changes them.
DEFAULTS = {"public": 90, "internal": 90, "confidential": 30}


def default_policies(apps, schema_editor):
    policy = apps.get_model("privacy", "RetentionPolicy")
    for confidentiality, days in DEFAULTS.items():
        policy.objects.get_or_create(confidentiality=confidentiality,
                                     defaults={"media_days": days, "results_days": days})


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("jobs", "0005_sealed_results_and_retention"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="RetentionPolicy",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                                           verbose_name="ID")),
                ("confidentiality", models.CharField(
                    choices=[("public", "Public"), ("internal", "Internal"),
                             ("confidential", "Confidential")],
                    max_length=12, unique=True)),
                ("media_days", models.PositiveIntegerField(
                    blank=True, null=True,
                    help_text="Days after the job finished that its media are kept; empty: for "
                              "ever. A file shared with a job still keeping it stays.")),
                ("results_days", models.PositiveIntegerField(
                    blank=True, null=True,
                    help_text="Days after the job finished that its results are kept; empty: "
                              "for ever.")),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={"verbose_name": "retention policy",
                     "verbose_name_plural": "retention policies",
                     "ordering": ["confidentiality"]},
        ),
        migrations.CreateModel(
            name="LegalHold",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                                           verbose_name="ID")),
                ("reason", models.CharField(
                    help_text="Why, e.g. the case or request it serves.", max_length=300)),
                ("placed_at", models.DateTimeField(auto_now_add=True)),
                ("job", models.OneToOneField(on_delete=django.db.models.deletion.CASCADE,
                                             related_name="legal_hold", to="jobs.job")),
                ("placed_by", models.ForeignKey(blank=True, null=True,
                                                on_delete=django.db.models.deletion.SET_NULL,
                                                related_name="+",
                                                to=settings.AUTH_USER_MODEL)),
            ],
            options={"ordering": ["-placed_at"]},
        ),
        migrations.RunPython(default_policies, migrations.RunPython.noop),
    ]
