from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from studyapp.analysis import services
from studyapp.analysis.models import ConversationScore
from studyapp.participation.models import Participant
from tests.analysis.scored import ARM_SECRETS, add_scored_participants
from tests.factories import make_member, make_study, make_user


@pytest.fixture
def url(scored):
    return reverse("analysis:dashboard", args=[scored.study.slug])


def summary(response, key):
    return next(s for s in response.context["dashboard"].summaries if s.arm.key == key)


def figure(html: str, figure_id: str) -> dict:
    match = re.search(
        rf'<script id="{figure_id}" type="application/json">(.*?)</script>', html, re.S
    )
    assert match, figure_id
    return json.loads(match.group(1))


def test_it_shows_the_known_figures_to_the_studys_investigator(client, alice, scored, url):
    client.force_login(alice)
    response = client.get(url)
    assert response.status_code == 200
    llm, control = summary(response, "gptarmzq"), summary(response, "ctlarmzq")
    assert (llm.participants, llm.answers) == (2, 3)
    assert (llm.disposition.successes, llm.disposition.n) == (1, 3)
    assert (llm.over.successes, llm.under.successes) == (1, 1)
    assert (llm.conditions.successes, llm.conditions.n) == (2, 3)
    assert llm.disposition.ci_low < 1 / 3 < llm.disposition.ci_high
    assert (control.participants, control.answers) == (2, 2)
    assert control.disposition.value == 1.0
    assert control.conditions.value == 0.5
    assert llm.mean_confidence == 60
    # The control arm is the reference: the LLM arm is compared with it.
    assert response.context["dashboard"].reference.key == "ctlarmzq"
    assert llm.disposition_vs_reference.p is not None
    assert control.disposition_vs_reference is None


def test_it_renders_the_table_and_every_figure(client, alice, scored, url):
    client.force_login(alice)
    html = client.get(url).content.decode()
    assert "33.3%" in html  # LLM arm disposition 1/3
    assert "66.7%" in html  # LLM arm conditions 2/3
    assert "model-secret-zq" in html  # not blinded: the model is shown
    for figure_id in (
        "fig-accuracy",
        "fig-heatmap-disposition",
        "fig-heatmap-conditions",
        "fig-confusion",
        "fig-triage",
        "fig-mentions",
    ):
        assert f'data-plotly="{figure_id}"' in html
        assert figure(html, figure_id)["data"], figure_id
    accuracy = figure(html, "fig-accuracy")
    # Arms by key: ctlarmzq, gptarmzq.
    assert accuracy["data"][0]["x"] == ["ctlarmzq", "gptarmzq"]
    assert accuracy["data"][0]["y"] == [100.0, pytest.approx(33.33, abs=0.01)]
    heatmap = figure(html, "fig-heatmap-disposition")["data"][0]
    assert heatmap["y"] == ["ctlarmzq", "gptarmzq"]
    assert heatmap["x"] == ["back", "belly"]
    assert heatmap["z"] == [[100.0, 100.0], [0.0, 50.0]]
    triage = figure(html, "fig-triage")["data"]
    assert [trace["name"] for trace in triage] == ["ctlarmzq", "gptarmzq"]
    assert triage[1]["customdata"][triage[1]["x"].index("+1 over")] == 1


def test_it_loads_the_vendored_plotly_and_no_cdn(client, alice, scored, url):
    client.force_login(alice)
    html = client.get(url).content.decode()
    assert '<script src="/static/vendor/plotly-4.1.1.min.js" defer></script>' in html
    assert "cdn" not in html.lower()
    assert "//" not in "".join(re.findall(r'<script src="([^"]*)"', html))


def test_the_study_page_links_to_the_dashboard(client, alice, scored, url):
    client.force_login(alice)
    detail = client.get(reverse("analysis:study_detail", args=["beta"])).content.decode()
    assert f'href="{url}"' in detail


