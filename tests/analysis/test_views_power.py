"""The sample-size page: figures as analysis.power computes them, and the quota button."""

from __future__ import annotations

import logging

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from studyapp.analysis.power import sample_size
from studyapp.analysis.views_power import power_defaults
from studyapp.studies.models import Study
from tests.factories import make_control_arm, make_endpoint, make_llm_arm, make_member, make_study

# A 4-arm question as the form sends it (the page's own GET parameters).
FOUR_ARMS_EACH = {
    "p_control": "0.4",
    "effect": "p_llm",
    "odds_ratio": "",
    "p_llm": "0.55",
    "arms": "4",
    "arm_weights": "",
    "comparison": "each",
    "alpha": "0.05",
    "power": "0.9",
    "sidedness": "two-sided",
    "answers_per_participant": "2",
    "icc": "0.1",
}


@pytest.fixture
def study(alice) -> Study:
    """A draft study with HELPMed's shape: control and three LLM arms, two scenarios each."""
    study = make_study("beta", title="Beta study", status=Study.Status.DRAFT)
    make_member(study, alice)
    endpoint = make_endpoint()
    make_control_arm(study)
    for key in ("gpt", "llama", "command"):
        make_llm_arm(study, endpoint, key=key)
    return study


@pytest.fixture
def url(study):
    return reverse("analysis:power", args=[study.slug])


def figures(html: str, name: str) -> list[str]:
    """The cells of one column of the result table, as rendered."""
    marker = f'data-figure="{name}">'
    return [part.split("<", 1)[0] for part in html.split(marker)[1:]]


def test_the_url_name_is_power(study):
    assert reverse("analysis:power", args=["beta"]) == "/studies/beta/analysis/power/"


def test_defaults_come_from_the_study(study):
    defaults = power_defaults(study)
    assert defaults["arms"] == 4
    assert defaults["answers_per_participant"] == 2
    assert defaults["arm_weights"] == ""  # equal weights
    assert (defaults["p_control"], defaults["odds_ratio"], defaults["icc"]) == (0.5, 1.5, 0.05)
    assert (defaults["alpha"], defaults["power"]) == (0.05, 0.8)


def test_defaults_carry_unequal_weights_control_first(alice):
    study = make_study("gamma", scenarios_per_participant=3)
    endpoint = make_endpoint()
    make_llm_arm(study, endpoint, key="a", weight=1)
    make_control_arm(study, key="z", weight=2)
    defaults = power_defaults(study)
    assert defaults["arms"] == 2
    assert defaults["arm_weights"] == "2, 1"
    assert defaults["answers_per_participant"] == 3


def test_it_shows_the_default_question_answered_as_power_py_does(client, alice, url):
    client.force_login(alice)
    response = client.get(url)
    assert response.status_code == 200
    assert response.templates[0].name == "analysis/power.html"
    expected = sample_size(
        p_control=0.5, odds_ratio=1.5, arms=4, answers_per_participant=2, icc=0.05
    )
    result = response.context["result"]
    assert result == expected
    html = response.content.decode()
    assert figures(html, "answers-needed") == [str(a.answers_needed) for a in expected.arms]
    assert figures(html, "participants") == [str(a.participants) for a in expected.arms]
    assert figures(html, "answers") == [str(a.answers) for a in expected.arms]
    assert f'id="power-quota">{expected.quota_per_arm}<' in html
    assert f'id="power-total-participants">{expected.total_participants}<' in html
    assert "1 + (m-1)·ICC" in html
    assert "Write into the quotas" in html


def test_it_answers_the_question_asked(client, alice, url):
    client.force_login(alice)
    response = client.get(url, FOUR_ARMS_EACH)
    expected = sample_size(
        p_control=0.4,
        p_llm=0.55,
        arms=4,
        comparison="each",
        power=0.9,
        answers_per_participant=2,
        icc=0.1,
    )
    assert response.context["result"] == expected
    html = response.content.decode()
    assert figures(html, "participants") == [str(a.participants) for a in expected.arms]
    assert "each of the 3 LLM arms against control at alpha 0.0167 each" in html


def test_it_explains_a_question_without_an_answer(client, alice, url):
    client.force_login(alice)
    response = client.get(url, {**FOUR_ARMS_EACH, "p_llm": "0.4"})
    assert response.status_code == 200
    assert response.context["result"] is None
    html = response.content.decode()
    assert "The two proportions are identical" in html
    assert "Write into the quotas" not in html


