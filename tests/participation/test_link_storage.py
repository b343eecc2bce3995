"""Participant links are never stored: a dump of the database (participants and sessions)
yields no working link, while every link keeps working on any tab or device."""

from __future__ import annotations

import importlib

import pytest
from django.contrib.sessions.models import Session
from django.core.signing import Signer
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.urls import reverse

from studyapp.participation.access import (
    LEGACY_SESSION_KEY,
    SESSION_KEY,
    participant_get_by_token,
    session_bind_participant,
    session_holds_token,
    session_link_ids,
)
from studyapp.participation.models import Participant
from studyapp.participation.tokens import SALT, link_id_from_token, token_is_authentic
from tests.conftest import require
from tests.participation.conftest import enter


def dumped_strings() -> list[str]:
    """Every text value a dump of the participant and session tables would show."""
    values: list[str] = []
    for row in Participant.objects.values():
        values += [v for v in row.values() if isinstance(v, str) and v]
    for session in Session.objects.all():
        values.append(session.session_data)
        values += [str(v) for v in session.get_decoded().values()]
    return values


def test_a_database_dump_yields_no_working_link(consented):
    token = consented.token
    dump = dumped_strings()
    assert dump  # the rows are there
    assert not any(token in value for value in dump)
    for value in dump:
        for candidate in {value, *value.split(".")}:
            if 0 < len(candidate) <= 128 and "/" not in candidate:
                response = Client().get(reverse("participation:home", kwargs={"token": candidate}))
                assert response.status_code == 404


def test_the_session_holds_link_ids_not_tokens(consented):
    session = consented.client.session
    assert consented.token not in str(dict(session.items()))
    assert session[SESSION_KEY] == [consented.participant.link_id]
    assert session_holds_token(session, consented.token)


def test_the_link_is_rebuilt_from_the_row_and_works_in_a_new_browser(consented):
    again = Participant.objects.get(pk=consented.participant.pk)  # a fresh instance
    assert again.token == consented.token
    fresh = Client()
    response = fresh.get(reverse("participation:home", kwargs={"token": again.token}))
    assert response.status_code == 200
    assert session_holds_token(fresh.session, again.token)


def test_a_link_signed_with_a_retired_key_still_works(consented, settings):
    old_token = consented.token
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-secret-key-for-rotation-" * 2
    assert participant_get_by_token(old_token).pk == consented.participant.pk
    new_token = Participant.objects.get(pk=consented.participant.pk).token
    assert new_token != old_token and token_is_authentic(new_token)
    response = Client().get(reverse("participation:home", kwargs={"token": old_token}))
    assert response.status_code == 200


def test_a_session_from_before_link_ids_keeps_working_and_loses_its_token(consented):
    session = consented.client.session
    session[LEGACY_SESSION_KEY] = [consented.token]
    del session[SESSION_KEY]
    session.save()
    assert session_holds_token(session, consented.token)
    assert session_link_ids(session) == [consented.participant.link_id]
    session_bind_participant(session, consented.participant)
    assert LEGACY_SESSION_KEY not in session
    assert session[SESSION_KEY] == [consented.participant.link_id]


def test_a_forged_signature_on_a_real_link_id_is_refused(consented):
    link_id = consented.participant.link_id
    forged = Signer(key="not-the-servers-key-" * 3, salt=SALT, sep=".").sign(link_id)
    assert link_id_from_token(forged) is None
    response = Client().get(reverse("participation:home", kwargs={"token": forged}))
    assert response.status_code == 404


@pytest.mark.django_db(transaction=True)
def test_the_migration_keeps_every_link_already_sent_out_working(control_study):
    require(connection.vendor in ("postgresql", "sqlite"), "needs a migratable database")
    before = [("participation", "0005_answer_confidence_not_given")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        apps = executor.loader.project_state(before).apps
        OldParticipant = apps.get_model("participation", "Participant")
        token = Signer(salt=SALT, sep=".").sign("r" * 43)
        OldParticipant.objects.create(study_id=control_study.pk, token=token)
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        # Up to the latest migrations: the current model reads the participant below.
        executor.migrate(executor.loader.graph.leaf_nodes())
        participant = participant_get_by_token(token)
        assert participant.link_id == "r" * 43
        assert participant.token == token  # the server redirects to the very same link
        assert not any(token in value for value in dumped_strings())
        # And back: the token is signed again from the link id.
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(before)
        apps = executor.loader.project_state(before).apps
        restored = apps.get_model("participation", "Participant").objects.get()
        assert restored.token == token
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())


def test_entry_redirects_to_the_signed_link(control_study, client):
    flow = enter(client, control_study)
    assert token_is_authentic(flow.token)
    assert Participant.objects.filter(link_id=link_id_from_token(flow.token)).exists()


def test_sessions_saved_before_link_ids_are_scrubbed_by_the_migration(consented):
    from django.apps import apps
    from django.contrib.sessions.backends.db import SessionStore

    scrub = importlib.import_module(
        "studyapp.participation.migrations.0009_scrub_tokens_from_sessions"
    ).scrub_sessions
    legacy = SessionStore()
    legacy[LEGACY_SESSION_KEY] = [consented.token]
    legacy["other"] = "kept"
    legacy.create()
    scrub(apps, None)
    stored = Session.objects.get(pk=legacy.session_key)
    assert consented.token not in str(stored.get_decoded())
    reloaded = SessionStore(session_key=legacy.session_key)
    assert reloaded[SESSION_KEY] == [consented.participant.link_id]
    assert reloaded["other"] == "kept"
    assert session_holds_token(reloaded, consented.token)
