"""Writes that set up the demo study. Idempotent: a second run changes nothing."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from studyapp.studies import demo_content_de as german
from studyapp.studies.demo_content import (
    DEMO_CONSENT_TEXT,
    DEMO_INSTRUCTIONS_TEXT,
    DEMO_SCENARIOS,
    DEMO_SYSTEM_PROMPT,
    PROVENANCE,
)
from studyapp.studies.members import membership_grant
from studyapp.studies.models import (
    Arm,
    ModelEndpoint,
    Scenario,
    ScenarioTranslation,
    Study,
    StudyTranslation,
)
from studyapp.studies.roles import Role
from studyapp.studies.services import disposition_scale_get_or_create_default

DEMO_STUDY_SLUG = "demo"
DEMO_ENDPOINT_NAME = "scripted-demo"
LOCAL_ENDPOINT_NAME = "local-smollm2"
MODEL_CHOICES = ("scripted", "local")
DEMO_INVESTIGATOR_USERNAME = "investigator"
DEMO_COMPLETION_CODE = "DEMODONE"


@dataclass
class DemoSeedResult:
    study: Study
    investigator_username: str
    # Human-readable lines saying what this run created or changed (empty: nothing).
    changes: list[str] = field(default_factory=list)


def _created(obj, changes: list[str], what: str) -> None:
    obj.full_clean()
    obj.save()
    changes.append(f"created {what}")


def _add_rubric_to_unused(scenario: Scenario, item, changes: list[str]) -> None:
    """A demo seeded before scenarios had rubrics gets them, where nothing uses the
    scenario yet and nobody gave it any (a used scenario would need a new version)."""
    if scenario.rubric or scenario.key_facts:
        return
    if scenario.tasks.exists() or scenario.evaluation_items.exists():
        return
    scenario.rubric = [dict(entry) for entry in item["rubric"]]
    scenario.key_facts = [dict(entry) for entry in item["key_facts"]]
    scenario.full_clean()
    scenario.save(update_fields=["rubric", "key_facts", "updated_at"])
    changes.append(f"added the rubric and key facts of scenario {scenario.key}")


def _condition_names(key: str) -> dict[str, list[str]]:
    return {term: list(names) for term, names in german.CONDITION_NAMES.get(key, {}).items()}


def _provenance() -> dict[str, str]:
    return {
        "language": german.LANGUAGE,
        "method": german.TRANSLATION_METHOD,
        "translated_by": german.TRANSLATED_BY,
        "notes": german.TRANSLATION_NOTES,
    }


def _seed_german(study: Study, changes: list[str]) -> None:
    """The demo's second language: our own German translation of its texts and scenarios
    (studies.demo_content_de, marked as such), then German among the study's languages.

    Only what is missing is added, and only as a translation of the demo's own text: a
    scenario an investigator edited (its text no longer the demo's) is left for them.
    """
    added_texts = not study.translations.filter(language=german.LANGUAGE).exists()
    if added_texts:
        texts = german.STUDY_TEXTS
        translation = StudyTranslation(
            study=study,
            public_title=texts["public_title"],
            consent_text=texts["consent_text"],
            instructions_text=texts["instructions_text"],
            disposition_question=texts["disposition_question"],
            conditions_question=texts["conditions_question"],
            levels={code: dict(level) for code, level in german.LEVELS.items()},
            arms={key: dict(arm) for key, arm in german.ARMS.items()},
            **_provenance(),
        )
        _created(translation, changes, "the German texts of the demo study")
    english = {item["key"]: item for item in DEMO_SCENARIOS}
    for scenario in study.scenarios.active():
        source = english.get(scenario.key)
        text = german.SCENARIOS.get(scenario.key)
        if source is None or text is None or scenario.translations.exists():
            continue
        if scenario.title != source["title"] or scenario.sections != source["sections"]:
            continue
        translation = ScenarioTranslation(
            scenario=scenario,
            title=text["title"],
            sections=[dict(section) for section in text["sections"]],
            **_provenance(),
        )
        _created(translation, changes, f"the German version of scenario {scenario.key}")
        if not scenario.condition_synonyms and not scenario.tasks.exists():
            scenario.condition_synonyms = _condition_names(scenario.key)
            scenario.full_clean()
            scenario.save(update_fields=["condition_synonyms", "updated_at"])
            changes.append(f"added German condition names to scenario {scenario.key}")
    # Offered once, when its texts are first added: an investigator who later took German
    # off the demo's languages is not overruled by the next run.
    if added_texts and german.LANGUAGE not in study.languages:
        study.languages = [*study.languages, german.LANGUAGE]
        try:
            study.full_clean()
        except ValidationError:
            # An edited demo whose German is incomplete keeps its languages.
            study.languages = study.languages[:-1]
            return
        study.save(update_fields=["languages", "updated_at"])
        changes.append(f"offered the demo in {german.LANGUAGE} too")


def _local_endpoint(url: str, model_name: str, changes: list[str]) -> ModelEndpoint:
    """The small local model for testing (llama.cpp + SmolLM2-135M), labelled as such."""
    endpoint = ModelEndpoint.objects.filter(name=LOCAL_ENDPOINT_NAME).first()
    if endpoint is None:
        endpoint = ModelEndpoint(
            name=LOCAL_ENDPOINT_NAME,
            base_url=url,
            model=model_name,
            is_test_model=True,
            # A CPU engine serves one request at a time: others queue behind it.
            timeout_s=120.0,
            evaluation_concurrency=1,
        )
        _created(endpoint, changes, f"model endpoint {LOCAL_ENDPOINT_NAME} (for testing)")
    elif endpoint.base_url != url:
        endpoint.base_url = url
        endpoint.full_clean()
        endpoint.save(update_fields=["base_url", "updated_at"])
        changes.append(f"model endpoint {LOCAL_ENDPOINT_NAME} now at {url}")
    return endpoint


def _point_assistant_at(study: Study, endpoint: ModelEndpoint, changes: list[str]) -> None:
    """The demo's LLM arm follows the chosen demo model, but only between the demo's own
    endpoints: an arm an investigator pointed elsewhere is theirs."""
    arm = study.arms.filter(key="assistant").select_related("endpoint").first()
    if arm is None or arm.endpoint_id == endpoint.pk or arm.endpoint is None:
        return
    if arm.endpoint.name not in (DEMO_ENDPOINT_NAME, LOCAL_ENDPOINT_NAME):
        return
    arm.endpoint = endpoint
    arm.full_clean()
    arm.save(update_fields=["endpoint", "updated_at"])
    changes.append(f"arm assistant now uses {endpoint.name}")


@transaction.atomic
def demo_seed(
    *,
    scripted_model_url: str,
    investigator_password: str,
    password_is_explicit: bool,
    model: str = "scripted",
    local_model_url: str = "",
    local_model_name: str = "",
) -> DemoSeedResult:
    """The demo study, its scenarios, the scripted endpoint, two arms and an investigator.

    Existing objects are left as they are (an investigator may have edited the demo),
    except that the endpoints follow `scripted_model_url` / `local_model_url`, the LLM arm
    follows `model` ("scripted", or "local": the small local model for testing) between
    the demo's two endpoints, and an explicitly given password is applied.
    """
    if model not in MODEL_CHOICES:
        raise ValueError(f"model must be one of {MODEL_CHOICES}")
    changes: list[str] = []
    scale = disposition_scale_get_or_create_default()
    levels = {level.code: level for level in scale.levels.all()}

    study = Study.objects.filter(slug=DEMO_STUDY_SLUG).first()
    if study is None:
        study = Study(
            slug=DEMO_STUDY_SLUG,
            title="Demo study",
            public_title="Health scenarios (demo)",
            status=Study.Status.LIVE,
            disposition_scale=scale,
            scenarios_per_participant=2,
            consent_text=DEMO_CONSENT_TEXT,
            instructions_text=DEMO_INSTRUCTIONS_TEXT,
            completion_code=DEMO_COMPLETION_CODE,
        )
        _created(study, changes, f"study {DEMO_STUDY_SLUG}")

    existing = {s.key: s for s in study.scenarios.active()}
    for item in DEMO_SCENARIOS:
        if item["key"] in existing:
            _add_rubric_to_unused(existing[item["key"]], item, changes)
            continue
        scenario = Scenario(
            study=study,
            key=item["key"],
            title=item["title"],
            sections=[dict(section) for section in item["sections"]],
            gold_disposition=levels[item["gold_disposition"]],
            gold_conditions=list(item["gold_conditions"]),
            red_flags=list(item["red_flags"]),
            rubric=[dict(entry) for entry in item["rubric"]],
            key_facts=[dict(entry) for entry in item["key_facts"]],
            # Other names the scorer accepts: the German ones, for answers in German.
            condition_synonyms=_condition_names(item["key"]),
            provenance=PROVENANCE,
        )
        _created(scenario, changes, f"scenario {item['key']}")

    endpoint = ModelEndpoint.objects.filter(name=DEMO_ENDPOINT_NAME).first()
    if endpoint is None:
        endpoint = ModelEndpoint(
            name=DEMO_ENDPOINT_NAME,
            base_url=scripted_model_url,
            model="scripted-demo",
            is_scripted=True,
            timeout_s=30.0,
        )
        _created(endpoint, changes, f"model endpoint {DEMO_ENDPOINT_NAME}")
    elif endpoint.base_url != scripted_model_url:
        # The scripted server's address is configuration (SCRIPTED_MODEL_URL), not data;
        # conversations keep a snapshot of the address they used.
        endpoint.base_url = scripted_model_url
        endpoint.full_clean()
        endpoint.save(update_fields=["base_url", "updated_at"])
        changes.append(f"model endpoint {DEMO_ENDPOINT_NAME} now at {scripted_model_url}")

    chat_endpoint = endpoint
    if model == "local":
        chat_endpoint = _local_endpoint(local_model_url, local_model_name, changes)
    _point_assistant_at(study, chat_endpoint, changes)

    arm_keys = set(study.arms.values_list("key", flat=True))
    if "assistant" not in arm_keys:
        arm = Arm(
            study=study,
            key="assistant",
            kind=Arm.Kind.LLM,
            participant_label="AI assistant",
            endpoint=chat_endpoint,
            system_prompt=DEMO_SYSTEM_PROMPT,
            sampling_params={"temperature": 0.8, "top_p": 0.9, "max_tokens": 256},
            min_turns=1,
            max_turns=10,
        )
        _created(arm, changes, "arm assistant (llm)")
    if "control" not in arm_keys:
        arm = Arm(
            study=study,
            key="control",
            kind=Arm.Kind.CONTROL,
            participant_label="Your own sources",
        )
        _created(arm, changes, "arm control")

    _seed_german(study, changes)

    User = get_user_model()
    user = User.objects.filter(username=DEMO_INVESTIGATOR_USERNAME).first()
    if user is None:
        user = User.objects.create_superuser(
            username=DEMO_INVESTIGATOR_USERNAME, password=investigator_password
        )
        changes.append(f"created superuser {DEMO_INVESTIGATOR_USERNAME}")
    else:
        if not (user.is_staff and user.is_superuser and user.is_active):
            user.is_staff = user.is_superuser = user.is_active = True
            user.save(update_fields=["is_staff", "is_superuser", "is_active"])
            changes.append(f"made {DEMO_INVESTIGATOR_USERNAME} an active superuser")
        if password_is_explicit and not user.check_password(investigator_password):
            user.set_password(investigator_password)
            user.save(update_fields=["password"])
            changes.append(f"set the password of {DEMO_INVESTIGATOR_USERNAME}")
    if not study.memberships.filter(user=user, role=Role.OWNER).exists():
        membership_grant(study=study, user=user, role=Role.OWNER)
        changes.append(f"made {DEMO_INVESTIGATOR_USERNAME} an owner of the demo")

    return DemoSeedResult(
        study=study, investigator_username=DEMO_INVESTIGATOR_USERNAME, changes=changes
    )
