"""import_scenarios: HELPMed's published files and our plain JSONL format."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from studyapp.participation.models import Task
from studyapp.studies.importers import ScenarioImportError, read_jsonl
from studyapp.studies.models import DispositionScale, Scenario, Study
from tests.conftest import require
from tests.factories import make_participant, make_study, shared_data_dir


def run(*args) -> str:
    out = StringIO()
    call_command("import_scenarios", *[str(a) for a in args], stdout=out)
    return out.getvalue().strip()


@pytest.fixture
def helpmed_dir() -> Path:
    path = shared_data_dir() / "helpmed"
    require((path / "scenarios.csv").exists(), f"HELPMed data not found at {path}")
    return path


def test_it_imports_helpmeds_ten_scenarios_with_their_gold_standard(db, helpmed_dir):
    out = run(helpmed_dir, "--study", "helpmed", "--format", "helpmed", "--title", "HELPMed")
    assert out == "study helpmed: 10 created, 0 updated, 0 new version(s), 0 unchanged"
    study = Study.objects.get(slug="helpmed")
    assert (study.title, study.status, study.disposition_scale.slug) == (
        "HELPMed",
        Study.Status.DRAFT,
        "nhs-5",
    )
    assert study.scenarios.count() == 10
    first = Scenario.objects.get(key="helpmed-489599")
    assert first.title == "Scenario 1"  # never the diagnosis: participants see the title
    assert [s["heading"] for s in first.sections] == [
        "Specific case details",
        "General life details",
        "Additional medical history",
    ]
    assert first.sections[0]["text"].startswith("You are playing the part of a 20-year-old")
    assert first.gold_disposition.label == "A&E"
    assert first.gold_conditions[:2] == ["subarachnoid haemorrhage", "cerebro-vascular event"]
    assert len(first.gold_conditions) == 19 and len(first.red_flags) == 6
    assert "Subarachnoid Haemorrhage" in first.provenance
    urgent = {s.key: s.gold_disposition.value for s in study.scenarios.all()}
    assert urgent["helpmed-489600"] == 4  # the pulmonary embolism: Ambulance


def test_reimporting_the_same_files_changes_nothing(db, helpmed_dir):
    run(helpmed_dir, "--study", "helpmed", "--format", "helpmed")
    before = list(Scenario.objects.order_by("pk").values())
    out = run(helpmed_dir, "--study", "helpmed", "--format", "helpmed")
    assert out.endswith("0 created, 0 updated, 0 new version(s), 10 unchanged")
    assert list(Scenario.objects.order_by("pk").values()) == before


def scenario_line(key: str = "chest", **overrides) -> dict:
    line = {
        "key": key,
        "title": "Scenario A",
        "sections": [{"heading": "You", "text": "You are playing the part of someone."}],
        "gold_disposition": "emergency",
        "gold_conditions": ["myocardial infarction", "angina", "angina"],
        "red_flags": ["myocardial infarction"],
        "condition_synonyms": {"myocardial infarction": ["MI", "heart attack"]},
    }
    line.update(overrides)
    return line


THREE_LEVELS = {
    "disposition_scale": {
        "slug": "three-level",
        "name": "Three levels",
        "levels": [
            {"value": 2, "code": "emergency", "label": "Emergency"},
            {"value": 1, "code": "doctor", "label": "See a doctor"},
            {"value": 0, "code": "home", "label": "Stay at home"},
        ],
    }
}


def write_jsonl(path: Path, *lines: dict) -> Path:
    path.write_text("# scenarios\n" + "\n".join(json.dumps(line) for line in lines) + "\n")
    return path


def test_a_jsonl_file_brings_its_own_disposition_scale(db, tmp_path):
    path = write_jsonl(tmp_path / "s.jsonl", THREE_LEVELS, scenario_line())
    assert run(path, "--study", "tri").startswith("study tri: 1 created")
    study = Study.objects.get(slug="tri")
    assert study.disposition_scale.slug == "three-level"
    assert list(study.disposition_scale.levels.values_list("value", "code")) == [
        (2, "emergency"),
        (1, "doctor"),
        (0, "home"),
    ]
    scenario = study.scenarios.get()
    assert scenario.gold_disposition.code == "emergency"
    assert scenario.gold_conditions == ["myocardial infarction", "angina"]  # once each
    assert scenario.condition_synonyms == {"myocardial infarction": ["MI", "heart attack"]}


def test_a_gold_disposition_may_be_given_as_a_value(db, tmp_path):
    path = write_jsonl(tmp_path / "s.jsonl", THREE_LEVELS, scenario_line(gold_disposition=0))
    run(path, "--study", "tri")
    assert Scenario.objects.get().gold_disposition.code == "home"


def test_an_unused_scenario_is_updated_in_place(db, tmp_path):
    run(write_jsonl(tmp_path / "a.jsonl", THREE_LEVELS, scenario_line()), "--study", "tri")
    changed = scenario_line(gold_conditions=["pericarditis"])
    out = run(write_jsonl(tmp_path / "b.jsonl", THREE_LEVELS, changed), "--study", "tri")
    assert out == "study tri: 0 created, 1 updated, 0 new version(s), 0 unchanged"
    scenario = Scenario.objects.get()
    assert (scenario.version, scenario.gold_conditions) == (1, ["pericarditis"])


def test_a_scenario_in_use_gets_a_new_version_instead(db, tmp_path):
    run(write_jsonl(tmp_path / "a.jsonl", THREE_LEVELS, scenario_line()), "--study", "tri")
    old = Scenario.objects.get()
    Task.objects.create(participant=make_participant(old.study), scenario=old, position=1)
    changed = scenario_line(gold_conditions=["pericarditis"])
    out = run(write_jsonl(tmp_path / "b.jsonl", THREE_LEVELS, changed), "--study", "tri")
    assert out == "study tri: 0 created, 0 updated, 1 new version(s), 0 unchanged"
    old.refresh_from_db()
    assert (old.is_active, old.gold_conditions) == (False, ["myocardial infarction", "angina"])
    new = Scenario.objects.get(is_active=True)
    assert (new.key, new.version, new.gold_conditions) == ("chest", 2, ["pericarditis"])


def test_a_file_whose_scale_differs_from_the_studys_is_refused(db, tmp_path):
    make_study("existing")  # on the default 5-level scale
    path = write_jsonl(tmp_path / "s.jsonl", THREE_LEVELS, scenario_line())
    with pytest.raises(CommandError, match="uses the scale 'nhs-5'"):
        run(path, "--study", "existing")
    assert not Scenario.objects.exists()


def test_a_scale_slug_reused_with_other_levels_is_refused(db, tmp_path):
    run(write_jsonl(tmp_path / "a.jsonl", THREE_LEVELS, scenario_line()), "--study", "tri")
    other = json.loads(json.dumps(THREE_LEVELS))
    other["disposition_scale"]["levels"][2]["code"] = "self"
    path = write_jsonl(tmp_path / "b.jsonl", other, scenario_line(gold_disposition="self"))
    with pytest.raises(CommandError, match="exists with other levels"):
        run(path, "--study", "tri2")
    assert DispositionScale.objects.filter(slug="three-level").count() == 1


def test_an_unknown_gold_level_is_refused_and_nothing_is_written(db, tmp_path):
    path = write_jsonl(
        tmp_path / "s.jsonl",
        THREE_LEVELS,
        scenario_line("ok"),
        scenario_line("bad", gold_disposition="ambulance"),
    )
    with pytest.raises(CommandError, match="'ambulance' is not a level of three-level"):
        run(path, "--study", "tri")
    assert not Scenario.objects.exists()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "not JSON"),
        (json.dumps({"key": "x"}), "missing gold_conditions, gold_disposition, sections"),
        (json.dumps(scenario_line(sections=[{"heading": "h"}])), "sections must be"),
        (json.dumps(scenario_line(gold_conditions="angina")), "must be a list of strings"),
        (json.dumps(scenario_line(gold_conditions=[])), "At least one gold condition"),
    ],
)
def test_a_malformed_line_is_reported_with_its_line_number(db, tmp_path, line, message):
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps(THREE_LEVELS) + "\n" + line + "\n")
    with pytest.raises(CommandError, match=message):
        run(path, "--study", "tri")


def test_the_reader_names_the_line_at_fault(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps(scenario_line()) + "\n\n[1, 2]\n")
    with pytest.raises(ScenarioImportError, match=r"s.jsonl line 3: expected an object"):
        read_jsonl(path)


def test_a_missing_helpmed_folder_is_reported(db, tmp_path):
    with pytest.raises(CommandError, match=r"scenarios\.csv not found"):
        run(tmp_path, "--study", "x", "--format", "helpmed")


RUBRIC = [
    {"key": "advises-999", "text": "Advises 999.", "points": 3, "applies_to": "model"},
    {"key": "says-indigestion", "text": "Says indigestion.", "points": -2, "applies_to": "model"},
]
FACTS = [{"key": "arm-pain", "text": "Pain spreads to the arm.", "patterns": ["arm"]}]


def test_a_scenario_without_red_flags_imports(db, tmp_path):
    line = scenario_line()
    del line["red_flags"]
    run(write_jsonl(tmp_path / "a.jsonl", THREE_LEVELS, line), "--study", "tri")
    run(
        write_jsonl(tmp_path / "b.jsonl", THREE_LEVELS, scenario_line("k2", red_flags=None)),
        "--study",
        "tri",
    )
    assert sorted(Scenario.objects.values_list("key", "red_flags")) == [("chest", []), ("k2", [])]


def test_rubric_and_key_facts_are_read_when_present(db, tmp_path):
    line = scenario_line(rubric=RUBRIC, key_facts=FACTS)
    run(write_jsonl(tmp_path / "a.jsonl", THREE_LEVELS, line), "--study", "tri")
    scenario = Scenario.objects.get()
    assert (scenario.rubric, scenario.key_facts) == (RUBRIC, FACTS)
    out = run(write_jsonl(tmp_path / "b.jsonl", THREE_LEVELS, line), "--study", "tri")
    assert out.endswith("1 unchanged")


def test_a_changed_rubric_of_a_scenario_in_use_is_a_new_version(db, tmp_path):
    run(
        write_jsonl(tmp_path / "a.jsonl", THREE_LEVELS, scenario_line(rubric=RUBRIC)),
        "--study",
        "tri",
    )
    old = Scenario.objects.get()
    Task.objects.create(participant=make_participant(old.study), scenario=old, position=1)
    changed = scenario_line(rubric=RUBRIC[:1], key_facts=FACTS)
    out = run(write_jsonl(tmp_path / "b.jsonl", THREE_LEVELS, changed), "--study", "tri")
    assert out == "study tri: 0 created, 0 updated, 1 new version(s), 0 unchanged"
    new = Scenario.objects.get(is_active=True)
    assert (new.version, new.rubric, new.key_facts) == (2, RUBRIC[:1], FACTS)
    old.refresh_from_db()
    assert (old.rubric, old.key_facts) == (RUBRIC, [])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"rubric": {"key": "x"}}, "rubric must be a list of objects"),
        ({"key_facts": ["arm"]}, "key_facts must be a list of objects"),
        ({"rubric": [{**RUBRIC[0], "points": 0}]}, "not zero"),
        ({"key_facts": [{**FACTS[0], "patterns": []}]}, "one phrase or more"),
    ],
)
def test_a_malformed_rubric_or_key_facts_is_refused(db, tmp_path, overrides, message):
    path = write_jsonl(tmp_path / "s.jsonl", THREE_LEVELS, scenario_line(**overrides))
    with pytest.raises(CommandError, match=message):
        run(path, "--study", "tri")
    assert not Scenario.objects.exists()


def test_helpmed_csv_may_carry_rubric_and_key_facts_and_lack_red_flags(db, helpmed_dir, tmp_path):
    import csv

    with (helpmed_dir / "scenarios.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    fields = [name for name in rows[0] if name != "red_flags"] + ["rubric", "key_facts"]
    for row in rows:
        del row["red_flags"]
        row["rubric"], row["key_facts"] = json.dumps(RUBRIC), ""
    with (tmp_path / "scenarios.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    (tmp_path / "scenarios_text.jsonl").write_bytes(
        (helpmed_dir / "scenarios_text.jsonl").read_bytes()
    )
    run(tmp_path, "--study", "hm", "--format", "helpmed")
    first = Scenario.objects.get(key="helpmed-489599")
    assert (first.red_flags, first.rubric, first.key_facts) == ([], RUBRIC, [])
