from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core import serializers
from django.core.management import CommandError, call_command

from studyapp.scoring.answers import score_answer
from studyapp.studies import demo_content_de
from studyapp.studies.demo_content import DEMO_SCENARIOS, PROVENANCE
from studyapp.studies.models import (
    Arm,
    DispositionLevel,
    ModelEndpoint,
    Scenario,
    ScenarioTranslation,
    Study,
    StudyTranslation,
)
from studyapp.studies.services import NHS_5_LEVELS
from studyapp.studies.translations import study_texts, translation_status


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def snapshot() -> str:
    User = get_user_model()
    querysets = [
        Study.objects.all(),
        Scenario.objects.all(),
        Arm.objects.all(),
        ModelEndpoint.objects.all(),
        DispositionLevel.objects.all(),
        StudyTranslation.objects.all(),
        ScenarioTranslation.objects.all(),
        User.objects.all(),
    ]
    return "".join(serializers.serialize("json", qs.order_by("pk")) for qs in querysets)


@pytest.fixture(autouse=True)
def debug_on(settings):
    # Tests run with DEBUG off; the demo's default password needs it on (as `make run`).
    settings.DEBUG = True


@pytest.fixture
def seeded(db, monkeypatch):
    monkeypatch.delenv("DEMO_INVESTIGATOR_PASSWORD", raising=False)
    seed("--quiet")
    return Study.objects.get(slug="demo")


def test_it_creates_a_live_demo_study_with_both_arm_kinds(seeded, settings):
    assert seeded.status == Study.Status.LIVE
    assert seeded.scenarios_per_participant == 2
    assert seeded.completion_code
    assert seeded.consent_text and seeded.instructions_text
    arms = {arm.key: arm for arm in seeded.arms.select_related("endpoint")}
    assert set(arms) == {"assistant", "control"}
    llm, control = arms["assistant"], arms["control"]
    assert llm.kind == Arm.Kind.LLM and control.kind == Arm.Kind.CONTROL
    assert llm.participant_label == "AI assistant"
    assert llm.sampling_params == {"temperature": 0.8, "top_p": 0.9, "max_tokens": 256}
    assert (llm.min_turns, llm.max_turns) == (1, 10)
    assert llm.system_prompt
    endpoint = llm.endpoint
    assert (endpoint.name, endpoint.model, endpoint.is_scripted, endpoint.timeout_s) == (
        "scripted-demo",
        "scripted-demo",
        True,
        30.0,
    )
    assert endpoint.base_url == settings.SCRIPTED_MODEL_URL
    for arm in arms.values():
        arm.full_clean()


def test_its_scenarios_are_valid_and_cover_every_level(seeded):
    scenarios = list(seeded.scenarios.select_related("gold_disposition", "study"))
    assert len(scenarios) >= 6
    assert {s.gold_disposition.code for s in scenarios} == {code for _, code, _, _ in NHS_5_LEVELS}
    for scenario in scenarios:
        scenario.full_clean()
        assert scenario.provenance == PROVENANCE
        assert 3 <= len(scenario.gold_conditions) <= 6
        assert 1 <= len(scenario.red_flags) <= 4
        assert len(scenario.sections) == 3
        assert scenario.sections[0]["text"].startswith("You are playing the part of")
        assert all(len(section["text"]) > 200 for section in scenario.sections)


def test_the_demo_content_keys_and_titles_are_unique():
    assert len({s["key"] for s in DEMO_SCENARIOS}) == len(DEMO_SCENARIOS)
    assert len({s["title"] for s in DEMO_SCENARIOS}) == len(DEMO_SCENARIOS)


def test_no_title_gives_the_diagnosis_away():
    for item in DEMO_SCENARIOS:
        title = item["title"].lower()
        assert not any(term.lower() in title for term in item["gold_conditions"]), title


def test_it_creates_an_investigator_superuser_of_the_demo(seeded):
    user = get_user_model().objects.get(username="investigator")
    assert user.is_superuser and user.is_staff
    assert user.check_password("investigator-demo")
    assert list(seeded.memberships.values_list("user", "role")) == [(user.pk, "owner")]


def test_running_it_twice_changes_nothing(seeded):
    before = snapshot()
    out = seed()
    assert snapshot() == before
    assert "nothing changed" in out
    assert Study.objects.filter(slug="demo").count() == 1


def test_it_keeps_an_investigators_edits(seeded):
    scenario = seeded.scenarios.get(key="sofa-lift")
    scenario.title = "Edited"
    scenario.save()
    seed("--quiet")
    assert seeded.scenarios.filter(key="sofa-lift").get().title == "Edited"


def test_it_prints_the_participant_link_and_the_login(db, monkeypatch):
    monkeypatch.delenv("DEMO_INVESTIGATOR_PASSWORD", raising=False)
    monkeypatch.setenv("PORT", "8123")
    out = seed()
    assert "created scenario paving-slabs" in out
    assert "http://127.0.0.1:8123/s/demo/" in out
    assert "http://127.0.0.1:8123/accounts/login/" in out
    assert "user investigator, password investigator-demo" in out


def test_quiet_prints_nothing(db, monkeypatch):
    monkeypatch.delenv("DEMO_INVESTIGATOR_PASSWORD", raising=False)
    assert seed("--quiet") == ""


