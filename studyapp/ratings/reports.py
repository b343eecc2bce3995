"""Agreement reads for investigators: between raters, and the matcher against the raters.

Units (ratings.agreement): for answer items, every gold term of the item's scenario (gold
conditions and red flags, each a binary label: named or not); for transcripts, every
rubric item (met or not). Inter-rater figures use items with two current labels or more;
the matcher's figures use items with a reference label (adjudicated, else consensus), and
the matcher's own stored scores (`matched_conditions`, `matched_red_flags` of the answer
or the evaluation item). Figures are cached per study until a label, adjudication or item
is added (or REPORT_CACHE_S passes, for a rescoring of the matcher).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

from django.core.cache import cache
from django.db.models import Count, Max

from studyapp.ratings import agreement, selectors
from studyapp.ratings.agreement import MatcherAgreement, RaterAgreement, Unit
from studyapp.ratings.models import Adjudication, Label, RatingItem, StudyRater
from studyapp.ratings.selectors import REFERENCE_STATUSES, ItemState
from studyapp.studies.models import Scenario, Study

REPORT_CACHE_S = 600
CONDITION, RED_FLAG = "condition", "red flag"
_MATCHER_FIELDS = [
    "answer__matched_conditions",
    "answer__matched_red_flags",
    "evaluation_item__matched_conditions",
    "evaluation_item__matched_red_flags",
]


@dataclass(frozen=True)
class TermRow:
    scenario_key: str
    list_name: str  # CONDITION or RED_FLAG
    term: str
    raters: RaterAgreement
    matcher: MatcherAgreement


@dataclass(frozen=True)
class RubricRow:
    scenario_key: str
    key: str
    text: str
    points: int
    raters: RaterAgreement


@dataclass(frozen=True)
class AgreementReport:
    items: int
    statuses: dict[str, int]
    # Between raters, every gold term of every answer item pooled; None: no answer
    # item has two labels yet.
    answers: RaterAgreement | None
    # Between raters, every rubric line of every transcript pooled.
    transcripts: RaterAgreement | None
    # The matcher against the reference labels, every gold term pooled, and by scenario.
    matcher: MatcherAgreement | None
    matcher_by_scenario: list[tuple[str, MatcherAgreement]]
    # Item level: the answer names at least one gold condition (HELPMed's "correct").
    matcher_correct: MatcherAgreement | None
    terms: list[TermRow]
    rubric: list[RubricRow]
    resamples: int
    seed: int


def _terms(scenario: dict) -> list[tuple[str, str]]:
    return [(CONDITION, t) for t in dict.fromkeys(scenario["gold_conditions"])] + [
        (RED_FLAG, t) for t in dict.fromkeys(scenario["red_flags"])
    ]


def _named(decision, list_name: str) -> tuple[str, ...]:
    return decision.conditions_named if list_name == CONDITION else decision.red_flags_named


def _matched(row: dict, list_name: str) -> list[str]:
    source = "answer" if row["answer__matched_conditions"] is not None else "evaluation_item"
    field = "matched_conditions" if list_name == CONDITION else "matched_red_flags"
    return row[f"{source}__{field}"] or []


def agreement_report(
    *,
    study: Study,
    resamples: int = agreement.DEFAULT_RESAMPLES,
    seed: int = agreement.DEFAULT_SEED,
) -> AgreementReport:
    """Every agreement figure of the study's ratings (cached; see the module doc)."""
    key = f"ratings:report:{study.pk}:{_fingerprint(study)}:{resamples}:{seed}"
    report = cache.get(key)
    if report is None:
        report = _compute(study=study, resamples=resamples, seed=seed)
        cache.set(key, report, REPORT_CACHE_S)
    return report


def _fingerprint(study: Study) -> str:
    parts = []
    for model in (RatingItem, Label, Adjudication):
        path = "round__study" if model is RatingItem else "item__round__study"
        stats = model.objects.filter(**{path: study}).aggregate(n=Count("pk"), last=Max("pk"))
        parts.append(f"{stats['n']}-{stats['last']}")
    return ".".join(parts)


