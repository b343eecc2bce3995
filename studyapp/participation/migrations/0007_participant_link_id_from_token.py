"""Step 2 of 3: every participant's link id is the random half of the token in the links
already sent out, so each of those links keeps working, unchanged (the server re-signs
the id with the same key). Reversible: the token is the id signed again."""

from django.core.signing import Signer
from django.db import migrations

SALT = "studyapp.participation.link"  # participation.tokens.SALT, frozen here
CHUNK = 1000


def link_ids_from_tokens(apps, schema_editor):
    Participant = apps.get_model("participation", "Participant")
    rows = Participant.objects.filter(link_id__isnull=True).only("pk", "token").order_by("pk")
    batch = []
    for participant in rows.iterator(chunk_size=CHUNK):
        # Signed since 0003: "<id>.<signature>"; the id is at most 64 characters there.
        participant.link_id = participant.token.split(".", 1)[0]
        batch.append(participant)
        if len(batch) >= CHUNK:
            Participant.objects.bulk_update(batch, ["link_id"])
            batch = []
    Participant.objects.bulk_update(batch, ["link_id"])


def tokens_from_link_ids(apps, schema_editor):
    Participant = apps.get_model("participation", "Participant")
    signer = Signer(salt=SALT, sep=".")
    batch = []
    for participant in Participant.objects.only("pk", "link_id").iterator(chunk_size=CHUNK):
        participant.token = signer.sign(participant.link_id)
        batch.append(participant)
        if len(batch) >= CHUNK:
            Participant.objects.bulk_update(batch, ["token"])
            batch = []
    Participant.objects.bulk_update(batch, ["token"])


class Migration(migrations.Migration):
    dependencies = [
        ("participation", "0006_participant_link_id"),
    ]

    operations = [
        migrations.RunPython(link_ids_from_tokens, tokens_from_link_ids, elidable=False),
    ]
