"""The launch page (studies.views_launch): the checklist in the investigator UI, "Start
pilot" and "Launch" only when nothing is wrong, the POST checking again, and only owners
and collaborators let in."""

from __future__ import annotations

import pytest
from django.urls import reverse

from studyapp.audit.models import AuditEntry
from studyapp.studies.models import Study
from tests.factories import make_member, make_user
from tests.studies.test_launch import closed_port_url, ready_study

pytestmark = pytest.mark.django_db


def url(study: Study) -> str:
    return reverse("studies:launch", args=[study.slug])


def signed_in(client, study: Study, role: str = "owner"):
    user = make_user(f"{role}-{study.slug}")
    make_member(study, user, role)
    client.force_login(user)
    return user


def test_a_dead_endpoint_is_listed_with_where_to_fix_it_and_no_launch_button(client):
    study = ready_study(closed_port_url())
    signed_in(client, study)
    response = client.get(url(study))
    assert response.status_code == 200
    page = response.content.decode()
    [problem] = response.context["problems"]
    assert problem.code == "endpoint_unreachable"
    assert 'data-problem="endpoint_unreachable"' in page
    assert "“ready-model”" in page and "did not answer" in page
    assert f'href="{problem.url}"' in page  # where to fix it
    assert 'id="launch-submit"' not in page and 'id="start-pilot"' not in page


def test_a_ready_draft_offers_start_pilot_and_launch(client, scripted):
    study = ready_study(scripted.base_url)
    signed_in(client, study)
    page = client.get(url(study)).content.decode()
    assert 'id="launch-ready"' in page
    assert ">Launch</button>" in page and ">Start pilot</button>" in page
    # The endpoint was really asked for a streamed reply by the GET.
    assert [r["stream"] for r in scripted.requests()] == [True]


def test_launch_sets_the_study_live_and_records_who(client, scripted):
    study = ready_study(scripted.base_url)
    user = signed_in(client, study, "collaborator")
    response = client.post(url(study), {"action": "launch"})
    assert response.status_code == 302
    assert response["Location"] == reverse("analysis:study_detail", args=[study.slug])
    study.refresh_from_db()
    assert study.status == Study.Status.LIVE
    entry = AuditEntry.objects.filter(study=study, action="launch").get()
    assert entry.actor_id == user.pk


def test_the_post_checks_again_and_refuses_when_the_endpoint_died_since(client, scripted):
    study = ready_study(scripted.base_url)
    signed_in(client, study)
    assert 'id="launch-submit"' in client.get(url(study)).content.decode()
    scripted.configure(fail_status=503)  # the server fails between the GET and the POST
    response = client.post(url(study), {"action": "launch"})
    assert response.status_code == 400
    assert [p.code for p in response.context["problems"]] == ["endpoint_unreachable"]
    assert "HTTP 503" in response.content.decode()
    study.refresh_from_db()
    assert study.status == Study.Status.DRAFT


def test_start_pilot_runs_the_checklist_too(client):
    study = ready_study(closed_port_url())
    signed_in(client, study)
    response = client.post(url(study), {"action": "pilot"})
    assert response.status_code == 400
    study.refresh_from_db()
    assert study.status == Study.Status.DRAFT


def test_start_pilot_then_launch_asks_what_to_do_with_the_pilot_data(client, scripted):
    study = ready_study(scripted.base_url)
    user = signed_in(client, study)
    assert client.post(url(study), {"action": "pilot"}).status_code == 302
    study.refresh_from_db()
    assert study.status == Study.Status.PILOT
    assert AuditEntry.objects.filter(study=study, action="pilot_start", actor=user).exists()
    detail = client.get(reverse("analysis:study_detail", args=[study.slug])).content.decode()
    assert 'id="pilot-notice"' in detail and 'id="launch-link"' in detail

    page = client.get(url(study)).content.decode()
    assert 'name="pilot_data" value="keep"' in page and 'name="pilot_data" value="clear"' in page
    assert 'id="start-pilot"' not in page
    # No choice: refused, the message beside the choice.
    response = client.post(url(study), {"action": "launch"})
    assert response.status_code == 400
    assert 'id="pilot-data-error"' in response.content.decode()
    study.refresh_from_db()
    assert study.status == Study.Status.PILOT

    assert client.post(url(study), {"action": "launch", "pilot_data": "keep"}).status_code == 302
    study.refresh_from_db()
    assert study.status == Study.Status.LIVE
    entry = AuditEntry.objects.get(study=study, action="pilot_keep")
    assert entry.detail["pilot_data"] == "keep" and entry.detail["participants"] == 0


def test_a_live_study_has_nothing_to_launch(client, scripted):
    study = ready_study(scripted.base_url)
    Study.objects.filter(pk=study.pk).update(status=Study.Status.LIVE)
    signed_in(client, study)
    page = client.get(url(study)).content.decode()
    assert 'id="launch-nothing"' in page and 'id="launch-submit"' not in page
    assert scripted.requests() == []  # nothing probed for nothing
    response = client.post(url(study), {"action": "launch"})
    assert response.status_code == 400


def test_htmx_check_again_swaps_the_checklist_alone(client, scripted):
    study = ready_study(scripted.base_url)
    signed_in(client, study)
    response = client.get(url(study), headers={"HX-Request": "true"})
    page = response.content.decode()
    assert page.lstrip().startswith('<section class="card narrow" id="launch-checklist"')


@pytest.mark.parametrize("role", ["analyst", "blinded_analyst", "auditor"])
def test_members_who_do_not_run_the_study_may_not_launch(client, role):
    study = ready_study(closed_port_url())
    signed_in(client, study, role)
    assert client.get(url(study)).status_code in (403, 404)
    assert client.post(url(study), {"action": "launch"}).status_code in (403, 404)
    study.refresh_from_db()
    assert study.status == Study.Status.DRAFT


def test_strangers_get_404_and_anonymous_visitors_sign_in(client):
    study = ready_study(closed_port_url())
    client.force_login(make_user("stranger"))
    assert client.post(url(study), {"action": "launch"}).status_code == 404
    client.logout()
    response = client.get(url(study))
    assert response.status_code == 302 and "login" in response["Location"]