def test_it_asks_for_the_effect_in_the_way_chosen(client, alice, url):
    client.force_login(alice)
    response = client.get(url, {**FOUR_ARMS_EACH, "p_llm": ""})
    assert response.context["result"] is None
    assert "Give the effect here" in response.content.decode()


def test_it_writes_the_quota_of_a_draft_study(client, alice, study, url, caplog):
    client.force_login(alice)
    caplog.set_level(logging.INFO, logger="studyapp.studies.quotas")
    response = client.post(url, FOUR_ARMS_EACH)
    expected = sample_size(
        p_control=0.4,
        p_llm=0.55,
        arms=4,
        comparison="each",
        power=0.9,
        answers_per_participant=2,
        icc=0.1,
    )
    assert response.status_code == 302
    assert response.url.startswith(url + "?")
    study.refresh_from_db()
    assert study.quota_per_arm == expected.quota_per_arm
    assert study.quota_per_arm % 2 == 0  # whole participants
    [message] = [str(m) for m in get_messages(response.wsgi_request)]
    assert (
        message
        == f"Quota per arm set to {expected.quota_per_arm} responses (was no quota) by alice."
    )
    [record] = [r for r in caplog.records if r.name == "studyapp.studies.quotas"]
    assert record.getMessage() == (
        f"quota_per_arm of study {study.pk} set from None to {expected.quota_per_arm} "
        f"by user {alice.pk} (power calculator)"
    )
    # The redirect shows the same question, and the message.
    page = client.get(response.url)
    assert page.context["result"] == expected
    assert "Quota per arm set to" in page.content.decode()


def test_it_recomputes_rather_than_trusting_posted_figures(client, alice, study, url):
    client.force_login(alice)
    client.post(url, {**FOUR_ARMS_EACH, "quota_per_arm": "3", "participants": "1"})
    study.refresh_from_db()
    assert (
        study.quota_per_arm
        == sample_size(
            p_control=0.4,
            p_llm=0.55,
            arms=4,
            comparison="each",
            power=0.9,
            answers_per_participant=2,
            icc=0.1,
        ).quota_per_arm
    )


@pytest.mark.parametrize("status", [Study.Status.LIVE, Study.Status.PAUSED, Study.Status.CLOSED])
def test_it_refuses_the_quota_of_a_study_that_is_not_a_draft(client, alice, study, url, status):
    Study.objects.filter(pk=study.pk).update(status=status, quota_per_arm=50)
    client.force_login(alice)
    page = client.get(url).content.decode()
    assert "Write into the quotas" not in page
    assert 'id="power-not-draft"' in page
    assert reverse("studies:allocation", args=[study.slug]) in page
    response = client.post(url, FOUR_ARMS_EACH)
    assert response.status_code == 302
    study.refresh_from_db()
    assert study.quota_per_arm == 50
    [message] = [str(m) for m in get_messages(response.wsgi_request)]
    assert "not a draft" in message
    assert "changed on its Allocation and quotas page" in message


def test_it_refuses_an_invalid_question_and_writes_nothing(client, alice, study, url):
    client.force_login(alice)
    response = client.post(url, {**FOUR_ARMS_EACH, "power": "1.2"})
    assert response.status_code == 400
    assert "The power must be between 0 and 1" in response.content.decode()
    study.refresh_from_db()
    assert study.quota_per_arm is None


def test_another_investigator_gets_404(client, bob, study, url):
    client.force_login(bob)
    assert client.get(url).status_code == 404
    assert client.post(url, FOUR_ARMS_EACH).status_code == 404
    study.refresh_from_db()
    assert study.quota_per_arm is None


def test_anonymous_is_sent_to_sign_in(client, study, url):
    for response in (client.get(url), client.post(url, FOUR_ARMS_EACH)):
        assert response.status_code == 302
        assert response.url.startswith(reverse("account_login") + "?next=")
    study.refresh_from_db()
    assert study.quota_per_arm is None


def test_the_quota_button_needs_the_csrf_token(alice, study, url):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post(url, FOUR_ARMS_EACH).status_code == 403
    study.refresh_from_db()
    assert study.quota_per_arm is None
    # The page's own form carries the token.
    assert 'name="csrfmiddlewaretoken"' in client.get(url).content.decode()
