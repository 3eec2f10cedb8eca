"""Give campaigns that are scheduled or open their frozen population now.

Their invitations already hold each person's department at launch; the tree is frozen as it is
at this migration, and each invitation takes its employee's attributes as they are now. Closed
campaigns are frozen when they are first scored, or refuse a rescoring if they already have
results (see reports.services).
"""

from django.db import migrations


def freeze(apps, schema_editor):
    Campaign = apps.get_model("assessments", "Campaign")
    CampaignDepartment = apps.get_model("assessments", "CampaignDepartment")
    Department = apps.get_model("accounts", "Department")
    Invitation = apps.get_model("assessments", "Invitation")
    for campaign in Campaign.objects.filter(status__in=["scheduled", "open"]):
        if CampaignDepartment.objects.filter(campaign=campaign).exists():
            continue
        tree = {
            pk: (parent, path)
            for pk, parent, path in Department.objects.filter(
                organization_id=campaign.organization_id
            ).values_list("pk", "parent_id", "path")
        }
        targets = [tree[d.pk][1] for d in campaign.target_departments.all()]
        chosen = {pk for pk, (_, path) in tree.items() if any(path.startswith(t) for t in targets)}
        chosen |= set(
            Invitation.objects.filter(campaign=campaign).values_list("department_id", flat=True)
        )
        for pk in list(chosen):
            chosen |= {int(part) for part in tree[pk][1].strip("/").split("/") if part}
        CampaignDepartment.objects.bulk_create(
            CampaignDepartment(campaign=campaign, department_id=pk, parent_id=tree[pk][0])
            for pk in sorted(chosen)
        )
        used = list(campaign.attributes_used or [])
        invitations = list(Invitation.objects.filter(campaign=campaign).select_related("employee"))
        for invitation in invitations:
            stored = invitation.employee.attributes or {}
            invitation.attributes = {name: stored[name] for name in used if name in stored}
        Invitation.objects.bulk_update(invitations, ["attributes"], batch_size=1000)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("assessments", "0005_frozen_population"),
    ]

    operations = [migrations.RunPython(freeze, migrations.RunPython.noop)]
