"""Study data for R and pandas: CSV, JSONL and Parquet, streamed in constant memory.

Ten tables (participants, tasks, answers with their scores, messages, allocations, the
raters' labels and adjudications, information transfer: the key facts each chat gave,
and the rubric grader's scores and verdicts) and a data dictionary describing every
column. Each table is defined once below, its columns next to the ORM lookups (or
computed record keys) that fill them, so the dictionary cannot drift from the files.

Rows are read with `values_list(...).iterator(chunk_size=CHUNK)` (a server-side cursor on
PostgreSQL) and written out a chunk at a time: CSV and JSONL as text lines, Parquet as one
row group per ROW_GROUP rows through `pyarrow.parquet.ParquetWriter`. Memory therefore
depends on the chunk sizes, not on the number of rows.

Never exported: participant tokens (they open a participant's session), session data,
API keys. Prolific PIDs appear as pseudonyms (analysis.identifiers); raw PIDs and
SESSION_IDs only in an export asked for with raw identifiers, which an investigator must
have released and which is recorded. Blinded exports name arms by letter only and leave
out every column that could identify an arm (its key, kind, label, model), and never
carry raw identifiers.

CSV text cells that a spreadsheet would run as a formula (OWASP "CSV injection": a first
character of = + - @, tab or carriage return) get a leading ' (csv_text); JSONL and
Parquet keep every value verbatim, for R and pandas.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import islice
from operator import itemgetter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from django.db.models import BooleanField, CharField, Exists, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from studyapp.analysis import selectors
from studyapp.analysis.blinding import arm_views
from studyapp.analysis.identifiers import PSEUDONYM_HEX, pseudonymizer
from studyapp.analysis.information import information_transfer_records
from studyapp.analysis.models import ScoreCorrection
from studyapp.chat.models import Message
from studyapp.evaluations.models import EvaluationItem
from studyapp.evaluations.selectors_rubric import rubric_score_records
from studyapp.participation.models import Allocation, Answer, Participant, Task, not_preview_q
from studyapp.questionnaires.coding import item_entry
from studyapp.questionnaires.models import ItemAnswer
from studyapp.questionnaires.selectors import study_questionnaires_with_items
from studyapp.ratings.models import Adjudication, Label
from studyapp.scoring.facts import FACTS_MATCHER_VERSION
from studyapp.studies.models import Study

CHUNK = 2000
ROW_GROUP = 10_000
FORMATS = {
    "csv": "text/csv",
    "jsonl": "application/x-ndjson",
    "parquet": "application/vnd.apache.parquet",
}

# Column types, as the data dictionary names them, and their Parquet types.
ARROW_TYPES = {
    "integer": pa.int64(),
    "float": pa.float64(),
    "string": pa.string(),
    "boolean": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "list[string]": pa.list_(pa.string()),
}


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    meaning: str
    # The ORM lookup that fills it (relative to the table's model).
    lookup: str
    # "arm_key" / "arm_letter": the lookup gives an arm id, shown as key or letter;
    # "pseudonym": the lookup gives a Prolific PID, shown as its pseudonym;
    # "json": the lookup gives a JSON value, written as JSON text.
    convert: str | None = None
    # Left out of blinded exports: it would tell which arm is which.
    reveals_arm: bool = False
    # A raw identifier of a person: only in exports with raw identifiers.
    identifies: bool = False


def _arm_columns(lookup: str) -> list[Column]:
    return [
        Column(
            "arm",
            "string",
            "Arm key (as configured by the investigators).",
            lookup,
            convert="arm_key",
            reveals_arm=True,
        ),
        Column(
            "arm_letter",
            "string",
            "Arm as a blinded letter (A, B, C...); the same letter on the dashboard.",
            lookup,
            convert="arm_letter",
        ),
    ]


@dataclass(frozen=True)
class Table:
    name: str
    meaning: str
    columns: tuple[Column, ...]
    # Where the rows come from: a queryset (columns' lookups are ORM lookups), or a
    # `source` computed in Python that yields one dict per row, its keys the lookups
    # (streamed too: information_transfer matches each chat as it reads it).
    queryset: Callable[[Study], QuerySet] | None = None
    order_by: tuple[str, ...] = ("pk",)
    notes: list[str] = field(default_factory=list)
    # (study, include_pilot) -> records.
    source: Callable[[Study, bool], Iterator[dict]] | None = None
    # The lookup of the row's participant's is_pilot: the pilot's rows are left out unless
    # the export asks for them (rows(include_pilot=True), ?pilot=include), as humans_q.
    pilot_lookup: str | None = None

    def visible_columns(self, *, blinded: bool, raw_identifiers: bool = False) -> list[Column]:
        # Raw identifiers never appear blinded, whatever the caller asked for.
        raw = raw_identifiers and not blinded
        return [
            c
            for c in self.columns
            if not (blinded and c.reveals_arm) and (raw or not c.identifies)
        ]


PARTICIPANTS = Table(
    name="participants",
    meaning="One row per participant who opened the study link.",
    queryset=lambda study: Participant.objects.filter(
        not_preview_q(include_pilot=True), study=study
    ),
    pilot_lookup="is_pilot",
    columns=(
        Column(
            "participant_id",
            "integer",
            "Participant id: a row number of this server, stable across exports; not the "
            "link token, not a Prolific id.",
            "pk",
        ),
        *_arm_columns("arm_id"),
        Column("arm_kind", "string", "llm or control.", "arm__kind", reveals_arm=True),
        Column(
            "status",
            "string",
            "started, consented, completed, consent_declined, screened_out, timed_out, "
            "withdrawn, returned, failed_check, study_full or technical_problem.",
            "status",
        ),
        Column(
            "is_simulated",
            "boolean",
            "True for a simulated patient of an evaluation run (an LLM, not a person): "
            "never allocated through the ledger; leave these rows out of human analyses "
            "(join tasks, answers and messages through participant_id).",
            "is_simulated",
        ),
        Column(
            "is_pilot",
            "boolean",
            "True for a participant of the study's pilot (enrolled while the study was in "
            "its pilot: real consent and allocation). Pilot rows are in an export only when "
            "it asks for them (?pilot=include on the page, --include-pilot): the main "
            "analysis leaves them out.",
            "is_pilot",
        ),
        Column("stratum", "string", "Allocation stratum (empty: unstratified).", "stratum"),
        Column(
            "language",
            "string",
            "Language the participant took part in (chosen at entry, e.g. en).",
            "language",
        ),
        Column(
            "prolific_pid_pseudonym",
            "string",
            f"Pseudonym of the Prolific PID ({PSEUDONYM_HEX} hex digits of HMAC-SHA256 under "
            "this server's export key): the same in every export of this study, different "
            "in other studies (empty: no PID).",
            "prolific_pid",
            convert="pseudonym",
        ),
        Column(
            "prolific_pid",
            "string",
            "Prolific participant id (raw identifier exports only).",
            "prolific_pid",
            identifies=True,
        ),
        Column("prolific_study_id", "string", "Prolific STUDY_ID.", "prolific_study_id"),
        Column(
            "prolific_session_id",
            "string",
            "Prolific SESSION_ID (raw identifier exports only).",
            "prolific_session_id",
            identifies=True,
        ),
        Column(
            "screening_answer", "string", "Answer to the screening question.", "screening_answer"
        ),
        Column(
            "check_failures", "integer", "Wrong answers to the attention check.", "check_failures"
        ),
        Column(
            "check_passed_at",
            "timestamp",
            "When the attention check was passed (empty: not passed or none asked).",
            "check_passed_at",
        ),
        Column("created_at", "timestamp", "Entered the study (enrolment).", "created_at"),
        Column("consented_at", "timestamp", "Gave consent.", "consented_at"),
        Column(
            "instructions_read_at", "timestamp", "Read the instructions.", "instructions_read_at"
        ),
        Column("completed_at", "timestamp", "Finished every task.", "completed_at"),
        Column(
            "last_seen_at", "timestamp", "Last request seen from the participant.", "last_seen_at"
        ),
    ),
)

TASKS = Table(
    name="tasks",
    meaning="One row per scenario assigned to a participant (participant x scenario).",
    queryset=lambda study: Task.objects.filter(
        not_preview_q("participant__", include_pilot=True), participant__study=study
    ),
    pilot_lookup="participant__is_pilot",
    columns=(
        Column("task_id", "integer", "Task id.", "pk"),
        Column(
            "participant_id",
            "integer",
            "Participant (participants.participant_id).",
            "participant_id",
        ),
        *_arm_columns("participant__arm_id"),
        Column("scenario_id", "integer", "Scenario version id.", "scenario_id"),
        Column(
            "scenario_key", "string", "Scenario key (the same across versions).", "scenario__key"
        ),
        Column(
            "scenario_version",
            "integer",
            "Scenario version the participant read.",
            "scenario__version",
        ),
        Column(
            "position", "integer", "Order of the task for the participant, from 1.", "position"
        ),
        Column("status", "string", "pending, active, answering or done.", "status"),
        Column(
            "gold_disposition_value",
            "integer",
            "Gold disposition as acuity (higher = more acute; NHS-5: 4 Ambulance, 0 Self-care).",
            "scenario__gold_disposition__value",
        ),
        Column(
            "gold_disposition_code",
            "string",
            "Gold disposition code.",
            "scenario__gold_disposition__code",
        ),
        Column(
            "sources_text",
            "string",
            "Control arm: the sources the participant says they used.",
            "sources_text",
        ),
        Column("started_at", "timestamp", "Task opened.", "started_at"),
        Column("finished_at", "timestamp", "Answer submitted.", "finished_at"),
        Column(
            "conversation_id",
            "integer",
            "Chat of this task (LLM arms; empty otherwise).",
            "conversation__id",
        ),
        Column(
            "model",
            "string",
            "Model name the chat used (snapshot).",
            "conversation__model",
            reveals_arm=True,
        ),
        Column(
            "model_is_scripted",
            "boolean",
            "The chat used the scripted demo model, not an LLM.",
            "conversation__is_scripted",
            reveals_arm=True,
        ),
        Column(
            "model_is_test",
            "boolean",
            "The chat used a small model for testing (e.g. SmolLM2-135M), not one for research.",
            "conversation__is_test_model",
            reveals_arm=True,
        ),
        Column(
            "chat_model_named",
            "list[string]",
            "Gold conditions the model named anywhere in the chat (empty list: none; empty "
            "value: not scored yet).",
            "conversation__analysis_score__model_named",
        ),
        Column(
            "chat_participant_named",
            "list[string]",
            "Gold conditions the participant named in their chat messages.",
            "conversation__analysis_score__participant_named",
        ),
        Column(
            "chat_first_model_naming_turn",
            "integer",
            "Position (from 0) of the first model message naming a gold condition.",
            "conversation__analysis_score__first_model_naming_turn",
        ),
        Column(
            "chat_scorer_version",
            "string",
            "Scoring rules of the chat_* columns.",
            "conversation__analysis_score__scorer_version",
        ),
    ),
)


def _correction_annotations() -> dict:
    """Whether a person corrected the answer's conditions_correct (analysis.corrections),
    in what role the latest did, and the scorer's own value: the answer's field holds the
    corrected one."""
    corrections = ScoreCorrection.objects.filter(
        answer=OuterRef("pk"), field=ScoreCorrection.Field.CONDITIONS_CORRECT
    )
    return {
        "conditions_correct_corrected": Exists(corrections),
        "conditions_correct_automatic": Coalesce(
            Subquery(corrections.order_by("-created_at", "-pk").values("automatic_value")[:1]),
            "conditions_correct",
            output_field=BooleanField(),
        ),
        "conditions_correct_corrected_by": Coalesce(
            Subquery(corrections.order_by("-created_at", "-pk").values("corrector_role")[:1]),
            Value(""),
            output_field=CharField(),
        ),
    }


ANSWERS = Table(
    name="answers",
    meaning="One row per submitted answer (one per task at most), with its scores.",
    queryset=lambda study: Answer.objects.filter(
        not_preview_q("task__participant__", include_pilot=True), task__participant__study=study
    ).annotate(**_correction_annotations()),
    pilot_lookup="task__participant__is_pilot",
    columns=(
        Column("answer_id", "integer", "Answer id.", "pk"),
        Column("task_id", "integer", "Task (tasks.task_id).", "task_id"),
        Column("participant_id", "integer", "Participant.", "task__participant_id"),
        *_arm_columns("task__participant__arm_id"),
        Column("scenario_key", "string", "Scenario key.", "task__scenario__key"),
        Column("scenario_version", "integer", "Scenario version.", "task__scenario__version"),
        Column("position", "integer", "Task position for the participant.", "task__position"),
        Column(
            "disposition_value", "integer", "Chosen disposition as acuity.", "disposition__value"
        ),
        Column("disposition_code", "string", "Chosen disposition code.", "disposition__code"),
        Column(
            "gold_disposition_value",
            "integer",
            "Gold disposition as acuity.",
            "task__scenario__gold_disposition__value",
        ),
        Column(
            "disposition_outcome",
            "string",
            "exact, over (more acute than gold) or under (stored score).",
            "disposition_outcome",
        ),
        Column(
            "disposition_distance",
            "integer",
            "Chosen minus gold acuity (stored score).",
            "disposition_distance",
        ),
        Column(
            "conditions_text",
            "string",
            "The free-text conditions answer, verbatim.",
            "conditions_text",
        ),
        Column("conditions", "list[string]", "The free text split into items.", "conditions"),
        Column(
            "matched_conditions",
            "list[string]",
            "Gold conditions the answer names (fuzzy match, see scorer_version).",
            "matched_conditions",
        ),
        Column(
            "matched_red_flags", "list[string]", "Red flags the answer names.", "matched_red_flags"
        ),
        Column(
            "conditions_correct",
            "boolean",
            "Names at least one gold condition (empty: not scored yet); a person's "
            "correction where conditions_correct_corrected is true.",
            "conditions_correct",
        ),
        Column(
            "conditions_correct_corrected",
            "boolean",
            "True: a person corrected conditions_correct, with a recorded reason (the "
            "transcript page; every correction is in the audit trail).",
            "conditions_correct_corrected",
        ),
        Column(
            "conditions_correct_automatic",
            "boolean",
            "conditions_correct as the scorer gave it, before any correction (the same as "
            "conditions_correct where none was made; for a corrected answer, as scored when "
            "it was first corrected).",
            "conditions_correct_automatic",
        ),
        Column(
            "conditions_correct_corrected_by",
            "string",
            "Who made the latest correction of conditions_correct: investigator (the "
            "transcript page) or rater (the item's only rater, on their rating page); empty "
            "where none was made.",
            "conditions_correct_corrected_by",
        ),
        # The answer's rater reference label (ratings.ReferenceLabel) beside the matcher's.
        Column(
            "conditions_correct_reference",
            "boolean",
            "Names at least one gold condition by the answer's rater reference label (the "
            "adjudicated label, else the one its raters agreed on); empty: no reference "
            "label. Where the study's condition_labels choice is 'reference', the figures "
            "read this in place of conditions_correct, and conditions_correct elsewhere.",
            "reference_label__conditions_correct",
        ),
        Column(
            "matched_conditions_reference",
            "list[string]",
            "Gold conditions the reference label names (empty: no reference label).",
            "reference_label__matched_conditions",
        ),
        Column(
            "matched_red_flags_reference",
            "list[string]",
            "Red flags the reference label names (empty: no reference label).",
            "reference_label__matched_red_flags",
        ),
        Column(
            "reference_source",
            "string",
            "adjudicated or agreed: where the reference label comes from (empty: none).",
            "reference_label__source",
        ),
        Column(
            "confidence",
            "integer",
            "Confidence slider, 0-100 (empty: not given, simulated participants only).",
            "confidence",
        ),
        Column(
            "confidence_set",
            "boolean",
            "True: the participant set the confidence themselves (the form offered no "
            "default). Empty: not recorded - answers from before that rule, whose slider "
            "started at 50 and could be sent untouched, and simulated participants.",
            "confidence_set",
        ),
        Column(
            "language",
            "string",
            "Language the participant answered in (a code from settings.LANGUAGES, e.g. en).",
            "language",
        ),
        Column(
            "scorer_version", "string", "Scoring rules that produced the scores.", "scorer_version"
        ),
        Column("scored_at", "timestamp", "When the answer was scored.", "scored_at"),
        Column("created_at", "timestamp", "When the answer was submitted.", "created_at"),
    ),
)

MESSAGES = Table(
    name="messages",
    meaning="One row per chat message (participant or model), in order within each chat.",
    queryset=lambda study: Message.objects.filter(
        not_preview_q("conversation__task__participant__", include_pilot=True),
        conversation__task__participant__study=study,
    ),
    pilot_lookup="conversation__task__participant__is_pilot",
    columns=(
        Column("message_id", "integer", "Message id.", "pk"),
        Column("conversation_id", "integer", "Chat (tasks.conversation_id).", "conversation_id"),
        Column("task_id", "integer", "Task.", "conversation__task_id"),
        Column("participant_id", "integer", "Participant.", "conversation__task__participant_id"),
        *_arm_columns("conversation__arm_id"),
        Column("sequence", "integer", "Order within the chat, from 1.", "sequence"),
        Column("role", "string", "user (the participant) or assistant (the model).", "role"),
        Column("text", "string", "Message text, verbatim.", "text"),
        Column(
            "status",
            "string",
            "complete, interrupted (connection lost mid-reply), error, or streaming.",
            "status",
        ),
        Column(
            "reply_to_id", "integer", "For a model message: the message it answers.", "reply_to_id"
        ),
        Column(
            "time_to_first_token_ms",
            "float",
            "Model: request to first token (ms).",
            "time_to_first_token_ms",
        ),
        Column("duration_ms", "float", "Model: request to last token (ms).", "duration_ms"),
        Column("prompt_tokens", "integer", "Model: prompt tokens reported.", "prompt_tokens"),
        Column(
            "completion_tokens",
            "integer",
            "Model: completion tokens reported.",
            "completion_tokens",
        ),
        Column("finish_reason", "string", "Model: finish reason reported.", "finish_reason"),
        Column("error", "string", "Model: error code, if the reply failed.", "error"),
        Column(
            "blinding_hits",
            "string",
            "Model: the arm's blinding terms the reply said (its name, its maker), as JSON "
            '[{"term", "start", "end"}] positions in text; the participant saw each replaced '
            "by the study's neutral words unless the study only flags them.",
            "blinding_hits",
            convert="json",
        ),
        Column("created_at", "timestamp", "Sent (participant) or started (model).", "created_at"),
        Column("completed_at", "timestamp", "Model: reply finished.", "completed_at"),
    ),
)

ALLOCATIONS = Table(
    name="allocations",
    meaning=(
        "The allocation ledger: one row per slot of the randomisation sequence, in order "
        "(a slot skipped because its arm was full has no participant)."
    ),
    queryset=lambda study: Allocation.objects.filter(study=study),
    order_by=("sequence",),
    columns=(
        Column("sequence", "integer", "Study-wide position in the sequence, from 1.", "sequence"),
        Column(
            "participant_id",
            "integer",
            "Participant allocated (empty: skipped or withdrawn).",
            "participant_id",
        ),
        *_arm_columns("arm_id"),
        Column(
            "outcome",
            "string",
            "assigned, arm_full (slot skipped: its arm was full) or pilot_end (the rest of "
            "the pilot's last block, used up at launch so the main phase starts a block).",
            "outcome",
        ),
        Column(
            "is_pilot",
            "boolean",
            "True for a slot of the study's pilot. The ledger is exported whole, the pilot's "
            "slots included, so the sequence can be regenerated from the seed.",
            "is_pilot",
        ),
        Column("stratum", "string", "Stratum.", "stratum"),
        Column(
            "stratum_sequence",
            "integer",
            "Position within the stratum's sequence.",
            "stratum_sequence",
        ),
        Column("block", "integer", "Block number within the stratum.", "block"),
        Column("block_size", "integer", "Size of that block.", "block_size"),
        Column("block_position", "integer", "Position within the block.", "block_position"),
        Column("created_at", "timestamp", "When the slot was consumed.", "created_at"),
    ),
)


def _decisions(model, study: Study) -> QuerySet:
    """Labels or adjudications of the study's rating items, with what they label and
    whether each is the current one (the rater's latest; the item's latest)."""
    newer = model.objects.filter(item=OuterRef("item"), pk__gt=OuterRef("pk"))
    if model is Label:
        newer = newer.filter(rater=OuterRef("rater"))
    return model.objects.filter(item__round__study=study).annotate(
        labelled_participant_id=Coalesce(
            "item__answer__task__participant_id",
            "item__task__participant_id",
            "item__evaluation_item__task__participant_id",
        ),
        is_current=~Exists(newer),
    )


def _decision_columns(what: str) -> tuple[Column, ...]:
    """What a label and an adjudication have in common."""
    return (
        Column("item_id", "integer", "Rating item (one thing rated in one round).", "item_id"),
        Column("round_id", "integer", "Rating round that sampled the item.", "item__round_id"),
        Column(
            "item_kind",
            "string",
            "answer (gold conditions and red flags named) or transcript (the rubric of a "
            "whole chat and its answer).",
            "item__kind",
        ),
        Column(
            "answer_id",
            "integer",
            "The participant's answer rated (answers.answer_id); empty for other sources.",
            "item__answer_id",
        ),
        Column(
            "task_id",
            "integer",
            "The participant's task whose chat was rated (tasks.task_id); empty for other "
            "sources.",
            "item__task_id",
        ),
        Column(
            "evaluation_item_id",
            "integer",
            "The evaluation item rated (a model-alone answer, or a simulated participant's "
            "answer or chat); empty for participants' answers and chats.",
            "item__evaluation_item_id",
        ),
        Column(
            "participant_id",
            "integer",
            "Participant whose answer or chat it is (participants.participant_id; a "
            "simulated one for a simulated run's item; empty for model-alone answers).",
            "labelled_participant_id",
        ),
        Column("scenario_key", "string", "Scenario key.", "item__scenario__key"),
        Column("scenario_version", "integer", "Scenario version.", "item__scenario__version"),
        Column(
            "is_double",
            "boolean",
            "The item was sampled to be rated by more than one rater.",
            "item__is_double",
        ),
        Column(
            "conditions_named",
            "list[string]",
            f"Answer items: the scenario's gold conditions the {what} says the answer names "
            "(spelled as in the scenario).",
            "conditions_named",
        ),
        Column(
            "red_flags_named",
            "list[string]",
            f"Answer items: the scenario's red flags the {what} says the answer names.",
            "red_flags_named",
        ),
        Column(
            "other_conditions",
            "string",
            "Answer items: other relevant conditions the answer names, free text.",
            "other_conditions",
        ),
        Column(
            "rubric",
            "string",
            'Transcript items: JSON object, rubric key -> {"met": true/false, "turns": '
            "[the assistant's turns that met it, from 1]} (rubric keys: the scenario's).",
            "rubric",
            convert="json",
        ),
    )


LABELS = Table(
    name="labels",
    meaning=(
        "One row per label a rater gave a rating item, revisions included (append-only: a "
        "revision is a new row; is_current marks each rater's latest label of an item)."
    ),
    queryset=lambda study: _decisions(Label, study),
    columns=(
        Column("label_id", "integer", "Label id (in the order given).", "pk"),
        Column(
            "rater_code",
            "string",
            "The rater, by a code stable within the study (R1, R2...): never a name or email.",
            "rater__code",
        ),
        *_decision_columns("rater"),
        Column("reason", "string", "The rater's note or reason (optional).", "reason"),
        Column(
            "is_current",
            "boolean",
            "The rater's latest label of this item (earlier ones are superseded).",
            "is_current",
        ),
        Column("created_at", "timestamp", "When the label was given.", "created_at"),
    ),
)

ADJUDICATIONS = Table(
    name="adjudications",
    meaning=(
        "One row per adjudication: the final label of an item whose raters disagreed, with "
        "who, when and why (append-only; is_current marks an item's latest)."
    ),
    queryset=lambda study: _decisions(Adjudication, study),
    columns=(
        Column("adjudication_id", "integer", "Adjudication id.", "pk"),
        Column(
            "adjudicator_code",
            "string",
            "The adjudicator, by rater code (an investigator who adjudicates gets one).",
            "adjudicator__code",
        ),
        *_decision_columns("adjudicator"),
        Column(
            "chosen_label_id",
            "integer",
            "The rater's label taken as it was (labels.label_id); empty: the adjudicator's "
            "own label.",
            "chosen_label_id",
        ),
        Column("reason", "string", "Why (required).", "reason"),
        Column("is_current", "boolean", "The item's latest adjudication.", "is_current"),
        Column("created_at", "timestamp", "When it was recorded.", "created_at"),
    ),
)

INFORMATION_TRANSFER = Table(
    name="information_transfer",
    meaning=(
        "One row per chat x key fact of its scenario: did the participant's messages give "
        "the fact, and in which message first (every chat of a scenario with key facts; "
        "see the information_transfer convention)."
    ),
    source=information_transfer_records,
    columns=(
        Column("conversation_id", "integer", "Chat (tasks.conversation_id).", "conversation_id"),
        Column("task_id", "integer", "Task (tasks.task_id).", "task_id"),
        Column(
            "participant_id",
            "integer",
            "Participant (participants.participant_id; a simulated patient's chats are here "
            "too: is_simulated is in participants).",
            "participant_id",
        ),
        *_arm_columns("arm_id"),
        Column("scenario_id", "integer", "Scenario version id.", "scenario_id"),
        Column("scenario_key", "string", "Scenario key.", "scenario_key"),
        Column("scenario_version", "integer", "Scenario version.", "scenario_version"),
        Column("fact_key", "string", "Key fact (the scenario's key_facts key).", "fact_key"),
        Column("fact_text", "string", "The key fact, as the scenario states it.", "fact_text"),
        Column(
            "given",
            "boolean",
            "The participant's messages gave the fact (see matcher_version).",
            "given",
        ),
        Column(
            "first_turn",
            "integer",
            "The participant's message that first gave it, numbered from 1 within the chat "
            "(their own messages only; empty: never).",
            "first_turn",
        ),
        Column(
            "first_message_id",
            "integer",
            "That message (messages.message_id; empty: never).",
            "first_message_id",
        ),
        Column(
            "negated_only",
            "boolean",
            'The fact\'s phrases came up, but only after a negation ("no fever"): not given.',
            "negated_only",
        ),
        Column(
            "participant_messages",
            "integer",
            "The participant's messages in the chat.",
            "participant_messages",
        ),
        Column(
            "source",
            "string",
            "Who judged it: matcher (the only source so far; raters and the rubric grader "
            "may add theirs).",
            "source",
        ),
        Column(
            "matcher_version",
            "string",
            "Matching rules of the matcher (scoring.facts.FACTS_MATCHER_VERSION).",
            "matcher_version",
        ),
    ),
)


def _rubric_target_columns(prefix: str) -> tuple[Column, ...]:
    """What a rubric score and a rubric verdict say of the target graded (`prefix`: where
    the target's fields are, "" for a record, "parsed__target__" for an item)."""
    return (
        Column(
            "target_key",
            "string",
            "What was graded, unique within the run: human-task-<task_id>, "
            "simulated-item-<evaluation_item_id> or model_alone-item-<evaluation_item_id>.",
            f"{prefix}key" if prefix else "target_key",
        ),
        Column(
            "source",
            "string",
            "human (a participant's chat and answer), simulated (a simulated participant's) "
            "or model_alone (a model-alone output: its turn and its answer).",
            f"{prefix}source",
        ),
        *_arm_columns(f"{prefix}arm_id"),
        Column(
            "source_run_key",
            "string",
            "The evaluation run whose output or simulated chat was graded (empty for "
            "participants).",
            f"{prefix}run" if prefix else "source_run_key",
            reveals_arm=True,
        ),
        Column(
            "task_id",
            "integer",
            "The task graded (tasks.task_id; participants and simulated participants).",
            f"{prefix}task_id",
        ),
        Column(
            "evaluation_item_id",
            "integer",
            "The evaluation item graded (a model-alone output or a simulated participant's "
            "item; empty for participants).",
            f"{prefix}evaluation_item_id",
        ),
        Column(
            "participant_id",
            "integer",
            "Whose chat and answer (participants.participant_id; a simulated one for a "
            "simulated run; empty for model-alone outputs).",
            f"{prefix}participant_id",
        ),
        Column(
            "scenario_key",
            "string",
            "Scenario key.",
            f"{prefix}scenario" if prefix else "scenario_key",
        ),
        Column(
            "scenario_version",
            "integer",
            "Scenario version (whose rubric applied).",
            f"{prefix}scenario_version",
        ),
    )


RUBRIC_SCORES = Table(
    name="rubric_scores",
    meaning=(
        "One row per rubric run, target graded and repetition: the rubric score of a chat "
        "or output (see the rubric convention; verdicts per item in rubric_verdicts)."
    ),
    # A rubric run chose its chats when it ran (the pilot's among them or not).
    source=lambda study, _include_pilot: rubric_score_records(study=study),
    columns=(
        Column("run_id", "integer", "The rubric run.", "run_id"),
        Column("run_key", "string", "The rubric run's key.", "run_key"),
        Column("grader_model", "string", "The grader's model.", "grader_model", reveals_arm=True),
        Column(
            "template_version",
            "string",
            "Version of the grader's prompt template.",
            "template_version",
        ),
        *_rubric_target_columns(""),
        Column("repetition", "integer", "Grading repetition (from 0).", "repetition"),
        Column("items", "integer", "Rubric items that applied and were planned.", "items"),
        Column("items_met", "integer", "Items the grader found met.", "items_met"),
        Column(
            "items_not_graded",
            "integer",
            "Items with no verdict (the grader's reply unreadable, the request failed, or "
            "still pending); the score is then empty, never counted as not met.",
            "items_not_graded",
        ),
        Column(
            "achieved",
            "integer",
            "Points of the items met (a harmful item met subtracts); empty when an item "
            "was not graded.",
            "achieved",
        ),
        Column("possible", "integer", "Sum of the positive points of the items.", "possible"),
        Column(
            "score",
            "float",
            "achieved / possible clipped to [0, 1]; empty when an item was not graded or no "
            "item has positive points.",
            "score",
        ),
    ),
)

QUESTIONNAIRE_ANSWERS = Table(
    name="questionnaire_answers",
    meaning="One row per answer to a questionnaire item (long format): the items, their "
    "texts, options and coding are in the data dictionary's `questionnaires`. An item "
    "not shown (its display condition unmet) or left empty (optional) has no row.",
    queryset=lambda study: ItemAnswer.objects.filter(
        not_preview_q("response__participant__", include_pilot=True),
        response__questionnaire__study=study,
    ),
    pilot_lookup="response__participant__is_pilot",
    order_by=("response_id", "item__position", "item_id"),
    columns=(
        Column("answer_id", "integer", "Item answer id.", "pk"),
        Column(
            "response_id",
            "integer",
            "The participant's response to the questionnaire.",
            "response_id",
        ),
        Column("participant_id", "integer", "Participant.", "response__participant_id"),
        *_arm_columns("response__participant__arm_id"),
        Column(
            "questionnaire_key", "string", "Questionnaire key.", "response__questionnaire__key"
        ),
        Column(
            "placement",
            "string",
            "after_consent, after_each_scenario or end.",
            "response__questionnaire__placement",
        ),
        Column(
            "task_id",
            "integer",
            "After each scenario: the task it follows (tasks.task_id); else empty.",
            "response__task_id",
        ),
        Column(
            "scenario_key",
            "string",
            "After each scenario: that task's scenario key; else empty.",
            "response__task__scenario__key",
        ),
        Column(
            "item_key", "string", "Item key (the dictionary's questionnaires.item).", "item__key"
        ),
        Column("item_kind", "string", "likert, single, multiple, number or text.", "item__kind"),
        Column("value_number", "float", "Likert point or number answer.", "number"),
        Column("value_text", "string", "Single choice option value, or free text.", "text"),
        Column("value_choices", "list[string]", "Multiple choice option values.", "choices"),
        Column(
            "language", "string", "Language the participant answered in.", "response__language"
        ),
        Column("created_at", "timestamp", "When the response was stored.", "response__created_at"),
    ),
)

RUBRIC_VERDICTS = Table(
    name="rubric_verdicts",
    meaning="One row per rubric item graded by a rubric run: the grader's verdict.",
    queryset=lambda study: EvaluationItem.objects.filter(run__study=study, run__kind="rubric"),
    columns=(
        Column("verdict_id", "integer", "The evaluation item of the verdict.", "pk"),
        Column("run_id", "integer", "The rubric run (rubric_scores.run_id).", "run_id"),
        Column("run_key", "string", "The rubric run's key.", "run__key"),
        *_rubric_target_columns("parsed__target__"),
        Column("repetition", "integer", "Grading repetition (from 0).", "repetition"),
        Column(
            "rubric_key", "string", "The rubric item (the scenario's key).", "parsed__rubric__key"
        ),
        Column("rubric_text", "string", "The rubric item as written.", "parsed__rubric__text"),
        Column(
            "points",
            "integer",
            "The item's points (negative: harmful content).",
            "parsed__rubric__points",
        ),
        Column(
            "applies_to",
            "string",
            "model (the assistant's turns are graded, the chat is context) or answer (the "
            "final answer is graded, alone).",
            "parsed__rubric__applies_to",
        ),
        Column(
            "status",
            "string",
            "succeeded (a verdict), failed (none: see error) or pending.",
            "status",
        ),
        Column("met", "boolean", "The grader's verdict (empty: none).", "parsed__met"),
        Column(
            "nothing_to_grade",
            "boolean",
            "There was no text to grade (no assistant turn, no answer): not sent, not met.",
            "parsed__shown__nothing_to_grade",
        ),
        Column("explanation", "string", "The grader's explanation.", "parsed__explanation"),
        Column("error", "string", "Why there is no verdict.", "error"),
    ),
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        PARTICIPANTS,
        TASKS,
        ANSWERS,
        MESSAGES,
        ALLOCATIONS,
        LABELS,
        ADJUDICATIONS,
        INFORMATION_TRANSFER,
        RUBRIC_SCORES,
        RUBRIC_VERDICTS,
        QUESTIONNAIRE_ANSWERS,
    )
}


