"""`manage.py import_design <file> --slug NEW [--title T]`: a new draft study from a design
file (studies.design_files)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from studyapp.studies.design_files import DesignFileError, design_import, design_loads


class Command(BaseCommand):
    help = (
        "Create a new draft study from a design file written by export_design. Endpoints "
        "are matched by name, base URL and model, else created (naming the key's "
        "environment variable, never a key). A bad file creates nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--slug", required=True, help="slug of the new study")
        parser.add_argument("--title", help="title of the new study (default: the file's)")

    def handle(self, *args, path: Path, slug: str, title: str | None, **options) -> None:
        try:
            text = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"{path}: {exc.strerror}") from exc
        try:
            # The command line is an operator's: every endpoint may be matched or created.
            study = design_import(design_loads(text), slug=slug, title=title)
        except DesignFileError as exc:
            raise CommandError(
                f"{path} was not imported:\n" + "\n".join(f"- {e}" for e in exc.errors)
            ) from exc
        arms = ", ".join(
            f"{arm.key} ({arm.endpoint.name if arm.endpoint else arm.kind})"
            for arm in study.arms.select_related("endpoint")
        )
        self.stdout.write(
            f"study {study.slug} created (draft): {study.scenarios.count()} scenario(s), "
            f"arms {arms or 'none'}, languages {', '.join(study.languages)}"
        )
