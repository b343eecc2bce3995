"""`manage.py study_report SLUG [--format json|text]`: the study page's figures."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from studyapp.analysis import selectors
from studyapp.analysis.metrics import Proportion, StudyReport
from studyapp.studies.models import Study


class Command(BaseCommand):
    help = "Per-arm participants and answer figures of a study (the same as its page)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--format", choices=["json", "text"], default="text")

    def handle(self, *args, slug: str, format: str, **options) -> None:
        study = Study.objects.filter(slug=slug).first()
        if study is None:
            raise CommandError(f"No study with slug {slug!r}.")
        if format == "json":
            data = selectors.study_report_data(study=study)
            self.stdout.write(json.dumps(data, indent=2))
        else:
            self.stdout.write(_as_text(selectors.study_report(study=study)))
            self.stdout.write(_plan_text(selectors.plan_report_data(study=study)))


def _percent(p: Proportion) -> str:
    if not p.n:
        return "-"
    return f"{p.percent:.1f}% ({p.correct}/{p.n})"


def _as_text(report: StudyReport) -> str:
    lines = [
        f"Study {report.slug}: {report.title}",
        f"Generated {report.generated_at}",
        f"Participants: {report.participants_total}"
        + (
            f" ({report.participants_unallocated} not allocated)"
            if report.participants_unallocated
            else ""
        ),
    ]
    if report.condition_labels is not None:
        lines.append(f"Conditions scored by: {report.condition_labels.describe}")
    lines.append("")
    for arm in report.arms:
        model = f"{arm.endpoint} / {arm.model}" if arm.model else "no model"
        statuses = ", ".join(f"{s} {n}" for s, n in arm.participants.items() if n) or "none"
        lines += [
            f"Arm {arm.key} [{arm.kind}] shown as {arm.label!r}; {model}",
            f"  participants: {arm.participants_total} ({statuses})",
            f"  answers: {arm.figures.n_answers}",
            f"  correct disposition: {_percent(arm.figures.disposition)}"
            f"; over-triage {arm.figures.over_triage}, under-triage {arm.figures.under_triage}",
            f"  names a gold condition: {_percent(arm.figures.conditions)}",
            "",
        ]
    if not report.arms:
        lines.append("No arms.")
    for evaluation in report.evaluations:
        lines += [
            "",
            f"Evaluation {evaluation.key} [{evaluation.kind}, {evaluation.status}]"
            f" {evaluation.model or 'no model'}; {evaluation.n_items} items",
            f"  names a gold condition: {_percent_ci(evaluation.conditions)}",
            f"  correct disposition: {_percent_ci(evaluation.disposition)}",
        ]
    return "\n".join(lines).rstrip() + "\n"


def _percent_ci(p: Proportion) -> str:
    if not p.n:
        return "-"
    interval = p.as_dict()
    return f"{_percent(p)}, 95% CI {100 * interval['ci_low']:.1f}-{100 * interval['ci_high']:.1f}%"


def _number(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _p(value: float | None) -> str:
    if value is None:
        return "-"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _plan_text(data: dict) -> str:
    """The plan's fingerprint and every contrast, the primary contrast first."""
    plan = data["plan"]
    locked = (
        f"locked {plan['locked_at']} (v{plan['locked_version']}, {plan['locked_sha256']})"
        if plan["locked_at"]
        else "a draft: it locks at the first allocation"
    )
    lines = [
        "",
        f"Analysis plan v{plan['version']} {plan['name']!r}: sha256 {plan['sha256']}; {locked}",
    ]
    if plan["amendment_reason"]:
        lines.append(f"  amended after the lock: {plan['amendment_reason']}")
    results = sorted(data["contrasts"], key=lambda r: not r["primary_contrast"])
    for r in results:
        head = (
            f"{r['comparison']} | {r['outcome']} ({r['outcome_role']}) | {r['analysis_set']}"
            f" | {r['status']}"
        )
        if r["test"] == "mann_whitney":
            figures = f"U {_number(r['mann_whitney_u'], 1)}, f {_number(r['mann_whitney_f'])}"
        else:
            figures = (
                f"{r['a']['successes']}/{r['a']['n']} vs {r['b']['successes']}/{r['b']['n']}; "
                f"OR {_number(r['odds_ratio'])} [{_number(r['ci_low'])}, {_number(r['ci_high'])}]"
            )
        lines.append(
            f"  {head}: {figures}; p {_p(r['p'])} ({r['test'] or 'no test'}),"
            f" adjusted {_p(r['p_adjusted'])}"
        )
        adjusted = r.get("adjusted")
        if adjusted:
            if adjusted["fallback_reason"]:
                lines.append(f"    GEE: not fitted ({adjusted['fallback_reason']})")
            else:
                interval = f"[{_number(adjusted['ci_low'])}, {_number(adjusted['ci_high'])}]"
                lines.append(
                    f"    GEE: OR {_number(adjusted['odds_ratio'])} {interval},"
                    f" p {_p(adjusted['p'])}"
                )
            boot = r["bootstrap"]
            lines.append(
                f"    participant bootstrap of the risk difference: [{_number(boot['ci_low'], 3)},"
                f" {_number(boot['ci_high'], 3)}] ({boot['n_boot']} draws, seed {boot['seed']})"
            )
    calibration = data["calibration"]
    for arm in calibration["arms"]:
        lines.append(
            f"  calibration ({calibration['target']}) {arm['arm']}: n {arm['n']}, Brier"
            f" {_number(arm['brier'], 3)}, AUROC {_number(arm['auroc'], 3)}"
        )
    return "\n".join(lines) + "\n"
