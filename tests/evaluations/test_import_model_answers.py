"""import_model_answers: HELPMed's model-alone answers become scored evaluation runs."""

from __future__ import annotations

import csv
import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from studyapp.evaluations.models import EvaluationItem, EvaluationRun
from studyapp.scoring.conditions import SCORER_VERSION
from studyapp.studies.models import Study
from tests.conftest import require
from tests.factories import make_scenario, make_study, shared_data_dir


def run(command: str, *args) -> str:
    out = StringIO()
    call_command(command, *[str(a) for a in args], stdout=out)
    return out.getvalue().strip()


@pytest.fixture
def helpmed_dir() -> Path:
    path = shared_data_dir() / "helpmed"
    require((path / "direct_trials_condition.csv").exists(), f"HELPMed data not at {path}")
    return path


def test_the_helpmed_import_reproduces_the_model_alone_condition_accuracy(db, helpmed_dir):
    run("import_scenarios", helpmed_dir, "--study", "helpmed", "--format", "helpmed")
    csv_path = helpmed_dir / "direct_trials_condition.csv"
    out = run("import_model_answers", csv_path, "--study", "helpmed", "--format", "helpmed")
    # Scored by our matcher against scenarios.csv's gold lists. HELPMed's own labels
    # (right) used slightly older lists: scenarios.csv adds "UTI" to scenario 489603's
    # differential, which one Command R+ answer names.
    assert out.splitlines() == [
        "helpmed-llama-3-70b: 600 answers; conditions correct 595/600 (HELPMed's label: 595/600)",
        "helpmed-command-r: 600 answers; conditions correct 546/600 (HELPMed's label: 545/600)",
        "helpmed-gpt-4o: 600 answers; conditions correct 568/600 (HELPMed's label: 568/600)",
    ]
    assert EvaluationItem.objects.count() == 1800
    gpt = EvaluationRun.objects.get(key="helpmed-gpt-4o")
    assert (gpt.kind, gpt.status, gpt.model_label) == ("model_alone", "succeeded", "GPT 4o")
    assert (gpt.items_total, gpt.items_done, gpt.items_failed) == (600, 600, 0)
    assert gpt.source.startswith("direct_trials_condition.csv sha256:")
    assert gpt.config["sampling_params"] == {"temperature": 0.8, "top_p": 0.9, "max_tokens": 256}
    item = gpt.items.exclude(matched_conditions=[]).first()
    assert item.scorer_version == SCORER_VERSION
    assert item.scenario.key == item.item_key
    assert item.parsed["helpmed"]["differential_correct"] in (True, False)
    assert not item.parsed["conditions_text"].lstrip().startswith("1")

    # Every answer's correct flag agrees with HELPMed's except that one.
    disagree = [
        (i.run.key, i.scenario.key)
        for i in EvaluationItem.objects.select_related("run", "scenario")
        if i.conditions_correct != i.parsed["helpmed"]["differential_correct"]
    ]
    assert disagree == [("helpmed-command-r", "helpmed-489603")]

    # The report shows each model with a Wilson interval, beside the (empty) arms.
    report = json.loads(run("study_report", "helpmed", "--format", "json"))
    by_model = {e["model"]: e for e in report["evaluations"]}
    assert set(by_model) == {"GPT 4o", "Llama 3 70B", "Command R+"}
    accuracy = by_model["GPT 4o"]["condition_accuracy"]
    assert (accuracy["n"], accuracy["correct"]) == (600, 568)
    assert accuracy["value"] == pytest.approx(0.9467, abs=5e-5)
    assert accuracy["ci_low"] < accuracy["value"] < accuracy["ci_high"]
    assert by_model["Llama 3 70B"]["condition_accuracy"]["value"] == pytest.approx(
        0.9917, abs=5e-5
    )
    assert by_model["GPT 4o"]["disposition_accuracy"]["n"] == 0  # not asked in this file
    assert by_model["GPT 4o"]["kind"] == "model_alone"

    # Importing again replaces, never duplicates.
    run("import_model_answers", csv_path, "--study", "helpmed")
    assert EvaluationItem.objects.count() == 1800
    assert EvaluationRun.objects.count() == 3


