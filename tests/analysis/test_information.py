"""Information transfer: the selector, the dashboard section, the transcript page and the
export, on the scored study with key facts added to its scenarios."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from studyapp.analysis import services
from studyapp.analysis.information import information_transfer, transcript_facts
from studyapp.analysis.models import ConversationScore
from studyapp.analysis.selectors import AnswerFilters
from studyapp.chat.models import Message
from studyapp.evaluations.kinds.model_alone import study_levels
from studyapp.evaluations.models import EvaluationItem, EvaluationRun
from studyapp.evaluations.science.proposals import proposals
from studyapp.participation.models import Participant
from studyapp.scoring.facts import FACTS_MATCHER_VERSION
from tests.analysis.informed import BELLY_FACTS
from tests.analysis.scored import ARM_SECRETS, add_scored_participants, scored_answer
from tests.factories import make_participant


def tables(study, **filters):
    return information_transfer(study=study, filters=AnswerFilters(**filters), blinded=False)


def test_it_shows_told_named_and_reported_per_arm(informed):
    services.conversation_scores_refresh(study=informed.study)
    info = tables(informed.study)
    assert [row.name for row in info.chains] == ["gptarmzq"]  # the control arm has no chat
    chain = info.chains[0]
    assert (chain.chats, chain.participants) == (3, 2)
    assert chain.told.value == pytest.approx(1 / 6)
    assert chain.told.ci_low <= 1 / 6 <= chain.told.ci_high
    assert (chain.told_all.successes, chain.told_all.n) == (0, 3)
    assert (chain.named.successes, chain.named.n) == (2, 3)
    assert (chain.reported.successes, chain.reported.n) == (2, 3)
    assert (chain.facts_told, chain.first_message.successes, chain.median_turn) == (1, 1, 1)
    assert chain.mean_turns == 1
    assert info.matcher_version == FACTS_MATCHER_VERSION


def test_it_lists_each_fact_and_those_never_told(informed):
    info = tables(informed.study)
    by_key = {row.key: row for row in info.facts}
    assert (by_key["right-side"].told, by_key["right-side"].chats) == (1, 2)
    assert by_key["right-side"].cells[0].median_turn == 1
    assert [row.key for row in info.never_told] == ["lifting", "fever"]  # by scenario key
    assert [row.scenario.name for row in info.scenarios] == ["back", "belly"]
    assert info.scenarios[1].cells[0].value == pytest.approx(0.25)
    assert info.curves[0].shares == pytest.approx((1 / 6,))


def test_a_chat_not_scored_yet_is_unknown_not_unnamed(informed):
    chain = tables(informed.study).chains[0]
    assert chain.named.n == 0 and chain.named.value is None
    assert chain.reported.n == 3


def test_the_dashboard_filters_apply(informed):
    # p2 is consented, not completed.
    chain = tables(informed.study, completed_only=True).chains[0]
    assert (chain.chats, chain.participants) == (2, 1)
    assert chain.told.value == pytest.approx(0.25)
    assert chain.told.ci_low is None  # one participant: no interval


def test_scenarios_without_key_facts_are_named_and_their_chats_left_out(informed):
    informed.back.key_facts = []
    informed.back.save(update_fields=["key_facts"])
    info = tables(informed.study)
    assert info.scenarios_without_facts == ["back"]
    assert info.chains[0].chats == 2


def test_a_negated_mention_is_counted_for_review(informed):
    p = make_participant(informed.study, arm=informed.llm, status=Participant.Status.COMPLETED)
    scored_answer(p, informed.belly, 1, "ae", "x", chat=[("user", "no fever, I think")])
    fever = next(row for row in tables(informed.study).facts if row.key == "fever")
    assert (fever.told, fever.negated_only) == (0, 1)


def _simulated_chat(data, *, text: str) -> EvaluationRun:
    run = EvaluationRun.objects.create(
        study=data.study,
        key="sim-run-zq",
        kind="simulated",
        model_label="patient-zq",
        arm=data.llm,
    )
    patient = make_participant(
        data.study, arm=data.llm, status=Participant.Status.CONSENTED, is_simulated=True
    )
    answer = scored_answer(patient, data.belly, 1, "ae", "appendicitis", chat=[("user", text)])
    EvaluationItem.objects.create(run=run, scenario=data.belly, item_key="belly", task=answer.task)
    return run


def test_simulated_patients_are_shown_per_run_and_never_in_the_arm_rows(informed):
    before = tables(informed.study)
    run = _simulated_chat(informed, text="Pain on the right and a fever of 39")
    after = tables(informed.study)
    assert after.chains == before.chains
    assert after.facts == before.facts
    assert [row.name for row in after.simulated] == ["simulated · sim-run-zq (patient-zq)"]
    assert after.simulated[0].told.value == 1.0
    blinded = information_transfer(
        study=informed.study, filters=AnswerFilters(), blinded=True
    ).simulated[0]
    assert blinded.name == f"simulated · arm {blinded.arm.letter} · run {run.pk}"


def test_named_by_the_model_is_what_proposals_find(informed):
    """The stored transcript score and evaluations.science.proposals apply the same rule
    to each model message: the chain's "named" is the proposals' union of conditions."""
    p = make_participant(informed.study, arm=informed.llm, status=Participant.Status.COMPLETED)
    chat = [
        ("user", "right side pain"),
        ("assistant", "Could be ovarian torsion."),
        ("user", "really?"),
        ("assistant", "Or Appendicitis; see a doctor today."),
    ]
    answer = scored_answer(p, informed.belly, 1, "ae", "x", chat=chat)
    services.conversation_scores_refresh(study=informed.study)
    stored = ConversationScore.objects.get(conversation__task=answer.task).model_named
    found = proposals(
        chat, levels=study_levels(informed.study), gold_terms=informed.belly.gold_conditions
    )
    union = {term for proposal in found for term in proposal.conditions}
    assert set(stored) == union == {"appendicitis", "ovarian torsion"}


# --- the page ------------------------------------------------------------------------


@pytest.fixture
def url(informed):
    return reverse("analysis:information", args=[informed.study.slug])


def test_the_dashboard_loads_the_section_under_its_filters(client, alice, informed):
    client.force_login(alice)
    dashboard = reverse("analysis:dashboard", args=[informed.study.slug])
    html = client.get(dashboard, {"completed_only": "1", "blinded": "1"}).content.decode()
    section = reverse("analysis:information", args=[informed.study.slug])
    assert f'hx-get="{section}?completed_only=1&amp;blinded=1"' in html


def test_the_section_renders_the_chain(client, alice, informed, url):
    services.conversation_scores_refresh(study=informed.study)
    client.force_login(alice)
    response = client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="information-transfer"' in html
    assert "16.7%" in html  # told, mean
    assert "66.7%" in html  # named and reported
    assert 'id="facts-never-told"' in html
    assert "He lifted a heavy box." in html
    assert '<script id="information-turns" type="application/json">' in html


def test_blinded_it_names_arms_by_letter_only(client, alice, informed, url):
    _simulated_chat(informed, text="fever")
    client.force_login(alice)
    html = client.get(url, {"blinded": "1"}).content.decode()
    for secret in (*ARM_SECRETS, "sim-run-zq", "patient-zq"):
        assert secret not in html
    letter = client.get(url, {"blinded": "1"}).context["info"].arms[0].letter
    assert f'<th scope="row">{letter}</th>' in html


def test_it_escapes_fact_texts(client, alice, informed, url):
    informed.back.key_facts = [
        {"key": "x", "text": "<script>alert(1)</script>", "patterns": ["<b>lift</b>"]}
    ]
    informed.back.save(update_fields=["key_facts"])
    client.force_login(alice)
    html = client.get(url).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_it_is_for_the_studys_investigators_only(client, bob, informed, url):
    assert client.get(url).status_code in (302, 401)
    client.force_login(bob)
    assert client.get(url).status_code == 404


def test_an_empty_study_says_so(client, alice, informed, url):
    Message.objects.all().delete()
    informed.belly.key_facts = informed.back.key_facts = []
    informed.belly.save(update_fields=["key_facts"])
    informed.back.save(update_fields=["key_facts"])
    client.force_login(alice)
    html = client.get(url).content.decode()
    assert "No answered chats in scenarios with key facts" in html


def _count(client, url, **params) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url, params).status_code == 200
    return len(queries.captured_queries)


@pytest.mark.parametrize("params", [{}, {"blinded": "1", "completed_only": "1"}])
def test_its_query_count_does_not_grow_with_the_data(client, alice, informed, url, params):
    _simulated_chat(informed, text="fever")
    client.force_login(alice)
    client.get(url)  # the session refresh after a login, out of the count
    small = _count(client, url, **params)
    add_scored_participants(informed, 30)
    services.conversation_scores_refresh(study=informed.study, limit=10)
    assert _count(client, url, **params) == small
    # session, user, study; arms, scenarios, human chats, their messages, simulated chats,
    # their messages.
    assert small <= 9


# --- the transcript page -------------------------------------------------------------


def test_transcript_facts_map_each_fact_to_its_message():
    messages = [
        (1, "user", "hi"),
        (2, "assistant", "Hello, is it on the right?"),
        (3, "user", "yes, on the right, and no fever"),
        (4, "user", "oh and a temperature now"),
    ]
    facts = transcript_facts(key_facts=BELLY_FACTS, messages=messages)
    assert [(f.key, f.first_turn, f.first_sequence) for f in facts.facts] == [
        ("right-side", 2, 3),
        ("fever", 3, 4),
    ]
    assert facts.by_sequence[3].given == ("right-side",)
    assert facts.by_sequence[3].negated == ("fever",)
    assert 1 not in facts.by_sequence and 2 not in facts.by_sequence
    assert facts.told == 2
    assert transcript_facts(key_facts=[], messages=messages) is None


def test_the_transcript_page_shows_the_facts_by_message(client, alice, informed):
    task = informed.p1.tasks.get(scenario=informed.belly)
    client.force_login(alice)
    url = reverse("analysis:transcript", args=[informed.study.slug, task.pk])
    html = client.get(url).content.decode()
    assert 'id="key-facts"' in html
    assert "The pain is low on the right." in html
    assert "Key fact first told here" in html
