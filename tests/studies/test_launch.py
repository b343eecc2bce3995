"""The launch checklist: a study goes live only when its endpoints answer now and its
design is whole; otherwise it stays a draft and every reason is named."""

from __future__ import annotations

import socket
import time

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from studyapp.studies import analysis_plan, launch
from studyapp.studies.launch import LaunchRefusedError, launch_problems, study_launch
from studyapp.studies.models import AnalysisPlan, Study
from tests.factories import (
    make_control_arm,
    make_endpoint,
    make_llm_arm,
    make_scenario,
    make_study,
    make_user,
)

pytestmark = pytest.mark.django_db


def closed_port_url() -> str:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def ready_study(base_url: str, slug: str = "ready", **kwargs) -> Study:
    """A draft with everything set: two complete scenarios, an LLM arm and a control,
    a quota, HELPMed's default plan."""
    study = make_study(slug, status=Study.Status.DRAFT, quota_per_arm=20, **kwargs)
    make_scenario(study, f"{slug}-belly")
    make_scenario(study, f"{slug}-head", level_code="routine_gp")
    make_llm_arm(study, make_endpoint(base_url, name=f"{slug}-model"))
    make_control_arm(study)
    return study


def codes(problems) -> list[str]:
    return [p.code for p in problems]


def test_a_study_with_everything_set_launches(scripted):
    study = ready_study(scripted.base_url)
    study_launch(study=study)
    study.refresh_from_db()
    assert study.status == Study.Status.LIVE
    # The endpoint was really asked, once, for a streamed reply.
    assert [r["stream"] for r in scripted.requests()] == [True]


def test_a_closed_port_refuses_the_launch_and_names_the_endpoint():
    study = ready_study(closed_port_url())
    with pytest.raises(LaunchRefusedError) as refused:
        study_launch(study=study)
    [problem] = refused.value.problems
    assert problem.code == "endpoint_unreachable"
    assert "“ready-model”" in problem.message and "arm llm" in problem.message
    assert "connection" in problem.message
    endpoint = study.arms.get(key="llm").endpoint
    # Each problem links to the investigator page that fixes it, not to the admin.
    assert problem.url == reverse("endpoints:edit", args=[endpoint.pk])
    study.refresh_from_db()
    assert study.status == Study.Status.DRAFT


def test_a_server_that_fails_refuses_with_its_error(scripted):
    scripted.configure(fail_status=503)
    study = ready_study(scripted.base_url)
    [problem] = launch_problems(study)
    assert "HTTP 503" in problem.message


def test_the_endpoints_are_probed_concurrently(scripted):
    scripted.configure(ttft_s=0.6)
    study = ready_study(scripted.base_url)
    make_llm_arm(study, make_endpoint(scripted.base_url, name="second-model"), key="llm2")
    make_llm_arm(study, make_endpoint(scripted.base_url, name="third-model"), key="llm3")
    started = time.monotonic()
    assert launch_problems(study) == []
    # Three probes of 0.6 s each: one after the other would take 1.8 s.
    assert time.monotonic() - started < 1.5
    assert len(scripted.requests()) == 3


def test_a_probe_that_takes_too_long_is_cut_off(scripted, monkeypatch):
    monkeypatch.setattr(launch, "PROBE_TIMEOUT_S", 0.3)
    scripted.configure(ttft_s=3.0)
    study = ready_study(scripted.base_url)
    started = time.monotonic()
    [problem] = launch_problems(study)
    assert time.monotonic() - started < 2.0
    assert "no complete reply within" in problem.message


def test_one_arm_list_per_endpoint_shared_by_arms():
    study = ready_study(closed_port_url())
    make_llm_arm(study, study.arms.get(key="llm").endpoint, key="llm-b")
    [problem] = launch_problems(study)
    assert "arm llm, llm-b" in problem.message


def test_too_few_and_incomplete_scenarios_are_named(scripted):
    study = ready_study(scripted.base_url, scenarios_per_participant=3)
    study.scenarios.filter(key="ready-head").update(gold_conditions=[])
    problems = launch_problems(study)
    assert codes(problems) == ["too_few_scenarios", "scenario_incomplete"]
    assert "sees 3 scenarios, but the study has 2 active" in problems[0].message
    assert "“ready-head”" in problems[1].message and "gold conditions" in problems[1].message
    head = study.scenarios.get(key="ready-head")
    assert [p.url for p in problems] == [
        reverse("studies:scenarios", args=[study.slug]),
        reverse("studies:scenario_edit", args=[study.slug, head.pk]),
    ]


def test_a_study_without_quotas_is_refused(scripted):
    study = ready_study(scripted.base_url)
    Study.objects.filter(pk=study.pk).update(quota_per_arm=None)
    study.refresh_from_db()
    [problem] = launch_problems(study)
    assert problem.code == "no_quota"
    assert problem.url == reverse("studies:allocation", args=[study.slug])
    Study.objects.filter(pk=study.pk).update(quota_per_cell=5)
    study.refresh_from_db()
    assert launch_problems(study) == []


def test_an_analysis_plan_naming_a_missing_arm_is_refused(scripted):
    study = ready_study(scripted.base_url)
    content = analysis_plan.default_plan()
    content["contrasts"][0]["a"] = ["gpt-x"]
    AnalysisPlan.objects.create(
        study=study, version=1, content=content, sha256=analysis_plan.plan_sha256(content)
    )
    [problem] = launch_problems(study)
    assert problem.code == "analysis_plan"
    assert "gpt-x" in problem.message
    assert problem.url == reverse("analysis:plan", args=[study.slug])


