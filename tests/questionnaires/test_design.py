"""Questionnaires in study design files (the round trip is in tests/studies)."""

from __future__ import annotations

import copy

import pytest

from studyapp.questionnaires.design import LEFT_OUT, WRITTEN
from studyapp.studies.design_files import DesignFileError, design_export, design_import
from tests.questionnaires.conftest import add_baseline

pytestmark = pytest.mark.django_db


def test_every_field_is_written_or_left_out_on_purpose():
    for model, written in WRITTEN.items():
        fields = {f.name for f in model._meta.get_fields() if f.concrete}
        assert fields == set(written) | LEFT_OUT[model], model.__name__
        assert not set(written) & LEFT_OUT[model], model.__name__


def test_a_file_without_questionnaires_imports(control_study):
    design = design_export(control_study)
    assert design["questionnaires"] == []
    del design["questionnaires"]
    study = design_import(design, slug="older-file")
    assert not study.questionnaires.exists()


def test_a_bad_questionnaire_creates_nothing_and_is_named(control_study):
    add_baseline(control_study)
    design = design_export(control_study)
    broken = copy.deepcopy(design)
    broken["questionnaires"][0]["items"][0]["options"] = [{"value": "only", "label": "One"}]
    with pytest.raises(DesignFileError) as caught:
        design_import(broken, slug="broken")
    assert "questionnaires[baseline].items[uses_llm].options: Give at least two options." in (
        caught.value.errors
    )
    broken = copy.deepcopy(design)
    broken["questionnaires"][0]["items"][1]["condition"]["item"] = "nothing"
    with pytest.raises(DesignFileError) as caught:
        design_import(broken, slug="broken")
    assert caught.value.errors == [
        "questionnaires[baseline].items[how_often].condition: no earlier item 'nothing'"
    ]
    broken = copy.deepcopy(design)
    del broken["questionnaires"][0]["items"][2]["kind"]
    with pytest.raises(DesignFileError) as caught:
        design_import(broken, slug="broken")
    assert caught.value.errors == ["questionnaires[baseline].items[age]: missing kind"]
    from studyapp.studies.models import Study

    assert not Study.objects.filter(slug="broken").exists()
