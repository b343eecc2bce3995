"""Information transfer (the first half of HELPMed's failure chain): bulk reads.

Which key facts participants told the model (scoring.facts, the matcher), per chat and
per fact, beside whether the model named a gold condition and whether the answer reported
one. The dashboard's section (`information_transfer`, six queries whatever the size), the
transcript page (`transcript_facts`, no query) and the `information_transfer` export
(`information_transfer_records`, streamed) read through here.

Whose messages: the participant's own (role "user"), every one of them, in order: the
model saw them all (chat.selectors.model_messages merges a message whose reply failed
into the next). A chat's turn n is the participant's n-th message.

"Named by the model" is the stored transcript score (analysis.ConversationScore,
`model_named_any`): the same rule, message by message, as evaluations.science.proposals
uses for what the model proposed (matched_conditions on each model message; a test
checks that the two agree), computed once per chat rather than per request, which the
fuzzy matcher could not afford. A chat without a current score counts as unknown, never
as "not named". "Reported in the answer" is the answer's stored score
(`Answer.conditions_correct`).

Facts are matched on every request rather than stored: the matcher is plain regular
expressions over participants' messages (tens of microseconds a message), and keeping
no copy means a change of key facts or of FACTS_MATCHER_VERSION needs no re-scoring.
The section is loaded by htmx after the dashboard, so it never slows the rest down.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter

from django.db.models import QuerySet

from studyapp.analysis.blinding import ArmView
from studyapp.analysis.information_tables import (
    InformationTables,
    ScenarioFacts,
    TranscriptFactsRow,
    information_tables,
)
from studyapp.analysis.selectors import AnswerFilters, participant_q, study_arm_views
from studyapp.chat.models import Conversation, Message
from studyapp.participation.models import humans_q, not_preview_q
from studyapp.scoring.conditions import SCORER_VERSION
from studyapp.scoring.facts import (
    FACTS_MATCHER_VERSION,
    FactsTranscript,
    TurnFacts,
    compile_facts,
    fact_results,
    facts_given,
)
from studyapp.studies.models import Scenario, Study

CHUNK = 2000
# Where a fact result came from (the export's `source` column). Raters and the rubric
# grader may add theirs later; only the matcher exists today.
SOURCE_MATCHER = "matcher"


@dataclass(frozen=True)
class StudyFacts:
    scenarios: list[ScenarioFacts]  # with key facts
    key_facts: dict[int, list[dict]]  # scenario id -> its key facts
    without: list[str]  # names of scenarios without key facts


def study_facts(*, study: Study) -> StudyFacts:
    """The study's scenario versions and their key facts (one query)."""
    scenarios: list[ScenarioFacts] = []
    key_facts: dict[int, list[dict]] = {}
    without: list[str] = []
    rows = (
        Scenario.objects.filter(study=study)
        .order_by("key", "version")
        .values_list("pk", "key", "version", "title", "key_facts")
    )
    for pk, key, version, title, facts in rows:
        name = key if version == 1 else f"{key} v{version}"
        if not facts:
            without.append(name)
            continue
        key_facts[pk] = facts
        scenarios.append(
            ScenarioFacts(
                id=pk,
                name=name,
                title=title,
                facts=tuple((f["key"], f["text"]) for f in facts),
            )
        )
    return StudyFacts(scenarios=scenarios, key_facts=key_facts, without=without)


def _participant_messages(conversations: QuerySet[Conversation]) -> Iterator[tuple[int, list]]:
    """(conversation id, [(message id, text), ...]) for each conversation that has
    participant messages, in conversation order, read in chunks (one query)."""
    rows = (
        Message.objects.filter(
            role=Message.Role.USER, conversation__in=conversations.order_by().values("pk")
        )
        .order_by("conversation_id", "sequence")
        .values_list("conversation_id", "pk", "text")
        .iterator(chunk_size=CHUNK)
    )
    for conversation_id, group in groupby(rows, key=itemgetter(0)):
        yield conversation_id, [(pk, text) for _c, pk, text in group]


