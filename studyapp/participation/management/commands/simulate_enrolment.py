"""`manage.py simulate_enrolment SLUG --n 1000`: simulated participants through allocation."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from studyapp.participation.simulation import simulate_enrolments
from studyapp.participation.verification import study_verify_allocation
from studyapp.studies.models import Study


class Command(BaseCommand):
    help = (
        "Enter and consent N simulated participants (PIDs sim-<n>) through the real "
        "allocation service, then verify the ledger. Refuses a live study."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--n", type=int, default=1000)
        parser.add_argument("--strata", default="", help="comma-separated stratum values")
        parser.add_argument("--rng-seed", type=int, default=0, help="seed for stratum draws")

    def handle(self, *args, slug: str, n: int, strata: str, rng_seed: int, **options) -> None:
        study = Study.objects.filter(slug=slug).first()
        if study is None:
            raise CommandError(f"No study with slug {slug!r}.")
        if study.status in Study.ENROLLING:
            raise CommandError("Refusing to add simulated participants to an enrolling study.")
        values = [s.strip() for s in strata.split(",") if s.strip()]
        result = simulate_enrolments(study=study, n=n, strata=values, rng_seed=rng_seed)
        self.stdout.write(
            f"Simulated {result.enrolled}: {result.allocated} allocated, "
            f"{result.study_full} found the study full."
        )
        verification = study_verify_allocation(study=study)
        if not verification.ok:
            raise CommandError(f"MISMATCH: {verification.problem}")
        self.stdout.write(
            f"verify_allocation: OK ({verification.checked} rows); largest arm imbalance "
            f"{verification.largest_imbalance:g}"
        )