@dataclass(frozen=True)
class ArmNames:
    """Arm ids to keys and to the letters the (blinded) dashboard uses."""

    key: dict[int, str]
    letter: dict[int, str]


def arm_names_for(*, study: Study) -> ArmNames:
    infos = selectors.arm_infos(study=study)
    views = arm_views(infos, blinded=True, salt=selectors.blinding_salt(study))
    return ArmNames(key={a.id: a.key for a in infos}, letter={v.id: v.letter for v in views})


def _json_text(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


def table_queryset(table: Table, *, study: Study, include_pilot: bool = False) -> QuerySet:
    """The rows of a queryset table: the pilot's participants' only with `include_pilot`."""
    assert table.queryset is not None, table.name
    queryset = table.queryset(study)
    if table.pilot_lookup and not include_pilot:
        queryset = queryset.filter(**{table.pilot_lookup: False})
    return queryset


def rows(
    table: Table,
    *,
    study: Study,
    arms: ArmNames,
    blinded: bool,
    raw_identifiers: bool = False,
    page: slice | None = None,
    include_pilot: bool = False,
) -> Iterator[list]:
    """The table's rows as lists of the visible columns' values, read in chunks; only the
    rows in `page` (a slice of the table's order) when given (the REST API's pages). The
    pilot's participants' rows only with `include_pilot`."""
    columns = table.visible_columns(blinded=blinded, raw_identifiers=raw_identifiers)
    lookups = list(dict.fromkeys(c.lookup for c in columns))
    at = {lookup: i for i, lookup in enumerate(lookups)}
    pick = itemgetter(*[at[c.lookup] for c in columns])
    converters: dict[str, Callable[[Any], Any]] = {
        "arm_key": arms.key.get,
        "arm_letter": arms.letter.get,
        "pseudonym": pseudonymizer(study_id=study.pk),
        "json": _json_text,
    }
    renames = [(i, converters[c.convert]) for i, c in enumerate(columns) if c.convert]
    if table.source is not None:
        records: Iterator = (
            tuple(r[lookup] for lookup in lookups) for r in table.source(study, include_pilot)
        )
        if page is not None:
            records = islice(records, page.start, page.stop)
    else:
        assert table.queryset is not None, table.name
        queryset = (
            table_queryset(table, study=study, include_pilot=include_pilot)
            .order_by(*table.order_by)
            .values_list(*lookups)
        )
        if page is not None:
            queryset = queryset[page]
        records = queryset.iterator(chunk_size=CHUNK)
    for row in records:
        values = list(pick(row)) if len(columns) > 1 else [pick(row)]
        for i, convert in renames:
            values[i] = convert(values[i])
        yield values


def _chunked(items: Iterator[list], size: int) -> Iterator[list[list]]:
    chunk: list[list] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class RowCounter:
    """Counts the rows a writer has produced (the command reports them)."""

    def __init__(self) -> None:
        self.n = 0


def _csv_bool(value: bool) -> str:
    return "true" if value else "false"


def _csv_time(value: datetime) -> str:
    return value.isoformat()


def _csv_list(value: list) -> str:
    return json.dumps(value, ensure_ascii=False)


# A spreadsheet runs a cell starting with one of these as a formula (OWASP, "CSV
# injection"): a participant could type "=HYPERLINK(...)" as an answer. "'" is escaped too,
# so that dropping one leading "'" from a text cell that has one always gives the
# original text back.
FORMULA_STARTS = frozenset("=+-@\t\r'")


def csv_text(value: str) -> str:
    """Text as a CSV cell: prefixed with ' where a spreadsheet would read a formula."""
    return "'" + value if value and value[0] in FORMULA_STARTS else value


# Only these types need writing out; csv writes int and float as they are and None as "".
# Numbers are never escaped: a distance of -1 stays the number -1.
CSV_CONVERTERS: dict[str, Callable[[Any], str]] = {
    "string": csv_text,
    "boolean": _csv_bool,
    "timestamp": _csv_time,
    "list[string]": _csv_list,
}


def iter_csv(
    table: Table,
    *,
    study: Study,
    arms: ArmNames,
    blinded: bool,
    raw_identifiers: bool = False,
    counter: RowCounter | None = None,
    include_pilot: bool = False,
) -> Iterator[bytes]:
    """UTF-8 CSV with a header; empty cell = no value; lists as JSON; times in ISO 8601;
    text that a spreadsheet would run as a formula prefixed with '."""
    columns = table.visible_columns(blinded=blinded, raw_identifiers=raw_identifiers)
    converters = [
        (i, CSV_CONVERTERS[c.type]) for i, c in enumerate(columns) if c.type in CSV_CONVERTERS
    ]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([c.name for c in columns])
    yield buffer.getvalue().encode()
    parts = rows(
        table,
        study=study,
        arms=arms,
        blinded=blinded,
        raw_identifiers=raw_identifiers,
        include_pilot=include_pilot,
    )
    for chunk in _chunked(parts, CHUNK):
        buffer.seek(0)
        buffer.truncate()
        for values in chunk:
            for i, convert in converters:
                if values[i] is not None:
                    values[i] = convert(values[i])
        writer.writerows(chunk)
        if counter is not None:
            counter.n += len(chunk)
        yield buffer.getvalue().encode()


def _json_default(value: Any) -> str:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def iter_jsonl(
    table: Table,
    *,
    study: Study,
    arms: ArmNames,
    blinded: bool,
    raw_identifiers: bool = False,
    counter: RowCounter | None = None,
    include_pilot: bool = False,
) -> Iterator[bytes]:
    """One JSON object per line; null = no value; lists as arrays; times in ISO 8601."""
    names = [
        c.name for c in table.visible_columns(blinded=blinded, raw_identifiers=raw_identifiers)
    ]
    parts = rows(
        table,
        study=study,
        arms=arms,
        blinded=blinded,
        raw_identifiers=raw_identifiers,
        include_pilot=include_pilot,
    )
    for chunk in _chunked(parts, CHUNK):
        lines = [
            json.dumps(
                dict(zip(names, row, strict=True)), ensure_ascii=False, default=_json_default
            )
            for row in chunk
        ]
        if counter is not None:
            counter.n += len(chunk)
        yield ("\n".join(lines) + "\n").encode()


class _Drain:
    """A write-only file for ParquetWriter whose bytes the generator hands on and forgets."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._position = 0
        self.closed = False

    def write(self, data) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def arrow_schema(table: Table, *, blinded: bool, raw_identifiers: bool = False) -> pa.Schema:
    columns = table.visible_columns(blinded=blinded, raw_identifiers=raw_identifiers)
    return pa.schema([pa.field(c.name, ARROW_TYPES[c.type]) for c in columns])


def iter_parquet(
    table: Table,
    *,
    study: Study,
    arms: ArmNames,
    blinded: bool,
    raw_identifiers: bool = False,
    counter: RowCounter | None = None,
    include_pilot: bool = False,
) -> Iterator[bytes]:
    """Parquet (zstd), one row group per ROW_GROUP rows, written as they are read."""
    schema = arrow_schema(table, blinded=blinded, raw_identifiers=raw_identifiers)
    sink = _Drain()
    writer = pq.ParquetWriter(sink, schema, compression="zstd")
    parts = rows(
        table,
        study=study,
        arms=arms,
        blinded=blinded,
        raw_identifiers=raw_identifiers,
        include_pilot=include_pilot,
    )
    try:
        for chunk in _chunked(parts, ROW_GROUP):
            columns = list(zip(*chunk, strict=True))
            writer.write_table(
                pa.Table.from_arrays(
                    [
                        pa.array(list(values), type=f.type)
                        for values, f in zip(columns, schema, strict=True)
                    ],
                    schema=schema,
                )
            )
            if counter is not None:
                counter.n += len(chunk)
            yield sink.take()
    finally:
        writer.close()
    yield sink.take()


WRITERS = {"csv": iter_csv, "jsonl": iter_jsonl, "parquet": iter_parquet}


def file_name(table: str, fmt: str) -> str:
    return f"{table}.{fmt}"


IDENTIFIERS_CONVENTION = (
    "participant tokens are never exported. participant_id is this server's row number of "
    "a participant: it joins the tables and names no one. A Prolific PID is exported as "
    f"prolific_pid_pseudonym: the first {PSEUDONYM_HEX} hex digits of HMAC-SHA256 of "
    "'<study id>:<PID>' under this server's export key (settings.EXPORT_PSEUDONYM_KEY, or "
    "one derived from SECRET_KEY), so it is the same in every export of this study while "
    "the key stays, differs between studies, and cannot be computed from a PID without the "
    "key. Raw PIDs and SESSION_IDs (prolific_pid, prolific_session_id) appear only in a raw "
    "identifier export, which an investigator of the study must have asked for with a "
    "recorded reason, which is itself recorded, and which is never blinded."
)


RATINGS_CONVENTION = (
    "labels and adjudications name raters by their code in the study (R1, R2...), never "
    "by name or email. Raters saw each item's scenario and text only, never its arm, model "
    "or source. The reference label of an item is its latest adjudication when that is "
    "newer than every current label, else the raters' common label when their current "
    "labels agree (on the gold terms named, or every rubric verdict); items rated once or "
    "still disputed have none."
)


RUBRIC_CONVENTION = (
    "rubric_scores and rubric_verdicts come from rubric runs: a grader model judged each "
    "rubric item of each target (a participant's chat and answer, a simulated "
    "participant's, a model-alone output) with a versioned prompt (template_version): "
    "items about the model on the assistant's turns with the chat as context, items "
    "about the answer on the answer alone; a control-arm participant's items about the "
    "model do not apply and are absent. A target's score (HealthBench) is the points of "
    "the items met over the positive points, clipped to [0, 1]; it is empty when an item "
    "has no verdict (never counted as not met). Average the repetitions of a target, then "
    "the targets; the evaluations page adds bootstrap CIs over targets and the grader's "
    "agreement with the raters' final rubric labels."
)


INFORMATION_TRANSFER_CONVENTION = (
    "information_transfer says which of a scenario's key facts (what a participant should "
    "tell the model) each chat's participant messages gave. The matcher "
    f"({FACTS_MATCHER_VERSION}): text lower-cased, accents and apostrophes dropped, cut "
    "into clauses at punctuation; a fact's phrase (its patterns and its text) matches as "
    "consecutive whole words of one clause, its last word of four letters or more as a "
    "stem ('diabet' finds 'diabetic'), shorter ones whole or plus 's'; exact spelling (no "
    "typo tolerance). An occurrence after a negation word (no, not, never, without, don't, "
    "haven't...) among the five words before it in its clause, not past 'but' or 'and', "
    "does not count, unless the fact is itself a negative (its text holds such a word); "
    "'not sure', 'no idea', 'don't know' are not negations. A fact is given when one "
    "occurrence counts; first_turn is the participant's message that first gave it."
)


def data_dictionary(
    *,
    study: Study,
    blinded: bool,
    raw_identifiers: bool = False,
    fmt: str | None = None,
    row_counts: dict[str, int] | None = None,
    tables: list[str] | None = None,
) -> dict:
    """Every table and column of an export: name, type, meaning (and row counts when known).
    `tables`: only these (an export of some tables)."""
    from studyapp.analysis.selectors_plan import plan_state

    plan = plan_state(study=study)
    return {
        "study": study.slug,
        "generated_at": timezone.now().isoformat(timespec="seconds"),
        # The analysis plan these data are to be analysed by (analysis/plan/): its
        # current version and digest, and the version locked at the first allocation.
        "analysis_plan": {
            "version": plan.current.version,
            "sha256": plan.current.sha256,
            "locked_at": plan.locked.locked_at.isoformat() if plan.locked else None,
            "locked_version": plan.locked.version if plan.locked else None,
            "locked_sha256": plan.locked.sha256 if plan.locked else None,
        },
        "format": fmt,
        "blinded": blinded,
        "identifiers": "raw" if raw_identifiers else "pseudonymous",
        "conventions": {
            "csv": "UTF-8, comma-separated, header row; an empty cell is no value; booleans "
            "true/false; list[string] columns hold a JSON array; timestamps ISO 8601 (UTC). "
            "Text cells starting with = + - @, a tab, a carriage return or ' are prefixed "
            "with ' so that a spreadsheet does not run them as formulas: drop one leading ' "
            "from a text cell to get the original (JSONL and Parquet are verbatim).",
            "jsonl": "one JSON object per line; null is no value; lists are arrays; verbatim.",
            "parquet": "zstd-compressed; timestamps are UTC microseconds; lists are "
            "list<string>; verbatim.",
            "acuity": "disposition values are acuity ranks: higher is more acute.",
            "identifiers": IDENTIFIERS_CONVENTION,
            "ratings": RATINGS_CONVENTION,
            "information_transfer": INFORMATION_TRANSFER_CONVENTION,
            "rubric": RUBRIC_CONVENTION,
        },
        "tables": [
            {
                "name": table.name,
                "file": file_name(table.name, fmt) if fmt else None,
                "meaning": table.meaning,
                **(
                    {"rows": row_counts[table.name]}
                    if row_counts and table.name in row_counts
                    else {}
                ),
                "columns": [
                    {"name": c.name, "type": c.type, "meaning": c.meaning}
                    for c in table.visible_columns(
                        blinded=blinded, raw_identifiers=raw_identifiers
                    )
                ],
            }
            for table in TABLES.values()
            if tables is None or table.name in tables
        ],
        # One entry per questionnaire item: its text, kind, options and coding.
        "questionnaires": [
            item_entry(questionnaire, item)
            for questionnaire in study_questionnaires_with_items(study_id=study.pk)
            for item in questionnaire.items.all()
        ],
    }


def data_dictionary_csv(dictionary: dict) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["table", "column", "type", "meaning"])
    for table in dictionary["tables"]:
        for column in table["columns"]:
            writer.writerow([table["name"], column["name"], column["type"], column["meaning"]])
    # The questionnaire items, as rows of questionnaire_answers: "column" is
    # questionnaire.item, "type" the kind, "meaning" the text, options and coding.
    for item in dictionary.get("questionnaires", []):
        options = "; ".join(f"{o['value']} = {o['label']}" for o in item["options"])
        meaning = f"{item['text']} [{item['coding']}{'; options: ' + options if options else ''}]"
        meaning = csv_text(meaning)
        writer.writerow(
            [
                "questionnaire_answers",
                f"{item['questionnaire']}.{item['item']}",
                item["kind"],
                meaning,
            ]
        )
    return buffer.getvalue().encode()


def export_to_directory(
    *,
    study: Study,
    fmt: str,
    out_dir: Path,
    blinded: bool = False,
    raw_identifiers: bool = False,
    tables: list[str] | None = None,
) -> dict[str, int]:
    """Write the tables and the data dictionary (JSON and CSV) into `out_dir`; returns the
    row count of each table. Files are written chunk by chunk, as the downloads are.
    `raw_identifiers`: the caller has authorised and recorded it (identifiers)."""
    if fmt not in WRITERS:
        raise ValueError(f"unknown format {fmt!r}")
    if blinded and raw_identifiers:
        raise ValueError("raw identifiers are never exported blinded")
    out_dir.mkdir(parents=True, exist_ok=True)
    arms = arm_names_for(study=study)
    counts: dict[str, int] = {}
    for name in tables or list(TABLES):
        counter = RowCounter()
        with (out_dir / file_name(name, fmt)).open("wb") as out:
            for part in WRITERS[fmt](
                TABLES[name],
                study=study,
                arms=arms,
                blinded=blinded,
                raw_identifiers=raw_identifiers,
                counter=counter,
            ):
                out.write(part)
        counts[name] = counter.n
    dictionary = data_dictionary(
        study=study,
        blinded=blinded,
        raw_identifiers=raw_identifiers,
        fmt=fmt,
        row_counts=counts,
        tables=list(counts),
    )
    (out_dir / "data_dictionary.json").write_text(json.dumps(dictionary, indent=2) + "\n")
    (out_dir / "data_dictionary.csv").write_bytes(data_dictionary_csv(dictionary))
    return counts