def test_prolific_needs_a_code_for_every_way_out(scripted):
    study = ready_study(scripted.base_url, prolific_study_id="abc123", completion_url="")
    [problem] = launch_problems(study)
    assert problem.code == "prolific_codes"
    for outcome in ("the completion URL", "screened out", "study full", "technical problem"):
        assert outcome in problem.message
    assert "timed out" not in problem.message  # no time limit: no such outcome
    assert problem.url == reverse("studies:prolific_settings", args=[study.slug])
    Study.objects.filter(pk=study.pk).update(
        completion_url="https://app.prolific.com/submissions/complete",
        code_screened_out="SCR",
        code_study_full="FULL",
        code_technical_problem="TECH",
    )
    study.refresh_from_db()
    assert launch_problems(study) == []


def test_missing_translations_are_refused_as_study_clean_says(scripted):
    study = ready_study(scripted.base_url, languages=["en", "de"])
    [problem] = launch_problems(study)
    assert problem.code == "translations"
    assert "de:" in problem.message
    assert problem.url == reverse("studies:translation", args=[study.slug, "de"])


def test_a_setting_problem_links_to_the_page_of_its_field(scripted):
    study = ready_study(
        scripted.base_url,
        allocation_method=Study.AllocationMethod.STRATIFIED_BLOCKS,
        stratum_source=Study.StratumSource.ENTRY_PARAMETER,
        check_question="Choose blue.",
        check_options=["Blue", "Red"],
        check_answer="Green",
    )
    problems = {p.message.split(":")[0]: p for p in launch_problems(study)}
    assert problems["Stratum parameter"].url == reverse("studies:allocation", args=[study.slug])
    assert problems["Check answer"].url == reverse("studies:screening", args=[study.slug])


def test_a_study_without_arms_links_to_its_arms_page(scripted):
    study = make_study("armless", status=Study.Status.DRAFT, quota_per_arm=10)
    problem = next(p for p in launch_problems(study) if p.code == "no_arms")
    assert problem.url == reverse("studies:arms", args=[study.slug])


def test_every_problem_is_listed_at_once():
    study = make_study("bare", status=Study.Status.DRAFT)
    make_llm_arm(study, make_endpoint(closed_port_url(), name="bare-model"))
    assert codes(launch_problems(study)) == [
        "too_few_scenarios",
        "no_quota",
        "endpoint_unreachable",
    ]


def test_a_live_study_is_not_launched_again(scripted):
    study = ready_study(scripted.base_url)
    Study.objects.filter(pk=study.pk).update(status=Study.Status.LIVE)
    study.refresh_from_db()
    with pytest.raises(LaunchRefusedError) as refused:
        study_launch(study=study)
    assert codes(refused.value.problems) == ["already_live"]
    assert scripted.requests() == []


# --- The command ---------------------------------------------------------------------------


def test_the_command_launches_a_ready_study(scripted, capsys):
    study = ready_study(scripted.base_url)
    call_command("launch_study", study.slug)
    assert "ready is live." in capsys.readouterr().out
    study.refresh_from_db()
    assert study.status == Study.Status.LIVE


def test_the_command_refuses_and_lists_the_problems(capsys):
    study = ready_study(closed_port_url())
    with pytest.raises(CommandError, match="was not set live: 1 problem"):
        call_command("launch_study", study.slug)
    err = capsys.readouterr().err
    assert "“ready-model”" in err and "Fix: Start the model server" in err
    study.refresh_from_db()
    assert study.status == Study.Status.DRAFT


def test_the_command_has_no_force_option():
    with pytest.raises(CommandError):
        call_command("launch_study", "x", "--force")


# --- The admin's save ------------------------------------------------------------------------


def study_form_data(client, study: Study, **changes) -> dict:
    """What the admin's change form posts back unchanged, with `changes`."""
    response = client.get(reverse("admin:studies_study_change", args=[study.pk]))
    form = response.context["adminform"].form
    data = {}
    for name in form.fields:
        value = form[name].value()  # as the widget shows it (JSON as text)
        data[name] = "" if value is None else value
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        for key, value in formset.management_form.initial.items():
            data[f"{formset.prefix}-{key}"] = value
    data.update(changes)
    return data


def test_the_admin_refuses_to_set_live_with_the_reasons(client):
    client.force_login(make_user("root", superuser=True))
    study = ready_study(closed_port_url())
    url = reverse("admin:studies_study_change", args=[study.pk])
    response = client.post(url, study_form_data(client, study, status="live"))
    assert response.status_code == 200  # the form again, with the errors
    errors = response.context["adminform"].form.errors["status"]
    assert any("“ready-model”" in e and "did not answer" in e for e in errors)
    study.refresh_from_db()
    assert study.status == Study.Status.DRAFT


def test_the_admin_sets_a_ready_study_live(client, scripted):
    client.force_login(make_user("root", superuser=True))
    study = ready_study(scripted.base_url)
    url = reverse("admin:studies_study_change", args=[study.pk])
    response = client.post(url, study_form_data(client, study, status="live"))
    assert response.status_code == 302, response.context["adminform"].form.errors
    study.refresh_from_db()
    assert study.status == Study.Status.LIVE


def test_the_admin_saves_a_live_study_without_probing_again(client):
    # The checklist guards the transition; editing a live study's texts does not re-run
    # it (an endpoint's trouble while live is the health card's and /healthz's to show).
    client.force_login(make_user("root", superuser=True))
    study = ready_study(closed_port_url())
    Study.objects.filter(pk=study.pk).update(status=Study.Status.LIVE)
    study.refresh_from_db()
    url = reverse("admin:studies_study_change", args=[study.pk])
    response = client.post(url, study_form_data(client, study, title="Renamed"))
    assert response.status_code == 302
    study.refresh_from_db()
    assert study.title == "Renamed"
