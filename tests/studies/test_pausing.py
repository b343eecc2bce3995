"""Pausing and resuming from the study page (studies.pausing, studies.views_status): a
confirmation first, a POST to change, an audit entry for each change, refusals that
change nothing."""

from __future__ import annotations

import pytest
from django.urls import reverse

from studyapp.audit.models import AuditEntry
from studyapp.studies.models import Study
from studyapp.studies.pausing import PauseRefusedError, study_pause, study_resume
from tests.factories import make_study, make_user


@pytest.fixture
def root(db):
    return make_user("root", superuser=True)


@pytest.fixture
def study(db):
    return make_study("running")


def entries(study: Study, action: str):
    return AuditEntry.objects.filter(study_id=study.pk, action=action)


def test_the_study_page_offers_pause_when_live_and_resume_when_paused(client, root, study):
    client.force_login(root)
    url = reverse("analysis:study_detail", args=[study.slug])
    html = client.get(url).content.decode()
    assert 'id="pause-link"' in html and 'id="resume-link"' not in html
    Study.objects.filter(pk=study.pk).update(status=Study.Status.PAUSED)
    html = client.get(url).content.decode()
    assert 'id="resume-link"' in html and 'id="paused-notice"' in html


def test_get_asks_to_confirm_and_changes_nothing(client, root, study):
    client.force_login(root)
    response = client.get(reverse("studies:pause", args=[study.slug]))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="confirm-pause"' in html and "Participants already inside carry on" in html
    study.refresh_from_db()
    assert study.status == Study.Status.LIVE
    assert not entries(study, "pause").exists()


def test_post_pauses_and_records_it(client, root, study):
    client.force_login(root)
    response = client.post(reverse("studies:pause", args=[study.slug]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("analysis:study_detail", args=[study.slug])
    assert "Study paused: new participants are held at the link." in response.content.decode()
    study.refresh_from_db()
    assert study.status == Study.Status.PAUSED
    [entry] = entries(study, "pause")
    assert (entry.actor_label, entry.before, entry.after) == (
        "root",
        {"status": "live"},
        {"status": "paused"},
    )


def test_post_resumes_and_records_it(client, root, study):
    study_pause(study_id=study.pk, user=root)
    client.force_login(root)
    client.post(reverse("studies:resume", args=[study.slug]))
    study.refresh_from_db()
    assert study.status == Study.Status.LIVE
    [entry] = entries(study, "resume")
    assert entry.after == {"status": "live"}


@pytest.mark.parametrize("status", [Study.Status.DRAFT, Study.Status.CLOSED, Study.Status.PAUSED])
def test_only_a_live_study_can_be_paused(root, status):
    study = make_study(f"s-{status}", status=status)
    with pytest.raises(PauseRefusedError):
        study_pause(study_id=study.pk, user=root)
    study.refresh_from_db()
    assert study.status == status and not entries(study, "pause").exists()


def test_only_a_paused_study_can_be_resumed(client, root, study):
    with pytest.raises(PauseRefusedError):
        study_resume(study_id=study.pk, user=root)
    client.force_login(root)
    response = client.post(reverse("studies:resume", args=[study.slug]), follow=True)
    assert "nothing was changed" in response.content.decode()
    assert not entries(study, "resume").exists()


def test_someone_not_on_the_study_gets_404_and_changes_nothing(client, study):
    client.force_login(make_user("charlie"))
    assert client.get(reverse("studies:pause", args=[study.slug])).status_code == 404
    assert client.post(reverse("studies:pause", args=[study.slug])).status_code == 404
    study.refresh_from_db()
    assert study.status == Study.Status.LIVE


def test_anonymous_visitors_are_sent_to_sign_in(client, study):
    response = client.post(reverse("studies:pause", args=[study.slug]))
    assert response.status_code == 302 and "login" in response["Location"]
    study.refresh_from_db()
    assert study.status == Study.Status.LIVE
