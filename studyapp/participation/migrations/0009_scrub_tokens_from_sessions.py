"""Sessions saved before link ids held whole participant tokens ("participant_tokens"):
rewrite them to hold link ids ("participant_links"), so the session table of a database
dump holds no working link either. A browser whose session is rewritten keeps its binding
(participation.access reads link ids). Only the database session backend is touched; the
backwards step has nothing to restore."""

from django.db import migrations

LEGACY_KEY = "participant_tokens"
KEY = "participant_links"


def scrub_sessions(apps, schema_editor):
    from django.contrib.sessions.backends.db import SessionStore

    try:
        Session = apps.get_model("sessions", "Session")
    except LookupError:
        return  # sessions are not kept in the database
    store = SessionStore()
    for session in Session.objects.filter(session_data__isnull=False).iterator(chunk_size=500):
        data = store.decode(session.session_data)  # {} when unreadable (another key)
        if LEGACY_KEY not in data:
            continue
        link_ids = [str(token).split(".", 1)[0] for token in data.pop(LEGACY_KEY)]
        data[KEY] = list(dict.fromkeys([*link_ids, *data.get(KEY, [])]))[-20:]
        Session.objects.filter(pk=session.pk).update(session_data=store.encode(data))


class Migration(migrations.Migration):
    dependencies = [
        ("participation", "0008_participant_drop_token"),
        ("sessions", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(scrub_sessions, migrations.RunPython.noop, elidable=True),
    ]