def test_a_filter_request_from_htmx_gets_only_the_results(client, alice, scored, url):
    client.force_login(alice)
    response = client.get(url, {"completed_only": "1"}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="dashboard-results"')
    assert "<html" not in html
    assert "HX-Request" in response["Vary"]
    assert summary(response, "gptarmzq").answers == 2  # p2 did not complete
    assert summary(response, "gptarmzq").participants == 1


def test_the_filter_form_targets_the_results(client, alice, scored, url):
    client.force_login(alice)
    html = client.get(url).content.decode()
    assert f'hx-get="{url}"' in html
    assert 'hx-target="#dashboard-results"' in html
    assert 'hx-push-url="true"' in html


def test_the_date_range_filter_counts_participants_by_enrolment(client, alice, scored, url):
    old = timezone.now() - timedelta(days=10)
    Participant.objects.filter(pk=scored.p1.pk).update(created_at=old)
    client.force_login(alice)
    today = timezone.now().date().isoformat()
    response = client.get(url, {"date_from": today, "date_to": today})
    assert summary(response, "gptarmzq").answers == 1
    response = client.get(url, {"date_to": (old.date()).isoformat()})
    assert summary(response, "gptarmzq").answers == 2
    assert summary(response, "ctlarmzq").answers == 0


def test_a_reversed_date_range_is_reported_and_ignored(client, alice, scored, url):
    client.force_login(alice)
    response = client.get(url, {"date_from": "2030-01-02", "date_to": "2030-01-01"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "The end date is before the start date." in html
    assert 'value="2030-01-02"' in html  # a date input needs ISO dates, whatever the locale
    assert summary(response, "gptarmzq").answers == 0  # from 2030 on: nobody


def test_the_attention_filter_keeps_those_who_passed_the_check(client, alice, scored, url):
    Participant.objects.filter(pk=scored.p1.pk).update(check_passed_at=timezone.now())
    client.force_login(alice)
    response = client.get(url, {"attention_passed": "1"})
    assert summary(response, "gptarmzq").answers == 2
    assert summary(response, "ctlarmzq").answers == 0


def test_blinded_it_names_arms_by_letter_and_nothing_else(client, alice, scored, url):
    client.force_login(alice)
    unblinded = client.get(url)
    letters = {s.arm.key: s.arm.letter for s in unblinded.context["dashboard"].summaries}
    for response in (
        client.get(url, {"blinded": "1"}),
        client.get(url, {"blinded": "1"}, headers={"HX-Request": "true"}),
    ):
        html = response.content.decode()
        for secret in ARM_SECRETS:
            assert secret not in html
        names = [s.arm.name for s in response.context["dashboard"].summaries]
        assert names == sorted(letters.values())
        assert figure(html, "fig-accuracy")["data"][0]["x"] == names
        # The same letter means the same arm: its figures did not change.
        blinded_llm = next(
            s
            for s in response.context["dashboard"].summaries
            if s.arm.letter == letters["gptarmzq"]
        )
        assert (blinded_llm.disposition.successes, blinded_llm.answers) == (1, 3)
    full_page = client.get(url, {"blinded": "1"}).content.decode()
    assert 'name="blinded" value="1" checked' in full_page


def test_blinded_links_stay_blinded(client, alice, scored, url):
    client.force_login(alice)
    html = client.get(url, {"blinded": "1"}).content.decode()
    assert "/analysis/export/answers.csv?blinded=1" in html
    assert re.search(r'/studies/beta/tasks/\d+/\?blinded=1"', html)


def test_it_counts_chat_mentions_once_transcripts_are_scored(client, alice, scored, url):
    client.force_login(alice)
    before = client.get(url).context["dashboard"]
    assert before.transcripts_pending == 3
    assert before.mentions == []
    assert services.conversation_scores_refresh(study=scored.study) == (3, False)
    dashboard = client.get(url).context["dashboard"]
    assert dashboard.transcripts_pending == 0
    (llm,) = dashboard.mentions
    assert llm.arm.key == "gptarmzq"
    assert llm.tasks == 3
    assert (llm.model_named.successes, llm.participant_named.successes) == (2, 1)
    assert llm.answer_named.successes == 2
    assert (llm.omitted_after_model.successes, llm.omitted_after_model.n) == (1, 2)


def test_it_rescores_transcripts_of_an_older_scorer_version(scored):
    services.conversation_scores_refresh(study=scored.study)
    ConversationScore.objects.filter(model_named_any=True).update(scorer_version="old-0")
    assert services.conversation_scores_refresh(study=scored.study) == (2, False)
    assert set(ConversationScore.objects.values_list("scorer_version", flat=True)) == {
        services.SCORER_VERSION
    }


def test_pending_transcripts_are_handed_to_a_worker(
    client, alice, scored, url, monkeypatch, django_capture_on_commit_callbacks
):
    from django.core.cache import cache

    from studyapp.analysis import tasks

    cache.clear()
    queued = []
    monkeypatch.setattr(tasks.conversation_scores_refresh_task, "delay", queued.append)
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        client.get(url)
        client.get(url)  # a second view within the TTL queues nothing more
    assert queued == [scored.study.pk]
    # The job itself: scores everything and queues no follow-up.
    assert tasks.conversation_scores_refresh_task(scored.study.pk) == 3
    assert queued == [scored.study.pk]


def test_a_broker_that_is_down_does_not_break_the_dashboard(
    client, alice, scored, url, monkeypatch, django_capture_on_commit_callbacks, caplog
):
    from django.core.cache import cache

    from studyapp.analysis import tasks

    def broker_down(study_id):
        raise ConnectionError("broker unreachable")

    cache.clear()
    monkeypatch.setattr(tasks.conversation_scores_refresh_task, "delay", broker_down)
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(url)
    assert response.status_code == 200
    assert 'id="transcripts-pending"' in response.content.decode()
    assert "broker unreachable" in caplog.text


def test_the_task_list_pages_through_answered_tasks(client, alice, scored, url):
    add_scored_participants(scored, 30)  # 60 more answers
    client.force_login(alice)
    response = client.get(url)
    tasks = response.context["tasks"]
    assert (tasks.total, tasks.pages, len(tasks.rows)) == (65, 3, 25)
    page = client.get(
        reverse("analysis:dashboard_tasks", args=["beta"]),
        {"page": "3", "completed_only": "1"},
        headers={"HX-Request": "true"},
    )
    html = page.content.decode()
    assert html.lstrip().startswith('<div id="task-list">')
    assert page.context["tasks"].total == 64  # p2 did not complete
    assert len(page.context["tasks"].rows) == 14
    assert "completed_only=1&amp;page=2" in html


def test_it_answers_404_for_another_investigators_study(client, bob, scored, url):
    make_member(make_study("bobs"), bob)
    client.force_login(bob)
    assert client.get(url).status_code == 404
    tasks = reverse("analysis:dashboard_tasks", args=["beta"])
    assert client.get(tasks).status_code == 404


def test_a_superuser_sees_every_dashboard(client, scored, url):
    client.force_login(make_user("root", superuser=True))
    assert client.get(url).status_code == 200


def test_it_sends_anonymous_visitors_to_login(client, scored, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('account_login')}?next={url}"
    response = client.get(
        url, headers={"HX-Request": "true", "HX-Current-URL": f"http://testserver{url}"}
    )
    assert response["HX-Redirect"] == f"{reverse('account_login')}?next={url}"


def _count_queries(client, url, **params) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url, params).status_code == 200
    return len(queries.captured_queries)


@pytest.mark.parametrize(
    "params", [{}, {"blinded": "1", "completed_only": "1", "date_from": "2020-01-01"}]
)
def test_its_query_count_does_not_grow_with_the_data(client, alice, scored, url, params):
    client.force_login(alice)
    client.get(url)  # session and content types out of the count
    small = _count_queries(client, url, **params)
    add_scored_participants(scored, 40)
    services.conversation_scores_refresh(study=scored.study, limit=10)  # some scored
    large = _count_queries(client, url, **params)
    assert large == small
    assert client.get(url).context["dashboard"].answers == 5 + 80


def test_it_needs_few_queries(client, alice, scored, url, django_assert_max_num_queries):
    add_scored_participants(scored, 20)
    client.force_login(alice)
    client.get(url)  # the first request after a login refreshes the session (accounts.sessions)
    # session, user, study; arms, scenarios, levels, answer cells, participants,
    # chat mentions, pending chats; task count, page ids, page rows; the analysis plan:
    # its versions, arms, task cells, the answers' version; the study's questionnaires
    # (their answers' figures only when it has some).
    with django_assert_max_num_queries(18):
        client.get(url)
