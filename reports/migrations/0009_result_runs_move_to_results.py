"""Result runs and their cells now belong to the `results` app (results 0001).

State only: the tables stay as they are, with every row. Reports keep pointing at the same run
rows; the content types of the two models follow them to their new app, so admin history and
permissions stay attached.
"""

import django.db.models.deletion
from django.db import migrations, models

MOVED = ("resultrun", "domainresult")


def _move_content_types(apps, source: str, target: str) -> None:
    """Give each moved model's content type the target app label. If one exists under the
    target label already (post_migrate ran for that app on its own), the source's permissions
    and admin history join it and the source row goes, so nothing is left stale."""
    content_type = apps.get_model("contenttypes", "ContentType")
    permission = apps.get_model("auth", "Permission")
    log_entry = apps.get_model("admin", "LogEntry")
    for model in MOVED:
        old = content_type.objects.filter(app_label=source, model=model).first()
        if old is None:
            continue
        new = content_type.objects.filter(app_label=target, model=model).first()
        if new is None:
            old.app_label = target
            old.save(update_fields=["app_label"])
            continue
        taken = set(permission.objects.filter(content_type=new).values_list("codename", flat=True))
        permission.objects.filter(content_type=old, codename__in=taken).delete()
        permission.objects.filter(content_type=old).update(content_type=new)
        log_entry.objects.filter(content_type=old).update(content_type=new)
        old.delete()


def content_types_follow(apps, schema_editor):
    _move_content_types(apps, "reports", "results")


def content_types_return(apps, schema_editor):
    _move_content_types(apps, "results", "reports")


class Migration(migrations.Migration):
    dependencies = [
        ("admin", "0003_logentry_add_action_flag_choices"),
        ("auth", "0012_alter_user_first_name_max_length"),
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