def _compute(*, study: Study, resamples: int, seed: int) -> AgreementReport:
    states = selectors.item_states(study=study, extra_fields=_MATCHER_FIELDS)
    # Raters by code in every figure (Cohen's kappa per pair names them).
    codes = dict(StudyRater.objects.filter(study=study).values_list("pk", "code"))
    scenario_ids = {state.scenario_id for state, _row in states}
    scenarios = {
        s["id"]: s
        for s in Scenario.objects.filter(pk__in=scenario_ids).values(
            "id", "key", "gold_conditions", "red_flags", "rubric"
        )
    }
    term_units: dict[tuple[str, str, str], list[Unit]] = defaultdict(list)
    term_matcher: dict[tuple[str, str, str], list[tuple[int, bool, bool]]] = defaultdict(list)
    rubric_units: dict[tuple[str, str], list[Unit]] = defaultdict(list)
    rubric_text: dict[tuple[str, str], tuple[str, int]] = {}
    correct_units: list[tuple[int, bool, bool]] = []
    for state, row in states:
        scenario = scenarios[state.scenario_id]
        if state.kind == RatingItem.Kind.ANSWER:
            _answer_units(state, row, scenario, codes, term_units, term_matcher, correct_units)
        else:
            for entry in scenario["rubric"]:
                where = (state.scenario_key, entry["key"])
                rubric_text.setdefault(where, (entry["text"], entry["points"]))
                ratings = {
                    codes[rater]: int(d.rubric[entry["key"]][0])
                    for rater, d in state.labels.items()
                    if entry["key"] in d.rubric
                }
                if len(ratings) >= 2:
                    rubric_units[where].append((state.item_id, ratings))

    def raters(units: list[Unit]) -> RaterAgreement | None:
        return agreement.rater_agreement(units, resamples=resamples, seed=seed) if units else None

    def matcher(units: list[tuple[int, bool, bool]]) -> MatcherAgreement:
        return agreement.matcher_agreement(units, resamples=resamples, seed=seed)

    by_scenario: dict[str, list[tuple[int, bool, bool]]] = defaultdict(list)
    for (scenario_key, _list, _term), units in term_matcher.items():
        by_scenario[scenario_key] += units
    all_matcher = [u for units in term_matcher.values() for u in units]
    terms = [
        TermRow(
            scenario_key=key[0],
            list_name=key[1],
            term=key[2],
            raters=agreement.rater_agreement(term_units[key], resamples=resamples, seed=seed),
            matcher=matcher(term_matcher[key]),
        )
        for key in sorted(set(term_units) | set(term_matcher))
    ]
    return AgreementReport(
        items=len(states),
        statuses=dict(Counter(state.status for state, _row in states)),
        answers=raters([u for units in term_units.values() for u in units]),
        transcripts=raters([u for units in rubric_units.values() for u in units]),
        matcher=matcher(all_matcher) if all_matcher else None,
        matcher_by_scenario=[(key, matcher(units)) for key, units in sorted(by_scenario.items())],
        matcher_correct=matcher(correct_units) if correct_units else None,
        terms=terms,
        rubric=[
            RubricRow(
                scenario_key=where[0],
                key=where[1],
                text=rubric_text[where][0],
                points=rubric_text[where][1],
                raters=agreement.rater_agreement(units, resamples=resamples, seed=seed),
            )
            for where, units in sorted(rubric_units.items())
        ],
        resamples=resamples,
        seed=seed,
    )


def _answer_units(
    state: ItemState,
    row: dict,
    scenario: dict,
    codes: dict[int, str],
    term_units: dict,
    term_matcher: dict,
    correct_units: list,
) -> None:
    has_reference = state.status in REFERENCE_STATUSES
    for list_name, term in _terms(scenario):
        where = (state.scenario_key, list_name, term)
        if len(state.labels) >= 2:
            term_units[where].append(
                (
                    state.item_id,
                    {codes[r]: int(term in _named(d, list_name)) for r, d in state.labels.items()},
                )
            )
        if has_reference:
            term_matcher[where].append(
                (
                    state.item_id,
                    term in _matched(row, list_name),
                    term in _named(state.reference, list_name),
                )
            )
    if has_reference:
        correct_units.append(
            (
                state.item_id,
                bool(_matched(row, CONDITION)),
                bool(state.reference.conditions_named),
            )
        )
