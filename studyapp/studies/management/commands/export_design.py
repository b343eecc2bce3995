"""`manage.py export_design <slug> [--out FILE]`: a study's design file (studies.design_files)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from studyapp.studies.design_files import design_dumps, design_export
from studyapp.studies.models import Study


class Command(BaseCommand):
    help = (
        "Write a study's design (settings and texts, scale, scenarios, translations, arms, "
        "endpoints without secrets, allocation design, analysis plan) as one JSON file; "
        "without --out, to standard output. `import_design` creates a study from it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--out", type=Path, help="file to write (default: standard output)")

    def handle(self, *args, slug: str, out: Path | None, **options) -> None:
        study = Study.objects.select_related("disposition_scale").filter(slug=slug).first()
        if study is None:
            raise CommandError(f"no study with slug {slug!r}")
        text = design_dumps(design_export(study))
        if out is None:
            self.stdout.write(text, ending="")
            return
        out.write_text(text, encoding="utf-8")
        self.stderr.write(f"design of {slug} written to {out}")