HEADER = ["", "model_text", "scenario_id", "reverse", "model", "differential_correct"]


def write_csv(path: Path, rows: list[list]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


@pytest.fixture
def small_study(db) -> Study:
    study = make_study("small")
    make_scenario(study, "helpmed-1", gold_conditions=["migraine", "meningitis"])
    make_scenario(study, "helpmed-2", gold_conditions=["gout"])
    return study


def test_each_model_becomes_one_run_scored_on_the_text_after_2(small_study, tmp_path):
    path = write_csv(
        tmp_path / "answers.csv",
        [
            [0, "1) Routine GP: migraine clinic\n2) Tension headache", 1, False, "M one", "True"],
            [1, "1) A&E\n2) Meningitis", 1, True, "M one", "True"],
            [0, "Gout, probably", 2, False, "M two", "True"],
        ],
    )
    run("import_model_answers", path, "--study", "small")
    one = EvaluationRun.objects.get(key="helpmed-m-one")
    assert list(one.items.values_list("repetition", "conditions_correct")) == [
        (0, False),  # "migraine" sits before "2)": not part of the conditions answer
        (1, True),
    ]
    assert EvaluationRun.objects.get(key="helpmed-m-two").items.get().matched_conditions == [
        "gout"
    ]


def test_a_shorter_file_removes_the_answers_it_no_longer_holds(small_study, tmp_path):
    rows = [[i, "Gout", 2, False, "M", "True"] for i in range(3)]
    run("import_model_answers", write_csv(tmp_path / "a.csv", rows), "--study", "small")
    run("import_model_answers", write_csv(tmp_path / "b.csv", rows[:2]), "--study", "small")
    run_ = EvaluationRun.objects.get()
    assert list(run_.items.values_list("repetition", flat=True)) == [0, 1]
    assert run_.items_total == 2


def test_answers_for_scenarios_the_study_lacks_are_refused(small_study, tmp_path):
    path = write_csv(tmp_path / "a.csv", [[0, "Gout", 9, False, "M", "True"]])
    with pytest.raises(CommandError, match="lacks scenarios helpmed-9: import them first"):
        run("import_model_answers", path, "--study", "small")
    assert not EvaluationRun.objects.exists()


def test_an_unknown_study_or_a_file_without_answers_is_refused(small_study, tmp_path):
    path = write_csv(tmp_path / "a.csv", [])
    with pytest.raises(CommandError, match="No study with slug 'nope'"):
        run("import_model_answers", path, "--study", "nope")
    with pytest.raises(CommandError, match="holds no answers"):
        run("import_model_answers", path, "--study", "small")


def test_helpmeds_model_answers_get_scenario_cluster_intervals(db, helpmed_dir):
    """GPT-4o names a gold condition in 568 of 600 answers, but one scenario scores under
    50%: resampling scenarios gives a far wider interval than Wilson's on 600 answers."""
    from statsmodels.stats.proportion import proportion_confint

    from studyapp.analysis.inference import cluster_bootstrap_ci
    from studyapp.evaluations.selectors import run_summary

    run("import_scenarios", helpmed_dir, "--study", "helpmed", "--format", "helpmed")
    csv_path = helpmed_dir / "direct_trials_condition.csv"
    run("import_model_answers", csv_path, "--study", "helpmed", "--format", "helpmed")
    gpt = EvaluationRun.objects.get(key="helpmed-gpt-4o")

    rate = run_summary(run=gpt)["outcomes"]["rates"]["conditions_correct"]

    items = list(gpt.items.values_list("conditions_correct", "scenario__key"))
    expected = cluster_bootstrap_ci(
        [float(ok) for ok, _ in items], [key for _, key in items], n_boot=2000, seed=0
    )
    assert (rate["k"], rate["n"], rate["n_scenarios"]) == (568, 600, 10)
    assert (rate["ci_low"], rate["ci_high"]) == expected
    wilson = proportion_confint(568, 600, method="wilson")
    assert rate["ci_low"] < wilson[0] - 0.05
    # Disposition was not asked in these answers: no disposition outcome, no confusion.
    assert run_summary(run=gpt)["outcomes"]["rates"]["disposition_exact"]["n"] == 0
