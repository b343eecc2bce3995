# The history of a study's translations (studies.builder_translations writes them from
# the builder's translation page): what participants read in their language.
import django.db.models.deletion
import django.utils.timezone
import simple_history.models
from django.conf import settings
from django.db import migrations, models

import studyapp.studies.models


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0006_historical_study_status_pilot_paused"),
        ("studies", "0021_dispositionscale_owner"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="HistoricalStudyTranslation",
            fields=[
                (
                    "id",
                    models.BigIntegerField(
                        auto_created=True, blank=True, db_index=True, verbose_name="ID"
                    ),
                ),
                ("created_at", models.DateTimeField(blank=True, editable=False)),
                (
                    "language",
                    models.CharField(
                        choices=studyapp.studies.models.translation_language_choices, max_length=10
                    ),
                ),
                (
                    "method",
                    models.CharField(
                        choices=[
                            ("professional", "Professional translator"),
                            ("bilingual_team", "Bilingual member of the study team"),
                            ("machine_reviewed", "Machine translation, reviewed by a person"),
                            ("machine", "Machine translation, not reviewed"),
                        ],
                        max_length=20,
                    ),
                ),
                (
                    "translated_by",
                    models.CharField(
                        help_text="Who translated it: a person, an agency or a service.",
                        max_length=200,
                    ),
                ),
                (
                    "reviewed_by",
                    models.CharField(
                        blank=True,
                        help_text="Who checked it against the source, if anyone.",
                        max_length=200,
                    ),
                ),
                ("translated_on", models.DateField(default=django.utils.timezone.localdate)),
                (
                    "notes",
                    models.TextField(
                        blank=True, help_text="E.g. back-translation, what was adapted."
                    ),
                ),
                ("source_digest", models.CharField(editable=False, max_length=64)),
                ("public_title", models.CharField(max_length=200)),
                ("consent_text", models.TextField()),
                ("instructions_text", models.TextField()),
                ("disposition_question", models.CharField(max_length=300)),
                ("conditions_question", models.CharField(max_length=300)),
                ("screening_question", models.CharField(blank=True, max_length=300)),
                (
                    "screening_labels",
                    models.JSONField(
                        blank=True, default=dict, help_text='{"<option value>": "<label>", ...}'
                    ),
                ),
                ("check_question", models.TextField(blank=True)),
                (
                    "check_labels",
                    models.JSONField(
                        blank=True,
                        default=dict,
                        help_text='{"<option as in the source>": "<label>", ...}',
                    ),
                ),
                (
                    "levels",
                    models.JSONField(
                        blank=True,
                        default=dict,
                        help_text='{"<level code>": {"label": "...", "description": "..."}, ...}',
                    ),
                ),
                (
                    "arms",
                    models.JSONField(
                        blank=True,
                        default=dict,
                        help_text='{"<arm key>": {"participant_label": "...", "control_instructions": "..."}, ...}',
                    ),
                ),
                ("history_id", models.AutoField(primary_key=True, serialize=False)),
                ("history_date", models.DateTimeField(db_index=True)),
                ("history_change_reason", models.CharField(max_length=100, null=True)),
                (
                    "history_type",
                    models.CharField(
                        choices=[("+", "Created"), ("~", "Changed"), ("-", "Deleted")],
                        max_length=1,
                    ),
                ),
                (
                    "history_user",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "study",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="studies.study",
                    ),
                ),
            ],
            options={
                "verbose_name": "historical study translation",
                "verbose_name_plural": "historical study translations",
                "ordering": ("-history_date", "-history_id"),
                "get_latest_by": ("history_date", "history_id"),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
    ]
