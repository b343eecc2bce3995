# A pilot can be paused (studies.pausing): its own status, so resuming returns to the pilot.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("studies", "0021_dispositionscale_owner"),
    ]

    operations = [
        migrations.AlterField(
            model_name="study",
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
