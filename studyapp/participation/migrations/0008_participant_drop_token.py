from django.db import migrations, models

import studyapp.participation.tokens


class Migration(migrations.Migration):
    """Step 3 of 3: the link id is required and unique; the stored token goes."""

    dependencies = [
        ("participation", "0007_participant_link_id_from_token"),
    ]

    operations = [
        migrations.AlterField(
            model_name="participant",
            name="link_id",
            field=models.CharField(
                default=studyapp.participation.tokens.new_link_id,
                editable=False,
                max_length=64,
                unique=True,
            ),
        ),
        migrations.RemoveField(
            model_name="participant",
            name="token",
        ),
    ]
