"""The builder's disposition scale pages (studies.views_scales, studies.scales): a new
scale with its levels as rows, a copy, the editor's locks and who may use it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from studyapp.audit.models import AuditEntry
from studyapp.participation.models import Answer, Task
from studyapp.studies import builder, scales
from studyapp.studies.design_files import design_export, design_import
from studyapp.studies.models import DispositionLevel, DispositionScale, ModelEndpoint, Study
from studyapp.studies.services import disposition_scale_get_or_create_default
from tests.factories import make_member, make_participant, make_scenario, make_study

THREE = [("Emergency", "", "Go now."), ("See a doctor", "doctor", ""), ("Stay home", "", "")]


def rows(levels=THREE, ids=None) -> dict:
    ids = ids or [""] * len(levels)
    return {
        "level_id": ids,
        "level_label": [label for label, _, _ in levels],
        "level_code": [code for _, code, _ in levels],
        "level_description": [d for _, _, d in levels],
    }


def post_new(client, name="Three levels", levels=THREE, **extra):
    data = {"name": name, "description": "Ours.", **rows(levels), **extra}
    return client.post(reverse("studies:scale_new"), data)


def make_scale(owner, name="Three levels") -> DispositionScale:
    return scales.scale_create(
        name=name,
        description="",
        levels=[
            {"label": lb, "code": c or lb.lower().replace(" ", "-"), "description": d}
            for lb, c, d in THREE
        ],
        owner=owner,
    )


def test_it_creates_a_scale_with_its_rows_in_order(client, alice):
    client.force_login(alice)
    response = post_new(client)
    assert response.status_code == 302
    scale = DispositionScale.objects.get(slug="three-levels")
    assert scale.owner == alice and scale.description == "Ours."
    levels = list(scale.levels.order_by("-value").values_list("value", "code", "label"))
    # value = position, the first row the most acute; an empty code comes from the label.
    assert levels == [
        (2, "emergency", "Emergency"),
        (1, "doctor", "See a doctor"),
        (0, "stay-home", "Stay home"),
    ]


def test_a_taken_slug_gets_a_number(client, alice):
    client.force_login(alice)
    post_new(client)
    post_new(client)
    assert DispositionScale.objects.filter(slug="three-levels-2", owner=alice).exists()


def test_the_row_buttons_change_the_rows_and_save_nothing(client, alice):
    client.force_login(alice)
    response = post_new(client, level_action="up-2", headers={"HX-Request": "true"})
    html = response.content.decode()
    assert (
        response.status_code == 200
        and not DispositionScale.objects.filter(slug="three-levels").exists()
    )
    assert html.index('value="Stay home"') < html.index('value="See a doctor"')
    html = post_new(client, level_action="add").content.decode()
    assert html.count('name="level_label"') == 4
    html = post_new(client, level_action="remove-0").content.decode()
    assert html.count('name="level_label"') == 2 and 'value="Emergency"' not in html


@pytest.mark.parametrize(
    ("levels", "where", "message"),
    [
        ([("Only one", "", "")], "levels-error", "at least two levels"),
        ([("A", "same", ""), ("B", "same", "")], "level-code-1-error", "has this code"),
        ([("A", "", ""), ("B", "not a slug!", "")], "level-code-1-error", "Letters, digits"),
        ([("A", "a", ""), ("", "b", "")], "level-label-1-error", "the level&#x27;s label"),
        ([("A", "", ""), ("", "", "")], "level-code-1-error", "Give a code"),
    ],
)
def test_it_says_what_is_wrong_beside_the_row(client, alice, levels, where, message):
    client.force_login(alice)
    response = post_new(client, levels=levels)
    assert response.status_code == 400
    html = response.content.decode()
    assert f'id="{where}"' in html
    error = html[html.index(f'id="{where}"') :].split("</", 1)[0]
    assert message in error
    assert not DispositionScale.objects.filter(owner=alice).exists()


def test_a_missing_name_is_said_beside_the_name(client, alice):
    client.force_login(alice)
    response = post_new(client, name="")
    assert response.status_code == 400
    assert 'id="id_name-error"' in response.content.decode()


def test_it_copies_any_scale_as_a_new_one_of_the_user(client, alice):
    default = disposition_scale_get_or_create_default()
    client.force_login(alice)
    url = reverse("studies:scale_new") + f"?from={default.slug}"
    html = client.get(url).content.decode()
    assert f"a copy of {default.name}" in html
    assert html.count('name="level_label"') == default.levels.count()
    assert (
        'name="level_id" value=""' in html and f'value="{default.levels.first().pk}"' not in html
    )
    levels = [(lv.label, lv.code, lv.description) for lv in default.levels.order_by("-value")]
    response = client.post(url, {"name": "Mine", "description": "", **rows(levels)})
    assert response.status_code == 302
    copy = DispositionScale.objects.get(slug="mine")
    assert copy.owner == alice
    assert list(copy.levels.order_by("value").values_list("value", "code")) == list(
        default.levels.order_by("value").values_list("value", "code")
    )
    assert default.levels.count() == len(levels)  # the original is as it was


def test_the_owner_edits_texts_and_levels_and_the_levels_keep_their_rows(client, alice):
    scale = make_scale(alice)
    study = make_study("draft", status=Study.Status.DRAFT, disposition_scale=scale)
    make_member(study, alice)
    scenario = make_scenario(study, "s1", level_code="doctor")
    ids = [str(pk) for pk in scale.levels.order_by("-value").values_list("pk", flat=True)]
    client.force_login(alice)
    url = reverse("studies:scale_edit", args=[scale.pk])
    levels = [("Emergency", "999", ""), ("GP", "doctor", "Book one"), ("Stay home", "", "")]
    # The last two swapped: the doctor level moves down, keeping its scenario.
    order = [levels[0], levels[2], levels[1]]
    data = {"name": "Renamed", "description": "", **rows(order, [ids[0], ids[2], ids[1]])}
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    scale.refresh_from_db()
    assert scale.name == "Renamed"
    assert list(scale.levels.order_by("-value").values_list("code", "value")) == [
        ("999", 2),
        ("stay-home", 1),
        ("doctor", 0),
    ]
    scenario.refresh_from_db()
    assert scenario.gold_disposition.code == "doctor" and scenario.gold_disposition.label == "GP"


def test_removing_a_scenarios_gold_level_is_refused(client, alice):
    scale = make_scale(alice)
    study = make_study("draft", status=Study.Status.DRAFT, disposition_scale=scale)
    make_member(study, alice)
    make_scenario(study, "s1", level_code="doctor")
    ids = [str(pk) for pk in scale.levels.order_by("-value").values_list("pk", flat=True)]
    client.force_login(alice)
    data = {"name": "X", "description": "", **rows([THREE[0], THREE[2]], [ids[0], ids[2]])}
    response = client.post(reverse("studies:scale_edit", args=[scale.pk]), data)
    assert response.status_code == 400
    assert "scenario s1" in response.content.decode()
    assert scale.levels.count() == 3


@pytest.mark.parametrize("how", ["live", "participant", "answer"])
def test_a_used_scale_is_read_only_with_the_reason_and_a_copy_link(client, alice, how):
    scale = make_scale(alice)
    study = make_study(
        "used",
        status=Study.Status.LIVE if how == "live" else Study.Status.DRAFT,
        disposition_scale=scale,
    )
    make_member(study, alice)
    scenario = make_scenario(study, "s1", level_code="doctor")
    if how != "live":
        participant = make_participant(study, is_preview=how == "answer")
        if how == "answer":  # a preview's answer: the study is not started, its data is
            task = Task.objects.create(participant=participant, scenario=scenario, position=1)
            Answer.objects.create(
                task=task, disposition=scenario.gold_disposition, conditions_text="x"
            )
    client.force_login(alice)
    url = reverse("studies:scale_edit", args=[scale.pk])
    html = client.get(url).content.decode()
    assert 'id="scale-locked"' in html and 'id="scale-copy-link"' in html
    assert 'id="scale-save"' not in html
    response = client.post(url, {"name": "Changed", "description": "", **rows()})
    assert response.status_code == 200
    scale.refresh_from_db()
    assert scale.name == "Three levels"


def test_a_draft_nobody_entered_does_not_lock_the_scale(alice):
    scale = make_scale(alice)
    study = make_study("draft", status=Study.Status.DRAFT, disposition_scale=scale)
    make_member(study, alice)
    make_participant(study, is_preview=True)  # an investigator's preview is nobody
    assert scales.scale_editable_reason(scale, alice) is None


def test_a_scale_another_investigators_study_uses_is_locked(alice, bob):
    scale = make_scale(alice)
    make_member(make_study("bobs", status=Study.Status.DRAFT, disposition_scale=scale), bob)
    assert "bobs" in scales.scale_editable_reason(scale, alice)


def test_built_in_and_others_scales_are_not_edited(client, alice, bob):
    default = disposition_scale_get_or_create_default()
    bobs = make_scale(bob)
    client.force_login(alice)
    for scale in (default, bobs):
        url = reverse("studies:scale_edit", args=[scale.pk])
        assert client.get(url).status_code == 404
        assert client.post(url, {"name": "Mine now", **rows()}).status_code == 404
    assert "built in" in scales.scale_editable_reason(default, alice)
    with pytest.raises(Exception, match="built in"):
        scales.scale_update(scale_id=default.pk, name="x", description="", levels=[], user=alice)
    bobs.refresh_from_db()
    assert bobs.name == "Three levels"


def test_the_list_shows_every_scale_and_edits_only_ones_own(client, alice, bob):
    default = disposition_scale_get_or_create_default()
    mine, bobs = make_scale(alice, "Mine"), make_scale(bob, "Bob's")
    client.force_login(alice)
    html = client.get(reverse("studies:scales")).content.decode()
    for scale in (default, mine, bobs):
        assert f'id="scale-{scale.slug}"' in html
    assert reverse("studies:scale_edit", args=[mine.pk]) in html
    assert reverse("studies:scale_edit", args=[bobs.pk]) not in html
    assert reverse("studies:scale_edit", args=[default.pk]) not in html


def test_a_ui_made_scale_is_chosen_and_its_levels_are_the_gold_choices(client, alice):
    client.force_login(alice)
    post_new(client)
    scale = DispositionScale.objects.get(slug="three-levels")
    study = make_study("draft", status=Study.Status.DRAFT)
    make_member(study, alice)
    builder.study_settings_update(study_id=study.pk, values={"disposition_scale": scale})
    html = client.get(reverse("studies:scenario_new", args=[study.slug])).content.decode()
    select = html[html.index('name="gold_disposition"') :].split("</select>", 1)[0]
    labels = [lv.label for lv in DispositionLevel.objects.filter(scale=scale).order_by("-value")]
    assert [label in select for label in labels] == [True, True, True]
    assert select.index("Emergency") < select.index("See a doctor") < select.index("Stay home")
    assert "A&amp;E" not in select


def test_the_settings_and_new_study_pages_link_to_a_new_scale(client, alice):
    study = make_study("draft", status=Study.Status.DRAFT)
    make_member(study, alice)
    client.force_login(alice)
    for url in (reverse("studies:settings", args=[study.slug]), reverse("studies:study_new")):
        assert 'id="scale-new-link"' in client.get(url).content.decode()


def test_saving_goes_back_to_the_page_that_asked(client, alice):
    client.force_login(alice)
    back = reverse("studies:settings", args=["draft"])
    assert post_new(client, next=back)["Location"] == back
    assert post_new(client, next="https://evil.example/")["Location"] == reverse("studies:scales")


def test_a_ui_made_scale_round_trips_through_a_design_file(alice):
    scale = make_scale(alice)
    study = make_study("draft", status=Study.Status.DRAFT, disposition_scale=scale)
    make_member(study, alice)
    make_scenario(study, "s1", level_code="doctor")
    copy = design_import(
        design_export(study),
        slug="copy",
        user=alice,
        endpoints=ModelEndpoint.objects.all(),
        may_create_endpoints=True,
    )
    # The same scale (slug, texts, levels): used as it is, not duplicated.
    assert copy.disposition_scale_id == scale.pk
    assert copy.scenarios.get(key="s1").gold_disposition.code == "doctor"


def test_creating_and_changing_a_scale_is_on_the_audit_trail(client, alice):
    client.force_login(alice)
    post_new(client)
    scale = DispositionScale.objects.get(slug="three-levels")
    created = AuditEntry.objects.filter(
        object_type="studies.dispositionscale", object_id=str(scale.pk), action="create"
    ).get()
    assert created.actor == alice and created.chain == "global"
    assert (
        AuditEntry.objects.filter(object_type="studies.dispositionlevel", actor=alice).count() == 3
    )
    ids = [str(pk) for pk in scale.levels.order_by("-value").values_list("pk", flat=True)]
    levels = [("Emergency", "emergency", ""), ("Doctor", "doctor", ""), ("Stay home", "", "")]
    url = reverse("studies:scale_edit", args=[scale.pk])
    client.post(url, {"name": "Three", "description": "", **rows(levels, ids)})
    change = AuditEntry.objects.filter(
        object_type="studies.dispositionlevel", object_id=ids[1], action="change"
    ).last()
    assert change.actor == alice
    assert change.before["label"] == "See a doctor" and change.after["label"] == "Doctor"


def settings_post(client, study, scale):
    data = {
        "title": study.title,
        "public_title": study.public_title or study.title,
        "consent_text": study.consent_text,
        "instructions_text": study.instructions_text,
        "disposition_question": study.disposition_question,
        "conditions_question": study.conditions_question,
        "disposition_scale": scale.pk,
        "languages": ", ".join(study.languages),
    }
    return client.post(reverse("studies:settings", args=[study.slug]), data)


def copy_of_default(owner, **labels) -> DispositionScale:
    default = disposition_scale_get_or_create_default()
    return scales.scale_create(
        name="NHS, our wording",
        description="",
        levels=[
            {"code": lv.code, "label": labels.get(lv.code, lv.label), "description": ""}
            for lv in default.levels.order_by("-value")
        ],
        owner=owner,
    )


def test_a_new_scale_takes_the_scenarios_along_by_code(client, alice):
    study = make_study("draft", status=Study.Status.DRAFT)
    make_member(study, alice)
    s1, s2 = make_scenario(study, "s1"), make_scenario(study, "s2", level_code="self_care")
    ours = copy_of_default(alice, ae="Emergency department")
    client.force_login(alice)
    response = settings_post(client, study, ours)
    assert response.status_code == 302
    study.refresh_from_db()
    s1.refresh_from_db()
    s2.refresh_from_db()
    assert study.disposition_scale == ours
    assert (s1.gold_disposition.scale, s1.gold_disposition.label) == (ours, "Emergency department")
    assert (s2.gold_disposition.scale, s2.gold_disposition.code) == (ours, "self_care")
    assert "by their codes" in client.get(response["Location"]).content.decode()


def test_a_scale_without_a_scenarios_code_is_refused_naming_it(client, alice):
    study = make_study("draft", status=Study.Status.DRAFT)
    make_member(study, alice)
    make_scenario(study, "s1", level_code="self_care")
    client.force_login(alice)
    response = settings_post(client, study, make_scale(alice))
    assert response.status_code == 400
    html = response.content.decode()
    error = html[html.index('id="id_disposition_scale-error"') :].split("</span>", 1)[0]
    assert "no level coded self_care" in error and "delete the scenarios first" in error
    study.refresh_from_db()
    assert study.disposition_scale.slug == "nhs-5"


def test_scenarios_a_preview_used_keep_the_scale(client, alice):
    study = make_study("draft", status=Study.Status.DRAFT)
    make_member(study, alice)
    scenario = make_scenario(study, "s1")
    Task.objects.create(
        participant=make_participant(study, is_preview=True), scenario=scenario, position=1
    )
    client.force_login(alice)
    response = settings_post(client, study, copy_of_default(alice))
    assert response.status_code == 400
    assert "Previews or evaluations used scenario(s) s1" in response.content.decode()
    scenario.refresh_from_db()
    assert scenario.gold_disposition.scale.slug == "nhs-5"
