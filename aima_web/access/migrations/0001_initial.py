from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies: list[tuple[str, str]] = []

    operations = [
        migrations.CreateModel(
            name="Capabilities",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                                           verbose_name="ID")),
            ],
            options={
                "permissions": [
                    ("view_jobs", "See own and team jobs, their results and reports"),
                    ("view_gpus", "List GPUs without identifying details"),
                    ("submit_jobs", "Submit jobs"),
                    ("cancel_own_jobs", "Cancel own jobs"),
                    ("explain_placement", "Ask placement where a job would run"),
                    ("view_policy", "Read the placement policy"),
                    ("view_all_jobs", "See every job, its media and results"),
                    ("cancel_any_job", "Cancel anyone's job"),
                    ("view_gpu_details", "See GPUs' UUIDs, hosts, agents and telemetry"),
                    ("operate_gpus", "Drain and resume GPUs, change their schedule and location"),
                    ("view_cloud", "See cloud instances, offers and providers"),
                    ("view_models", "Read the model registry"),
                    ("change_policy", "Change the placement policy"),
                    ("manage_gpus", "Register, edit, restrict and retire GPUs"),
                    ("manage_cloud", "Terminate instances, delete offers"),
                    ("manage_models", "Activate, roll back and edit models"),
                    ("manage_enrollment", "Create and revoke enrollment tokens, remove agents"),
                    ("manage_data", "Delete jobs and media in the admin"),
                    ("view_audit", "Read the audit trail"),
                ],
                "managed": False,
                "default_permissions": (),
            },
        ),
    ]