def _answered_chats(study: Study, scenario_ids: Iterable[int]) -> QuerySet[Conversation]:
    return Conversation.objects.filter(
        task__participant__study=study,
        task__answer__isnull=False,
        task__scenario_id__in=list(scenario_ids),
    )


_CHAT_FIELDS = (
    "pk",
    "task__participant_id",
    "task__scenario_id",
    "task__answer__conditions_correct",
    "analysis_score__model_named_any",
    "analysis_score__scorer_version",
)


def _rows(
    chats: Sequence[tuple], messages: Iterator[tuple[int, list]], key_facts: Mapping[int, list]
) -> list[TranscriptFactsRow]:
    """`chats`: (`_CHAT_FIELDS`..., group id) rows. Each chat's messages are matched as
    they stream past, so only the results stay in memory."""
    compiled = {scenario_id: compile_facts(facts) for scenario_id, facts in key_facts.items()}
    scenario_of = {chat[0]: chat[2] for chat in chats}
    found: dict[int, tuple] = {}
    for conversation_id, said in messages:
        texts = [text for _pk, text in said]
        found[conversation_id] = (
            fact_results(compiled[scenario_of[conversation_id]], texts),
            len(texts),
        )
    out = []
    for pk, participant_id, scenario_id, answer_named, named, version, group_id in chats:
        facts, turns = found.get(pk) or (fact_results(compiled[scenario_id], []), 0)
        out.append(
            TranscriptFactsRow(
                conversation_id=pk,
                participant_id=participant_id,
                group_id=group_id,
                scenario_id=scenario_id,
                facts=facts,
                turns=turns,
                model_named=named if version == SCORER_VERSION else None,
                answer_named=answer_named,
            )
        )
    return out


def information_transfer(
    *, study: Study, filters: AnswerFilters, blinded: bool
) -> InformationTables:
    """The dashboard's information-transfer section: participants' answered chats under
    the filters, per arm; simulated patients' chats per simulated run beside them (the
    filters are about people, so they do not apply to those). Six queries."""
    arms = study_arm_views(study=study, blinded=blinded)
    facts = study_facts(study=study)
    chats = _answered_chats(study, facts.key_facts)
    human = chats.filter(
        participant_q(filters, prefix="task__participant__"),
        task__participant__arm__isnull=False,
    )
    human_rows = list(human.values_list(*_CHAT_FIELDS, "task__participant__arm_id"))
    simulated = chats.filter(
        ~humans_q("task__participant__"), task__evaluation_items__run__isnull=False
    )
    simulated_rows = list(
        simulated.values_list(
            *_CHAT_FIELDS,
            "task__evaluation_items__run_id",
            "task__evaluation_items__run__key",
            "task__evaluation_items__run__model_label",
            "task__evaluation_items__run__arm_id",
        ).distinct()
    )
    by_id = {arm.id: arm for arm in arms}
    runs: dict[int, tuple[int, str, ArmView | None]] = {}
    for *_fields, run_id, run_key, model_label, arm_id in simulated_rows:
        arm = by_id.get(arm_id)
        if blinded:
            name = f"simulated · arm {arm.name if arm else '?'} · run {run_id}"
        else:
            name = f"simulated · {run_key}" + (f" ({model_label})" if model_label else "")
        runs[run_id] = (run_id, name, arm)
    return information_tables(
        arms=arms,
        scenarios=facts.scenarios,
        rows=_rows(
            human_rows,
            _participant_messages(human) if human_rows else iter(()),
            facts.key_facts,
        ),
        simulated_runs=sorted(runs.values()),
        simulated_rows=_rows(
            [row[:7] for row in simulated_rows],
            _participant_messages(simulated) if simulated_rows else iter(()),
            facts.key_facts,
        ),
        scenarios_without_facts=facts.without,
        matcher_version=FACTS_MATCHER_VERSION,
    )


