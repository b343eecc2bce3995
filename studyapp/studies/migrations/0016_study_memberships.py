"""Roles per study (studies.roles): StudyMembership replaces Study.investigators, and
every investigator becomes an owner of their study (the rights they had: everything)."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


def investigators_become_owners(apps, schema_editor):
    Study = apps.get_model("studies", "Study")
    Membership = apps.get_model("studies", "StudyMembership")
    through = Study.investigators.through
    rows = through.objects.values_list("study_id", "user_id").order_by("study_id", "user_id")
    Membership.objects.bulk_create(
        Membership(study_id=study_id, user_id=user_id, role="owner")
        for study_id, user_id in rows
    )


def owners_become_investigators(apps, schema_editor):
    Study = apps.get_model("studies", "Study")
    Membership = apps.get_model("studies", "StudyMembership")
    through = Study.investigators.through
    # Every role had been an investigator's rights or less: each member gets them back.
    through.objects.bulk_create(
        through(study_id=study_id, user_id=user_id)
        for study_id, user_id in Membership.objects.values_list("study_id", "user_id")
    )


class Migration(migrations.Migration):

    dependencies = [
        ('studies', '0015_analysis_plan'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='StudyMembership',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('role', models.CharField(choices=[('owner', 'Owner'), ('collaborator', 'Collaborator'), ('analyst', 'Analyst'), ('blinded_analyst', 'Blinded analyst'), ('auditor', 'Auditor')], max_length=20)),
                ('granted_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('granted_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('study', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='memberships', to='studies.study')),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='study_memberships', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['study', 'user'],
                'constraints': [models.UniqueConstraint(fields=('study', 'user'), name='membership_one_per_user'), models.CheckConstraint(condition=models.Q(('role__in', ['owner', 'collaborator', 'analyst', 'blinded_analyst', 'auditor'])), name='membership_role_known')],
            },
        ),
        migrations.RunPython(investigators_become_owners, owners_become_investigators),
        migrations.RemoveField(
            model_name='study',
            name='investigators',
        ),
    ]
