"""Pure checks of a questionnaire: its items' configuration, and a participant's answers.

No ORM here: the models hand over `ItemSpec`s (Item.spec()), so every rule is testable
on plain values. The answers' messages are lazy translations, shown to participants in
their language; the configuration's are in English, as the investigators' pages are.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from django.utils.translation import gettext_lazy as _

TEXT_MAX_CHARS = 2000
LIKERT_MIN_POINTS = 2
LIKERT_MAX_POINTS = 11


class Kind(StrEnum):
    LIKERT = "likert"
    SINGLE = "single"
    MULTIPLE = "multiple"
    NUMBER = "number"
    TEXT = "text"


CHOICE_KINDS = frozenset({Kind.SINGLE, Kind.MULTIPLE})
# An item whose answer can decide whether a later one is shown.
CONDITION_KINDS = frozenset({Kind.SINGLE, Kind.MULTIPLE, Kind.LIKERT})


@dataclass(frozen=True)
class ItemSpec:
    key: str
    kind: Kind
    required: bool = True
    # Choice items: [{"value": ..., "label": ...}] in the order shown.
    options: Sequence[Mapping[str, str]] = ()
    min_value: float | None = None
    max_value: float | None = None
    scale_points: int | None = None
    # Shown only when the earlier item `condition_key`'s answer is among these values.
    condition_key: str = ""
    condition_values: Sequence[str] = ()

    @property
    def option_values(self) -> list[str]:
        return [str(o.get("value", "")) for o in self.options]


# --- Configuration --------------------------------------------------------------------


def item_config_errors(spec: ItemSpec, earlier: Sequence[ItemSpec]) -> dict[str, str]:
    """{field: message} for an item that cannot be asked as configured; `earlier`: the
    items before it in its questionnaire (a condition may only look back)."""
    errors: dict[str, str] = {}
    if spec.kind in CHOICE_KINDS:
        values = spec.option_values
        if len(values) < 2:
            errors["options"] = "Give at least two options."
        elif any(not v.strip() for v in values) or any(
            not str(o.get("label", "")).strip() for o in spec.options
        ):
            errors["options"] = "Every option needs a value and a label."
        elif len(set(values)) != len(values):
            errors["options"] = "Option values must differ from each other."
    elif spec.options:
        errors["options"] = "Only single and multiple choice items have options."
    if spec.kind == Kind.LIKERT:
        points = spec.scale_points
        if points is None or not LIKERT_MIN_POINTS <= points <= LIKERT_MAX_POINTS:
            errors["scale_points"] = (
                f"A Likert scale has between {LIKERT_MIN_POINTS} and {LIKERT_MAX_POINTS} points."
            )
    if spec.kind == Kind.NUMBER:
        if (
            spec.min_value is not None
            and spec.max_value is not None
            and spec.min_value > spec.max_value
        ):
            errors["max_value"] = "The maximum must not be below the minimum."
    elif spec.min_value is not None or spec.max_value is not None:
        errors["min_value"] = "Only number items have a minimum and maximum."
    if spec.condition_key:
        source = next((e for e in earlier if e.key == spec.condition_key), None)
        if source is None:
            errors["condition_key"] = "A condition can only depend on an earlier item."
        elif source.kind not in CONDITION_KINDS:
            errors["condition_key"] = "A condition can depend on a Likert or choice item only."
        elif not spec.condition_values:
            errors["condition_values"] = "Choose the answers that show this item."
        else:
            allowed = _answer_values(source)
            unknown = [v for v in spec.condition_values if v not in allowed]
            if unknown:
                errors["condition_values"] = f"Not an answer of that item: {', '.join(unknown)}"
    elif spec.condition_values:
        errors["condition_values"] = "Choose the item the condition depends on."
    return errors


def _answer_values(spec: ItemSpec) -> list[str]:
    if spec.kind == Kind.LIKERT:
        return [str(n) for n in range(1, (spec.scale_points or 0) + 1)]
    return spec.option_values


# --- Answers --------------------------------------------------------------------------


@dataclass
class Cleaned:
    """A form's answers, checked: `values` {key: value} of the items shown and answered
    (int for Likert, float for numbers, str for single choice and text, a list of str for
    multiple choice); `errors` {key: message}; `hidden` the keys not shown."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, Any] = field(default_factory=dict)
    hidden: set[str] = field(default_factory=set)

    @property
    def is_valid(self) -> bool:
        return not self.errors