@dataclass(frozen=True)
class FactView:
    key: str
    text: str
    given: bool
    first_turn: int | None
    first_sequence: int | None  # the message's place in the chat (Message.sequence)
    negated_only: bool


@dataclass(frozen=True)
class TranscriptFacts:
    facts: list[FactView]
    # Message.sequence -> what that participant message told.
    by_sequence: dict[int, TurnFacts]
    matcher_version: str = FACTS_MATCHER_VERSION

    @property
    def told(self) -> int:
        return sum(f.given for f in self.facts)


def transcript_facts(
    *, key_facts: Sequence[Mapping], messages: Iterable[tuple[int, str, str]]
) -> TranscriptFacts | None:
    """One chat's key facts, by message, from the (sequence, role, text) messages a
    transcript page already has; None for a scenario without key facts. No query."""
    if not key_facts:
        return None
    said = [(sequence, text) for sequence, role, text in messages if role == Message.Role.USER]
    result: FactsTranscript = facts_given(key_facts, [text for _s, text in said])
    sequences = [sequence for sequence, _t in said]
    return TranscriptFacts(
        facts=[
            FactView(
                key=f.key,
                text=fact["text"],
                given=f.given,
                first_turn=f.first_turn,
                first_sequence=sequences[f.first_turn - 1] if f.first_turn else None,
                negated_only=f.negated_only,
            )
            for f, fact in zip(result.facts, key_facts, strict=True)
        ],
        by_sequence={
            sequences[turn.turn - 1]: turn for turn in result.turns if turn.given or turn.negated
        },
    )


def information_transfer_records(study: Study, include_pilot: bool = False) -> Iterator[dict]:
    """The `information_transfer` export: one record per chat x key fact, for every chat
    of the study in a scenario with key facts (participants' and simulated patients',
    answered or not; the pilot's with `include_pilot`, as every export), in chat order.
    Streamed: two cursors read side by side (chats, and participant messages in chat
    order), so memory holds one chat at a time."""
    facts = study_facts(study=study)
    chats = (
        Conversation.objects.filter(
            not_preview_q("task__participant__", include_pilot=include_pilot),
            task__participant__study=study,
            task__scenario_id__in=list(facts.key_facts),
        )
        .order_by("pk")
        .values_list(
            "pk",
            "task_id",
            "task__participant_id",
            "task__participant__arm_id",
            "task__scenario_id",
            "task__scenario__key",
            "task__scenario__version",
        )
        .iterator(chunk_size=CHUNK)
    )
    messages = _participant_messages(
        Conversation.objects.filter(
            not_preview_q("task__participant__", include_pilot=include_pilot),
            task__participant__study=study,
            task__scenario_id__in=list(facts.key_facts),
        )
    )
    compiled = {scenario_id: compile_facts(kf) for scenario_id, kf in facts.key_facts.items()}
    pending = next(messages, None)
    for pk, task_id, participant_id, arm_id, scenario_id, key, version in chats:
        said: list[tuple[int, str]] = []
        # Both are in conversation order; a chat without participant messages has none.
        while pending is not None and pending[0] < pk:
            pending = next(messages, None)
        if pending is not None and pending[0] == pk:
            said = pending[1]
            pending = next(messages, None)
        key_facts = facts.key_facts[scenario_id]
        results = fact_results(compiled[scenario_id], [text for _id, text in said])
        for f, fact in zip(results, key_facts, strict=True):
            yield {
                "conversation_id": pk,
                "task_id": task_id,
                "participant_id": participant_id,
                "arm_id": arm_id,
                "scenario_id": scenario_id,
                "scenario_key": key,
                "scenario_version": version,
                "fact_key": f.key,
                "fact_text": fact["text"],
                "given": f.given,
                "first_turn": f.first_turn,
                "first_message_id": said[f.first_turn - 1][0] if f.first_turn else None,
                "negated_only": f.negated_only,
                "participant_messages": len(said),
                "source": SOURCE_MATCHER,
                "matcher_version": FACTS_MATCHER_VERSION,
            }
