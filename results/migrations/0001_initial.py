"""Result runs and their cells move here from `reports`, in Django's state only.

Their tables keep their names (reports_resultrun, reports_domainresult), so an existing database
keeps every row and nothing is written to it: the tables were made by reports' migrations
0001-0008, which this one follows. reports 0009 then drops the models from its own state.
"""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('accounts', '0001_initial'),
        ('assessments', '0007_queued_at'),
        ('reports', '0008_queued_at'),
    ]

    state_operations = [
        migrations.CreateModel(
            name='ResultRun',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('status', models.CharField(choices=[('pending', 'Pending'), ('running', 'Running'), ('done', 'Done'), ('failed', 'Failed')], default='pending', max_length=16)),
                ('is_current', models.BooleanField(default=False)),
                ('attempts', models.PositiveSmallIntegerField(default=0)),
                ('error', models.TextField(blank=True)),
                ('response_count', models.PositiveIntegerField(blank=True, null=True)),
                ('queued_at', models.DateTimeField(blank=True, editable=False, null=True)),
                ('breakdowns', models.JSONField(blank=True, default=dict)),
                ('duration_ms', models.PositiveIntegerField(blank=True, null=True)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                ('started_at', models.DateTimeField(blank=True, null=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('campaign', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='result_runs', to='assessments.campaign')),
                ('organization', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.organization')),
            ],
            options={
                'db_table': 'reports_resultrun',
                'ordering': ['-created_at'],
            },
        ),
        migrations.CreateModel(
            name='DomainResult',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('domain_code', models.SlugField(max_length=80)),
                ('breakdown_attribute', models.CharField(blank=True, default='', max_length=60)),
                ('breakdown_value', models.CharField(blank=True, default='', max_length=100)),
                ('suppressed', models.BooleanField()),
                ('n', models.PositiveIntegerField(blank=True, null=True)),
                ('mean', models.FloatField(blank=True, null=True)),
                ('sd', models.FloatField(blank=True, null=True)),
                ('share_high_risk', models.FloatField(blank=True, null=True)),
                ('risk_score', models.FloatField(blank=True, null=True)),
                ('band', models.CharField(blank=True, choices=[('urgent', 'Urgent action'), ('improve', 'Improvement needed'), ('good', 'Good, room to improve'), ('well', 'Doing well')], max_length=16, null=True)),
                ('trend_diff', models.FloatField(blank=True, null=True)),
                ('trend_ci_low', models.FloatField(blank=True, null=True)),
                ('trend_ci_high', models.FloatField(blank=True, null=True)),
                ('trend_significant', models.BooleanField(blank=True, null=True)),
                ('band_counts', models.JSONField(blank=True, null=True)),
                ('department', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='accounts.department')),
                ('run', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='rows', to='results.resultrun')),
            ],
            options={
                'db_table': 'reports_domainresult',
            },
        ),
        migrations.AddConstraint(
            model_name='resultrun',
            constraint=models.UniqueConstraint(condition=models.Q(('is_current', True)), fields=('campaign',), name='one_current_run_per_campaign'),
        ),
        migrations.AddConstraint(
            model_name='resultrun',
            constraint=models.CheckConstraint(condition=models.Q(('is_current', False), ('status', 'done'), _connector='OR'), name='only_done_runs_are_current'),
        ),
        migrations.AddConstraint(
            model_name='resultrun',
            constraint=models.CheckConstraint(condition=models.Q(('status__in', ['pending', 'running', 'done', 'failed'])), name='result_run_status_valid'),
        ),
        migrations.AddConstraint(
            model_name='domainresult',
            constraint=models.UniqueConstraint(fields=('run', 'department', 'domain_code', 'breakdown_attribute', 'breakdown_value'), name='result_cell_unique'),
        ),
        migrations.AddConstraint(
            model_name='domainresult',
            constraint=models.UniqueConstraint(condition=models.Q(('department__isnull', True)), fields=('run', 'domain_code', 'breakdown_attribute', 'breakdown_value'), name='result_org_cell_unique'),
        ),
        migrations.AddConstraint(
            model_name='domainresult',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('suppressed', True), ('band__isnull', True), ('band_counts__isnull', True), ('mean__isnull', True), ('n__isnull', True), ('risk_score__isnull', True), ('sd__isnull', True), ('share_high_risk__isnull', True), ('trend_ci_high__isnull', True), ('trend_ci_low__isnull', True), ('trend_diff__isnull', True), ('trend_significant__isnull', True)), models.Q(('mean__isnull', False), ('n__isnull', False), ('suppressed', False)), models.Q(('domain_code', 'respondents'), ('n__isnull', False), ('suppressed', False)), _connector='OR'), name='suppressed_cell_has_no_figures'),
        ),
        migrations.AddConstraint(
            model_name='domainresult',
            constraint=models.CheckConstraint(condition=models.Q(('suppressed', True), ('n__gte', 3), _connector='OR'), name='published_cell_has_at_least_3'),
        ),
        migrations.AddConstraint(
            model_name='domainresult',
            constraint=models.CheckConstraint(condition=models.Q(('band__isnull', True), ('band__in', ['urgent', 'improve', 'good', 'well']), _connector='OR'), name='result_band_valid'),
        ),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=state_operations, database_operations=[])
    ]