def condition_met(spec: ItemSpec, answers: Mapping[str, Any]) -> bool:
    """Whether `spec` is shown, given the cleaned answers before it."""
    if not spec.condition_key:
        return True
    answer = answers.get(spec.condition_key)
    if answer is None:
        return False
    given = [str(v) for v in answer] if isinstance(answer, list) else [str(answer)]
    return any(v in spec.condition_values for v in given)


def answers_clean(specs: Sequence[ItemSpec], raw: Mapping[str, Sequence[str]]) -> Cleaned:
    """Check a participant's answers (`raw`: {key: [strings]} as a form sends them).

    In item order: an item whose condition is not met is hidden and whatever came for
    it is dropped (the browser hides it; without JavaScript the server ignores it). A
    required item shown and left empty, a number out of range, an option not offered:
    an error on that item.
    """
    result = Cleaned()
    for spec in specs:
        if not condition_met(spec, result.values):
            result.hidden.add(spec.key)
            continue
        given = [str(v).strip() for v in raw.get(spec.key, ()) if str(v).strip()]
        if not given:
            if spec.required:
                result.errors[spec.key] = (
                    _("Please choose at least one option.")
                    if spec.kind == Kind.MULTIPLE
                    else _("Please answer this question.")
                )
            continue
        try:
            result.values[spec.key] = _clean_one(spec, given)
        except ValueError as exc:
            result.errors[spec.key] = exc.args[0]
    return result


def _clean_one(spec: ItemSpec, given: list[str]) -> Any:
    if spec.kind == Kind.MULTIPLE:
        offered = spec.option_values
        if any(v not in offered for v in given):
            raise ValueError(_("Please choose among the options shown."))
        # The options' order, each once, whatever order the form sent them in.
        return [v for v in offered if v in given]
    if len(given) > 1:
        raise ValueError(_("Please give one answer."))
    value = given[0]
    if spec.kind == Kind.SINGLE:
        if value not in spec.option_values:
            raise ValueError(_("Please choose one of the options."))
        return value
    if spec.kind == Kind.LIKERT:
        if value not in _answer_values(spec):
            raise ValueError(_("Please choose a point on the scale."))
        return int(value)
    if spec.kind == Kind.NUMBER:
        return _clean_number(spec, value)
    if len(value) > TEXT_MAX_CHARS:
        raise ValueError(_("Please keep this shorter."))
    return value


def _clean_number(spec: ItemSpec, value: str) -> float:
    try:
        number = float(value.replace(",", "."))
    except ValueError:
        raise ValueError(_("Please enter a number.")) from None
    if not math.isfinite(number):
        raise ValueError(_("Please enter a number."))
    low, high = spec.min_value, spec.max_value
    if low is not None and high is not None and not low <= number <= high:
        raise ValueError(
            _("Please enter a number from %(low)s to %(high)s.")
            % {"low": _plain(low), "high": _plain(high)}
        )
    if low is not None and number < low:
        raise ValueError(_("Please enter a number of at least %(low)s.") % {"low": _plain(low)})
    if high is not None and number > high:
        raise ValueError(_("Please enter a number of at most %(high)s.") % {"high": _plain(high)})
    return number


def _plain(number: float) -> str:
    """10.0 -> "10", 2.5 -> "2.5": a bound as the investigator typed it."""
    return str(int(number)) if float(number).is_integer() else str(number)
