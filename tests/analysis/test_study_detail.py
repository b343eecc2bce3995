from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from studyapp.studies import launch
from studyapp.studies.models import Study
from tests.analysis.conftest import add_answering_participants
from tests.factories import (
    make_control_arm,
    make_endpoint,
    make_llm_arm,
    make_member,
    make_scenario,
    make_study,
    make_user,
)


@pytest.fixture
def url(dataset):
    return reverse("analysis:study_detail", args=[dataset.study.slug])


def arm_row(report, key):
    return next(arm for arm in report.arms if arm.key == key)


def test_it_shows_the_study_to_its_investigator(client, alice, dataset, url):
    client.force_login(alice)
    response = client.get(url)
    assert response.status_code == 200
    assert response.templates[0].name == "analysis/study_detail.html"
    html = response.content.decode()
    assert "Alpha study" in html
    assert "http://testserver/s/alpha/" in html
    # Investigators see which model an arm uses; participants only see the label.
    assert "alpha-model" in html
    assert "Your own sources" in html
    assert 'hx-get="/studies/alpha/figures/"' in html
    assert 'hx-trigger="every 10s"' in html
    # The evaluation runs (and their progress bars) load from the evaluations page.
    assert 'hx-get="/studies/alpha/evaluations/runs/"' in html


def test_it_computes_the_figures_of_a_known_dataset(client, alice, dataset, url):
    client.force_login(alice)
    report = client.get(url).context["report"]
    llm, control = arm_row(report, "llm"), arm_row(report, "control")
    assert llm.figures.n_answers == 3
    assert (llm.figures.disposition.correct, llm.figures.disposition.n) == (1, 3)
    assert (llm.figures.over_triage, llm.figures.under_triage) == (1, 1)
    assert (llm.figures.conditions.correct, llm.figures.conditions.n) == (2, 3)
    assert control.figures.n_answers == 2
    assert control.figures.disposition.value == 1.0
    assert control.figures.conditions.value == 0.5
    assert llm.participants["completed"] == 1
    assert llm.participants["consented"] == 1
    assert control.participants["started"] == 1
    assert report.participants_unallocated == 1
    assert report.participants_total == 5
    assert (llm.endpoint, llm.model, control.model) == ("alpha-endpoint", "alpha-model", None)


def test_it_renders_the_percentages(client, alice, dataset, url):
    client.force_login(alice)
    html = client.get(url).content.decode()
    assert "33.3% <span" in html  # llm disposition 1/3
    assert "(1/3)" in html
    assert "66.7% <span" in html  # llm conditions 2/3
    assert "not allocated" in html


def test_it_answers_404_for_another_investigators_study(client, bob, dataset, url):
    make_member(make_study("bobs"), bob)
    client.force_login(bob)
    assert client.get(url).status_code == 404
    figures = reverse("analysis:study_figures", args=[dataset.study.slug])
    assert client.get(figures).status_code == 404


def test_it_answers_404_for_a_study_that_does_not_exist(client, alice, dataset):
    client.force_login(alice)
    assert client.get(reverse("analysis:study_detail", args=["nope"])).status_code == 404


def test_a_superuser_sees_every_study(client, dataset, url):
    client.force_login(make_user("root", superuser=True))
    assert client.get(url).status_code == 200


def test_it_redirects_anonymous_visitors_to_login(client, dataset, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('account_login')}?next={url}"


def test_the_polled_figures_send_an_expired_session_to_login(client, dataset):
    figures = reverse("analysis:study_figures", args=[dataset.study.slug])
    response = client.get(
        figures,
        headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/studies/alpha/"},
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == f"{reverse('account_login')}?next=/studies/alpha/"


def test_the_figures_partial_is_only_the_figures(client, alice, dataset):
    client.force_login(alice)
    figures = reverse("analysis:study_figures", args=[dataset.study.slug])
    response = client.get(figures, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="study-figures"')
    assert "<html" not in html
    assert "(2/3)" in html


def test_its_query_count_does_not_grow_with_participants(client, alice, dataset, url):
    client.force_login(alice)
    client.get(url)  # warm caches (content types, session) out of the count
    with CaptureQueriesContext(connection) as small:
        assert client.get(url).status_code == 200
    add_answering_participants(dataset, 30)
    with CaptureQueriesContext(connection) as large:
        response = client.get(url)
    assert arm_row(response.context["report"], "llm").figures.n_answers == 3 + 30
    assert len(large.captured_queries) == len(small.captured_queries)


def test_it_needs_few_queries(client, alice, dataset, url, django_assert_max_num_queries):
    add_answering_participants(dataset, 10)
    client.force_login(alice)
    client.get(url)  # the first request after a login refreshes the session (accounts.sessions)
    # session, user, study, arms, participants by state and status, withdrawn by arm,
    # answer rows (+ savepoints); CONSORT: arms, event counts, ledger counts, current
    # statuses; the model endpoints' recent replies (chat.health: one query); the
    # preview form's arms and scenarios (participation.preview).
    with django_assert_max_num_queries(16):
        client.get(url)


def test_the_study_page_links_every_investigator_page(client, alice, dataset):
    from django.urls import reverse

    client.force_login(alice)
    html = client.get(reverse("analysis:study_detail", args=["alpha"])).content.decode()
    for name in (
        "analysis:dashboard",
        "analysis:plan",
        "analysis:power",
        "evaluations:page",
        "studies:design_download",
        "audit:audit_log",
        "questionnaires:list",
    ):
        assert f'href="{reverse(name, args=["alpha"])}"' in html, name


# --- What a draft still lacks (the launch checklist's design problems) ---------------


@pytest.fixture
def draft(alice):
    study = make_study("beta", title="Beta study", status=Study.Status.DRAFT)
    make_member(study, alice)
    return study


def todo_codes(html: str) -> list[str]:
    section = html.split('id="study-todo"')[1].split("</section>")[0]
    return re.findall(r'data-problem="([a-z_]+)"', section)


def test_a_drafts_page_lists_what_is_still_to_do_each_with_its_page(client, alice, draft):
    client.force_login(alice)
    html = client.get(reverse("analysis:study_detail", args=["beta"])).content.decode()
    # The checklist's own problems, minus the endpoints' probes, before anyone launches.
    assert todo_codes(html) == ["no_arms", "too_few_scenarios", "no_quota"]
    assert todo_codes(html) == [p.code for p in launch.design_problems(study=draft, arms=[])]
    section = html.split('id="study-todo"')[1].split("</section>")[0]
    for name in ("studies:arms", "studies:scenarios", "studies:allocation"):
        assert f'<a href="{reverse(name, args=["beta"])}">Fix it →</a>' in section, name


def test_a_complete_draft_has_nothing_left_to_do_and_no_endpoint_is_asked(
    client, alice, draft, monkeypatch
):
    def no_probe(**kwargs):
        raise AssertionError("the study page asked a model endpoint")

    monkeypatch.setattr(launch, "endpoint_problems", no_probe)
    make_llm_arm(draft, make_endpoint())
    make_control_arm(draft)
    make_scenario(draft, "s1")
    make_scenario(draft, "s2")
    draft.quota_per_arm = 600
    draft.save(update_fields=["quota_per_arm"])
    client.force_login(alice)
    html = client.get(reverse("analysis:study_detail", args=["beta"])).content.decode()
    assert todo_codes(html) == []
    assert 'id="todo-done"' in html


def test_a_live_studys_page_has_no_todo_list(client, alice, dataset, url):
    client.force_login(alice)
    assert 'id="study-todo"' not in client.get(url).content.decode()