def test_the_password_comes_from_the_environment(db, monkeypatch, settings):
    settings.DEBUG = False
    monkeypatch.setenv("DEMO_INVESTIGATOR_PASSWORD", "from-env-secret")
    out = seed()
    user = get_user_model().objects.get(username="investigator")
    assert user.check_password("from-env-secret")
    assert "from-env-secret" not in out
    monkeypatch.setenv("DEMO_INVESTIGATOR_PASSWORD", "rotated-secret")
    seed("--quiet")
    user.refresh_from_db()
    assert user.check_password("rotated-secret")


def test_it_refuses_a_default_password_without_debug(db, monkeypatch, settings):
    settings.DEBUG = False
    monkeypatch.delenv("DEMO_INVESTIGATOR_PASSWORD", raising=False)
    with pytest.raises(CommandError, match="DEMO_INVESTIGATOR_PASSWORD"):
        seed("--quiet")
    assert not Study.objects.filter(slug="demo").exists()
    assert not get_user_model().objects.filter(username="investigator").exists()


def test_it_follows_a_moved_scripted_model_server(seeded, settings):
    settings.SCRIPTED_MODEL_URL = "http://127.0.0.1:9999/v1"
    out = seed()
    assert "now at http://127.0.0.1:9999/v1" in out
    assert ModelEndpoint.objects.get(name="scripted-demo").base_url == "http://127.0.0.1:9999/v1"


def test_its_scenarios_carry_the_rubric_and_key_facts(seeded):
    by_key = {s["key"]: s for s in DEMO_SCENARIOS}
    for scenario in seeded.scenarios.all():
        assert scenario.rubric == by_key[scenario.key]["rubric"]
        assert scenario.key_facts == by_key[scenario.key]["key_facts"]


def test_an_older_demo_gets_rubrics_on_its_unused_scenarios(seeded):
    Scenario.objects.update(rubric=[], key_facts=[])
    out = seed()
    assert "added the rubric and key facts of scenario paving-slabs" in out
    assert all(s.rubric and s.key_facts for s in Scenario.objects.all())


def test_it_offers_a_complete_german_version_marked_as_ours(seeded):
    assert seeded.languages == ["en", "de"]
    (german,) = translation_status(study=seeded)
    assert (german.language, german.gaps, german.out_of_date) == ("de", [], [])
    translations = [seeded.translations.get(), *ScenarioTranslation.objects.all()]
    assert len(translations) == 1 + seeded.scenarios.count()
    for translation in translations:
        translation.full_clean()
        assert translation.language == "de"
        assert translation.method == "bilingual_team"
        assert translation.translated_by == "studyapp developers"
        assert "not by a professional translator" in translation.notes
    texts = study_texts(study=seeded, language="de")
    assert texts.public_title == "Gesundheitsszenarien (Demo)"
    assert texts.arm_label(seeded.arms.get(key="assistant")) == "KI-Assistent"


def test_german_answers_are_scored_by_the_german_names(seeded):
    # Every scenario's gold conditions can be named in German; a German answer naming
    # them scores like an English one.
    for scenario in seeded.scenarios.all():
        names = demo_content_de.CONDITION_NAMES[scenario.key]
        assert set(scenario.gold_conditions) <= set(names)
        for term in scenario.gold_conditions:
            score = score_answer(
                conditions_text=f"Ich denke, es ist {names[term][0]}.",
                answer_value=0,
                gold_value=0,
                gold_conditions=scenario.gold_conditions,
                red_flags=scenario.red_flags,
                synonyms=scenario.condition_synonyms,
            )
            assert term in score.matched_conditions, (scenario.key, term)


def test_an_older_english_only_demo_gets_german_once(seeded):
    seeded.translations.all().delete()
    ScenarioTranslation.objects.all().delete()
    seeded.languages = ["en"]
    seeded.save()
    out = seed()
    assert "offered the demo in de too" in out
    seeded.refresh_from_db()
    assert seeded.languages == ["en", "de"]
    # Taken off by an investigator, German is not put back by the next run.
    seeded.languages = ["en"]
    seeded.save()
    seed("--quiet")
    seeded.refresh_from_db()
    assert seeded.languages == ["en"]


def test_model_local_points_the_demo_arm_at_the_small_local_model_and_back(seeded, settings):
    out = seed("--model", "local")
    assert "created model endpoint local-smollm2 (for testing)" in out
    assert "arm assistant now uses local-smollm2" in out
    local = ModelEndpoint.objects.get(name="local-smollm2")
    assert local.is_test_model and not local.is_scripted
    assert (local.base_url, local.model) == (settings.LOCAL_MODEL_URL, settings.LOCAL_MODEL_NAME)
    assert seeded.arms.get(key="assistant").endpoint == local
    assert "arm assistant now uses scripted-demo" in seed()
    assert seeded.arms.get(key="assistant").endpoint.name == "scripted-demo"


def test_an_arm_pointed_elsewhere_stays_there(seeded):
    own = ModelEndpoint.objects.create(name="our-vllm", base_url="http://gpu:8001/v1", model="m")
    arm = seeded.arms.get(key="assistant")
    arm.endpoint = own
    arm.save()
    seed("--model", "local", "--quiet")
    assert seeded.arms.get(key="assistant").endpoint == own
