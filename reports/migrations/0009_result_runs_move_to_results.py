"""Result runs and their cells now belong to the `results` app (results 0001).

State only: the tables stay as they are, with every row. Reports keep pointing at the same run
rows; the content types of the two models follow them to their new app, so admin history and
permissions stay attached.
"""

import django.db.models.deletion
from django.db import migrations, models

MOVED = ("resultrun", "domainresult")


def content_types_follow(apps, schema_editor):
    content_type = apps.get_model("contenttypes", "ContentType")
    for model in MOVED:
        if content_type.objects.filter(app_label="results", model=model).exists():
            continue
        content_type.objects.filter(app_label="reports", model=model).update(app_label="results")


def content_types_return(apps, schema_editor):
    content_type = apps.get_model("contenttypes", "ContentType")
    for model in MOVED:
        if content_type.objects.filter(app_label="reports", model=model).exists():
            continue
        content_type.objects.filter(app_label="results", model=model).update(app_label="reports")


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("reports", "0008_queued_at"),
        ("results", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="report",
                    name="result_run",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="reports",
                        to="results.resultrun",
                    ),
                ),
                migrations.DeleteModel(name="DomainResult"),
                migrations.DeleteModel(name="ResultRun"),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_types_follow, content_types_return),
    ]
