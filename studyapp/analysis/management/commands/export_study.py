"""`manage.py export_study SLUG --format csv|jsonl|parquet --out DIR [--blinded]`."""

from __future__ import annotations

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from studyapp.analysis import exports
from studyapp.studies.models import Study


class Command(BaseCommand):
    help = (
        "Write a study's participants, tasks, answers (with scores), messages and "
        "allocations, plus a data dictionary, into a directory."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--format", choices=sorted(exports.WRITERS), default="csv")
        parser.add_argument("--out", required=True, help="directory (created if missing)")
        parser.add_argument(
            "--blinded",
            action="store_true",
            help="arms as letters only; leave out arm keys, kinds and models",
        )
        parser.add_argument(
            "--tables",
            default="",
            help=f"comma-separated subset of: {', '.join(exports.TABLES)} (default: all)",
        )

    def handle(
        self, *args, slug: str, format: str, out: str, blinded: bool, tables: str, **options
    ):
        study = Study.objects.filter(slug=slug).first()
        if study is None:
            raise CommandError(f"No study with slug {slug!r}.")
        chosen = [t.strip() for t in tables.split(",") if t.strip()] or None
        unknown = set(chosen or []) - set(exports.TABLES)
        if unknown:
            raise CommandError(f"Unknown table(s): {', '.join(sorted(unknown))}.")
        started = time.monotonic()
        counts = exports.export_to_directory(
            study=study, fmt=format, out_dir=Path(out), blinded=blinded, tables=chosen
        )
        for name, n in counts.items():
            self.stdout.write(f"{exports.file_name(name, format)}: {n} rows")
        self.stdout.write(
            f"data_dictionary.json, data_dictionary.csv; {time.monotonic() - started:.1f} s "
            f"-> {out}"
        )
