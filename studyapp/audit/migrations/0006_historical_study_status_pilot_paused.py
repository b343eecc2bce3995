# The study's history keeps the paused pilot's status (studies 0022).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0005_historical_disposition_scales"),
    ]

    operations = [
        migrations.AlterField(
            model_name="historicalstudy",
            name="status",
            field=models.CharField(
                choices=[
                    ("draft", "Draft"),
                    ("pilot", "Pilot (enrolling)"),
                    ("live", "Live (enrolling)"),
                    ("paused", "Paused"),
                    ("pilot_paused", "Pilot (paused)"),
                    ("closed", "Closed"),
                ],
                default="draft",
                max_length=16,
            ),
        ),
    ]
