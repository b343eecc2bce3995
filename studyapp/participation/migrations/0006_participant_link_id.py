from django.db import migrations, models

import studyapp.participation.tokens


class Migration(migrations.Migration):
    """Participant links stop being stored (participation.tokens): step 1 of 3, a column
    for the link id (the random half of each link); the token may be NULL from here on,
    so that going back can re-add it empty and fill it before it is required again."""

    dependencies = [
        ("participation", "0005_answer_confidence_not_given"),
    ]

    operations = [
        migrations.AddField(
            model_name="participant",
            name="link_id",
            field=models.CharField(editable=False, max_length=64, null=True),
        ),
        migrations.AlterField(
            model_name="participant",
            name="token",
            field=models.CharField(
                default=studyapp.participation.tokens.new_participant_token,
                editable=False,
                max_length=128,
                null=True,
                unique=True,
            ),
        ),
    ]
