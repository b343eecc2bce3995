"""`manage.py rebuild_reference_labels [SLUG ...]`: recompute the reference labels
(ratings.ReferenceLabel) of the named studies, or of every study, from their labels and
adjudications. The services keep them in step; this repairs them after anything that
went around the services (a restored dump, a change to the rule)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from studyapp.ratings.services.references import reference_labels_rebuild
from studyapp.studies.models import Study


class Command(BaseCommand):
    help = "Recompute the rater reference labels of answers (all studies, or those named)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slugs", nargs="*", metavar="SLUG")

    def handle(self, *args, slugs: list[str], **options) -> None:
        studies = Study.objects.order_by("slug")
        if slugs:
            studies = studies.filter(slug__in=slugs)
            missing = sorted(set(slugs) - set(studies.values_list("slug", flat=True)))
            if missing:
                raise CommandError(f"No study with slug {', '.join(map(repr, missing))}.")
        for study in studies:
            result = reference_labels_rebuild(study=study)
            self.stdout.write(
                f"{study.slug}: {result.created} created, {result.updated} corrected, "
                f"{result.deleted} deleted, {result.unchanged} unchanged"
            )
