"""Study design files: export a whole design, create a new study from it, lose nothing."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from studyapp.studies import analysis_plan
from studyapp.studies.design_files import (
    LEFT_OUT,
    WRITTEN,
    DesignFileError,
    design_dumps,
    design_export,
    design_import,
    design_loads,
)
from studyapp.studies.models import (
    AnalysisPlan,
    Arm,
    DispositionLevel,
    DispositionScale,
    ModelEndpoint,
    Scenario,
    Study,
)
from studyapp.studies.services import plan_current, plan_save, scenario_create_new_version
from tests.factories import (
    make_control_arm,
    make_endpoint,
    make_llm_arm,
    make_member,
    make_scenario,
    make_study,
    make_translation,
)

pytestmark = pytest.mark.django_db
KEY_VALUE = "sk-the-key-that-must-never-leave"


@pytest.fixture
def rich(alice, monkeypatch) -> Study:
    """Two languages with translations, two arms, two scenarios (one edited: version 2)
    with synonyms, rubric and key facts, screening, check, quotas, stratified blocks, and
    an analysis plan that is not the default."""
    monkeypatch.setenv("STUDYAPP_LLM_KEY_TEAM", KEY_VALUE)
    study = make_study(
        "origin",
        status=Study.Status.DRAFT,
        title="Origin study",
        public_title="A study of health decisions",
        scenarios_per_participant=1,
        disposition_question="Which service?",
        completion_code="DONE-1",
        completion_url="https://app.prolific.com/submissions/complete?cc=DONE-1",
        prolific_study_id="64f0c0ffee",
        allocation_method=Study.AllocationMethod.STRATIFIED_BLOCKS,
        allocation_block_sizes=[3, 6],
        stratum_source=Study.StratumSource.SCREENING,
        screening_question="Where do you live?",
        screening_options=[
            {"value": "uk", "label": "In the UK", "eligible": True},
            {"value": "other", "label": "Elsewhere", "eligible": False},
        ],
        check_question="Which colour is the sky?",
        check_options=["Blue", "Green"],
        check_answer="Blue",
        check_attempts=2,
        quota_per_arm=120,
        quota_per_cell=30,
        time_limit_minutes=45,
        timed_out_count_toward_quota=True,
        technical_exit_after=2,
        code_screened_out="OUT-1",
        code_timed_out="TIME-1",
        code_failed_check="CHECK-1",
        code_study_full="FULL-1",
        code_technical_problem="TECH-1",
        blinding_action=Study.BlindingAction.FLAG,
        blinding_replacement="the helper",
    )
    make_member(study, alice)
    endpoint = make_endpoint(
        "http://gpu-node:8000/v1",
        name="team-vllm",
        model="Llama-3.1-8B-Instruct",
        api_key_env="STUDYAPP_LLM_KEY_TEAM",
        is_scripted=False,
        timeout_s=45.0,
        price_prompt_per_million=Decimal("0.1500"),
        price_completion_per_million=Decimal("0.6000"),
    )
    make_llm_arm(
        study,
        endpoint,
        key="llama",
        participant_label="Assistant",
        system_prompt="You are a careful assistant.",
        sampling_params={"temperature": 0.2, "top_p": 1.0, "max_tokens": 400, "seed": 7},
        min_turns=2,
        max_turns=12,
        weight=2,
        reply_timeout_s=60.0,
        blinding_terms=["Llama", "Meta AI"],
    )
    make_control_arm(study, control_instructions="Use what you would use at home.")
    make_scenario(
        study,
        "chest-pain",
        level_code="ambulance",
        gold_conditions=["myocardial infarction", "angina"],
        red_flags=["myocardial infarction"],
        condition_synonyms={"myocardial infarction": ["MI", "heart attack", "Herzinfarkt"]},
        rubric=[
            {"key": "advises-999", "text": "Advises 999", "points": 2, "applies_to": "model"},
            {"key": "says-wait", "text": "Says to wait", "points": -2, "applies_to": "answer"},
        ],
        key_facts=[{"key": "radiates", "text": "Pain in the arm", "patterns": ["left arm"]}],
        provenance="Written for the test; cite nobody.",
    )
    knee = make_scenario(study, "knee", level_code="routine_gp", red_flags=[])
    edited = scenario_create_new_version(scenario_id=knee.pk)
    edited.title = "A knee, edited"
    edited.save()
    make_translation(study, "de")
    plan = analysis_plan.default_plan(condition_labels="reference")
    plan |= {
        "alpha": 0.01,
        "multiplicity": "bonferroni",
        "contrasts": [
            {
                "key": "llama_vs_control",
                "label": "Llama vs control",
                "a": ["llama"],
                "b": "control",
                "primary": True,
            },
        ],
        "bootstrap": {"n_boot": 500, "seed": 11},
    }
    plan_save(study=study, content=plan, changed_by=alice, reason="")
    # Questionnaires: one with a conditional Likert item, one after each scenario.
    from tests.questionnaires.conftest import add_baseline, add_per_scenario

    add_baseline(study)
    add_per_scenario(study)
    return Study.objects.get(pk=study.pk)


def without_names(design: dict) -> dict:
    design = copy.deepcopy(design)
    del design["study"]["slug"], design["study"]["title"]
    return design


def test_a_round_trip_loses_nothing(rich, bob):
    first = design_export(rich)
    copy_study = design_import(
        design_loads(design_dumps(first)), slug="replication", title="Replication", user=bob
    )
    second = design_export(copy_study)
    assert without_names(second) == without_names(first)
    assert (second["study"]["slug"], second["study"]["title"]) == ("replication", "Replication")
    # What the file says is there, and what it must not carry is not.
    assert len(first["scenarios"]) == 2 and len(first["arms"]) == 2
    assert first["study"]["languages"] == ["en", "de"]
    assert [t["language"] for t in first["translations"]] == ["de"]
    assert {s["key"]: s["title"] for s in first["scenarios"]}["knee"] == "A knee, edited"
    assert first["analysis_plan"]["multiplicity"] == "bonferroni"
    assert [q["key"] for q in first["questionnaires"]] == ["baseline", "trust"]
    assert first["questionnaires"][0]["items"][1]["condition"] == {
        "item": "uses_llm",
        "values": ["yes"],
    }
    how_often = copy_study.questionnaires.get(key="baseline").items.get(key="how_often")
    assert how_often.condition_item.key == "uses_llm" and how_often.anchor_high == "Daily"
    assert first["scenarios"][0]["condition_synonyms"]["myocardial infarction"][-1] == (
        "Herzinfarkt"
    )
    assert copy_study.status == Study.Status.DRAFT
    assert copy_study.allocation_seed != rich.allocation_seed
    assert list(copy_study.memberships.values_list("user", "role")) == [(bob.pk, "owner")]
    assert copy_study.condition_labels == "reference"
    assert plan_current(study=copy_study).sha256 == plan_current(study=rich).sha256
    assert set(copy_study.scenarios.values_list("version", flat=True)) == {1}
    # The endpoint was the same one (name, URL, model), so it is shared, not copied.
    assert ModelEndpoint.objects.count() == 1
    assert copy_study.arms.get(key="llama").endpoint.name == "team-vllm"
    # Translations keep their provenance and stay current.
    translation = copy_study.translations.get()
    assert translation.translated_by == "Test translations Ltd" and translation.is_current
    assert all(t.is_current for s in copy_study.scenarios.all() for t in s.translations.all())


def test_every_model_field_is_written_or_left_out_on_purpose():
    for model, written in WRITTEN.items():
        fields = {f.name for f in model._meta.get_fields() if f.concrete or f.many_to_many}
        fields -= {f.name for f in model._meta.get_fields() if f.auto_created and not f.concrete}
        assert fields == set(written) | LEFT_OUT[model], model.__name__
        assert not set(written) & LEFT_OUT[model], model.__name__


def test_no_secret_appears_in_an_export(rich, monkeypatch):
    text = design_dumps(design_export(rich))
    assert KEY_VALUE not in text
    assert str(rich.allocation_seed) not in text
    endpoint = json.loads(text)["endpoints"][0]
    assert endpoint["api_key_env"] == "STUDYAPP_LLM_KEY_TEAM"
    study = json.loads(text)["study"]
    assert not {"api_key", "key", "allocation_seed"} & (set(endpoint) | set(study))


def test_the_file_is_pretty_printed_with_its_header(rich):
    text = design_dumps(design_export(rich))
    assert text.startswith('{\n  "format": "studyapp-design",\n  "version": 1,\n')
    assert "Herzinfarkt" in text  # not \u-escaped


def test_an_unmatched_endpoint_is_created_with_its_key_variable_name_and_a_free_name(rich):
    design = design_export(rich)
    design["endpoints"][0]["base_url"] = "http://other-node:8000/v1"
    study = design_import(design, slug="elsewhere")
    endpoint = study.arms.get(key="llama").endpoint
    assert endpoint.name == "team-vllm (elsewhere)"
    assert (endpoint.base_url, endpoint.api_key_env) == (
        "http://other-node:8000/v1",
        "STUDYAPP_LLM_KEY_TEAM",
    )
    assert endpoint.price_prompt_per_million == Decimal("0.1500")


def test_a_scale_with_the_same_slug_but_other_levels_is_not_changed(rich):
    design = design_export(rich)
    design["disposition_scale"]["levels"][0]["label"] = "Call 999"
    study = design_import(design, slug="relabelled")
    assert study.disposition_scale.slug == "nhs-5-2"
    assert study.disposition_scale.levels.get(code="ambulance").label == "Call 999"
    assert DispositionLevel.objects.get(scale__slug="nhs-5", code="ambulance").label == (
        "Ambulance"
    )
    # The same file again finds that scale rather than making a third.
    assert design_import(design, slug="relabelled-again").disposition_scale.slug == "nhs-5-2"


def counts() -> tuple[int, ...]:
    return tuple(
        m.objects.count()
        for m in (Study, Scenario, Arm, ModelEndpoint, DispositionScale, AnalysisPlan)
    )


def refused(design, **kwargs) -> list[str]:
    before = counts()
    with pytest.raises(DesignFileError) as error:
        design_import(design, slug=kwargs.pop("slug", "refused"), **kwargs)
    assert counts() == before
    assert not Study.objects.filter(slug="refused").exists()
    return error.value.errors


def test_a_file_of_another_version_is_refused(rich):
    design = design_export(rich) | {"version": 2}
    assert refused(design) == ["version: this file is version 2; this studyapp reads version 1"]


def test_a_file_of_another_format_is_refused(rich):
    assert refused({"format": "something", "version": 1})[0].startswith(
        "format: not a studyapp design file"
    )


def test_an_unknown_level_code_is_refused_naming_the_scenario(rich):
    design = design_export(rich)
    design["scenarios"][0]["gold_disposition"] = "hospital"
    [error] = refused(design)
    assert error.startswith("scenarios[chest-pain].gold_disposition: 'hospital' is not a level")
    assert "ambulance" in error


def test_missing_and_mistyped_fields_are_all_named(rich):
    design = design_export(rich)
    arms = {arm["key"]: arm for arm in design["arms"]}
    del arms["llama"]["system_prompt"]
    arms["control"]["weight"] = "two"
    design["study"]["typo_field"] = 1
    del design["scenarios"][1]["translations"][0]["title"]
    assert refused(design) == [
        "study: unknown field(s) typo_field",
        'arms[control].weight: a whole number, not "two"',
        "arms[llama]: missing field(s) system_prompt",
        "scenarios[knee].translations[de]: missing field(s) title",
    ]


def test_a_models_own_validation_names_the_object_and_field(rich):
    design = design_export(rich)
    {arm["key"]: arm for arm in design["arms"]}["llama"]["sampling_params"]["logit_bias"] = {}
    design["scenarios"][0]["rubric"][0]["points"] = 0
    errors = refused(design)
    assert any(
        e.startswith("arms[llama].sampling_params: Unknown parameters: logit_bias") for e in errors
    )
    assert any(e.startswith("scenarios[chest-pain].rubric: ") for e in errors)


def test_a_bad_translation_or_plan_late_in_the_file_still_creates_nothing(rich):
    design = design_export(rich)
    design["scenarios"][0]["translations"][0]["sections"] = design["scenarios"][0]["translations"][
        0
    ]["sections"][:1]
    assert refused(design)[0].startswith("scenarios[chest-pain].translations[de].sections: ")
    design = design_export(rich)
    design["analysis_plan"]["contrasts"][0]["a"] = ["gpt"]
    assert refused(design) == ["analysis_plan: contrasts[0].a: no arm with key gpt"]


def test_an_existing_slug_is_refused(rich):
    assert refused(design_export(rich), slug="origin") == [
        "study.slug: Study with this Slug already exists."
    ]


def test_a_key_variable_outside_the_prefix_is_refused(rich):
    design = design_export(rich)
    design["endpoints"][0] |= {"api_key_env": "DJANGO_SECRET_KEY", "base_url": "http://x:1/v1"}
    [error] = refused(design)
    assert error.startswith("endpoints[team-vllm].api_key_env: Only variables")


def test_an_investigator_matches_only_their_endpoints_and_creates_none(rich, bob):
    design = design_export(rich)
    errors = refused(
        design, user=bob, endpoints=ModelEndpoint.objects.none(), may_create_endpoints=False
    )
    assert errors[0].startswith("endpoints[team-vllm]: no endpoint of your studies")


# --- Commands ------------------------------------------------------------------------------


def test_the_commands_export_and_import(rich, tmp_path):
    path = tmp_path / "origin.json"
    call_command("export_design", "origin", "--out", str(path), stderr=StringIO())
    assert json.loads(path.read_text())["study"]["slug"] == "origin"
    stdout = StringIO()
    call_command("export_design", "origin", stdout=stdout)
    assert stdout.getvalue() == path.read_text()
    out = StringIO()
    call_command("import_design", str(path), "--slug", "copy", "--title", "A copy", stdout=out)
    assert out.getvalue().strip() == (
        "study copy created (draft): 2 scenario(s), arms control (control), "
        "llama (team-vllm), languages en, de"
    )
    assert Study.objects.get(slug="copy").title == "A copy"


def test_the_import_command_lists_every_problem(rich, tmp_path):
    design = design_export(rich)
    design["version"] = 3
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(design))
    with pytest.raises(CommandError, match="version: this file is version 3"):
        call_command("import_design", str(path), "--slug", "bad")
    path.write_text("{not json")
    with pytest.raises(CommandError, match="the file is not JSON"):
        call_command("import_design", str(path), "--slug", "bad")
    assert not Study.objects.filter(slug="bad").exists()


def test_the_export_command_refuses_an_unknown_study(db):
    with pytest.raises(CommandError, match="no study with slug 'nope'"):
        call_command("export_design", "nope")


# --- Views ---------------------------------------------------------------------------------


def test_an_investigator_downloads_the_design(client, rich, alice):
    client.force_login(alice)
    page = client.get(reverse("analysis:study_detail", args=["origin"]))
    url = reverse("studies:design_download", args=["origin"])
    assert url in page.content.decode()
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="origin-design.json"'
    assert json.loads(response.content) == design_export(rich)


def test_another_investigator_gets_404_and_anonymous_is_redirected(client, rich, bob):
    url = reverse("studies:design_download", args=["origin"])
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    client.force_login(bob)
    assert client.get(url).status_code == 404


def upload(client, design, slug="uploaded", title=""):
    body = design if isinstance(design, bytes) else design_dumps(design).encode()
    return client.post(
        reverse("studies:design_upload"),
        {
            "design": SimpleUploadedFile("d.json", body, "application/json"),
            "slug": slug,
            "title": title,
        },
    )


def test_the_study_list_offers_the_upload_form(client, alice):
    client.force_login(alice)
    html = client.get(reverse("analysis:study_list")).content.decode()
    assert f'action="{reverse("studies:design_upload")}"' in html
    assert 'enctype="multipart/form-data"' in html and "csrfmiddlewaretoken" in html


def test_an_upload_creates_a_draft_study_whose_investigator_is_the_uploader(client, rich, alice):
    client.force_login(alice)
    response = upload(client, design_export(rich), title="Uploaded")
    assert response.status_code == 302
    assert response["Location"] == reverse("analysis:study_detail", args=["uploaded"])
    study = Study.objects.get(slug="uploaded")
    assert (study.title, study.status) == ("Uploaded", Study.Status.DRAFT)
    assert list(study.memberships.values_list("user", "role")) == [(alice.pk, "owner")]
    # alice's study uses the endpoint, so she may match it.
    assert study.arms.get(key="llama").endpoint.name == "team-vllm"


def test_an_upload_naming_an_endpoint_the_uploader_cannot_see_is_refused(client, rich, bob):
    client.force_login(bob)
    response = upload(client, design_export(rich))
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="design-errors"' in html and "no endpoint of your studies" in html
    assert not Study.objects.filter(slug="uploaded").exists()


def test_an_upload_shows_each_error_next_to_its_field(client, rich, alice):
    client.force_login(alice)
    design = design_export(rich)
    design["scenarios"][0]["gold_disposition"] = "<b>hospital</b>"
    response = upload(client, design, slug="origin")
    assert response.status_code == 400
    html = response.content.decode()
    assert "A study with this slug exists" in html.split('id="slug-errors"')[1].split("</ul>")[0]
    response = upload(client, design, slug="fresh")
    html = response.content.decode()
    errors = html.split('id="design-errors"')[1].split("</ul>")[0]
    assert "scenarios[chest-pain].gold_disposition" in errors
    assert "<b>hospital</b>" not in html and "&lt;b&gt;hospital&lt;/b&gt;" in html
    response = upload(client, b"\xff not json", slug="fresh")
    assert "the file is not JSON" in response.content.decode()
    assert not Study.objects.filter(slug="fresh").exists()


def test_the_upload_refuses_anonymous_visitors(client, rich):
    response = upload(client, design_export(rich))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    assert not Study.objects.filter(slug="uploaded").exists()


def test_the_export_reads_in_a_fixed_number_of_queries(rich, django_assert_num_queries):
    study = Study.objects.get(pk=rich.pk)
    # ... and the questionnaires with their items and translations (three).
    with django_assert_num_queries(10):
        design_export(study)
    for i in range(5):
        make_scenario(rich, f"more-{i}")
    study = Study.objects.get(pk=rich.pk)
    with django_assert_num_queries(10):
        design_export(study)
