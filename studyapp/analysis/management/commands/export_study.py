"""`manage.py export_study SLUG --format csv|jsonl|parquet --out DIR [--blinded]
[--raw-identifiers --user USERNAME --reason TEXT]`."""

from __future__ import annotations

import time
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from studyapp.analysis import exports, identifiers
from studyapp.audit import services as audit
from studyapp.studies.models import Study


class Command(BaseCommand):
    help = (
        "Write a study's participants, tasks, answers (with scores), messages, "
        "allocations, the raters' labels and adjudications, the key facts each chat gave, "
        "and rubric scores and verdicts, plus a data dictionary, into a directory."
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
            "--raw-identifiers",
            action="store_true",
            help="add raw Prolific ids and session ids (recorded, with --user and --reason; "
            "never with --blinded)",
        )
        parser.add_argument(
            "--user",
            default="",
            help="with --raw-identifiers: the owner, collaborator or analyst releasing them",
        )
        parser.add_argument(
            "--reason", default="", help="with --raw-identifiers: why they are needed"
        )
        parser.add_argument(
            "--tables",
            default="",
            help=f"comma-separated subset of: {', '.join(exports.TABLES)} (default: all)",
        )

    def handle(
        self,
        *args,
        slug: str,
        format: str,
        out: str,
        blinded: bool,
        raw_identifiers: bool,
        user: str,
        reason: str,
        tables: str,
        **options,
    ):
        study = Study.objects.filter(slug=slug).first()
        if study is None:
            raise CommandError(f"No study with slug {slug!r}.")
        chosen = [t.strip() for t in tables.split(",") if t.strip()] or None
        unknown = set(chosen or []) - set(exports.TABLES)
        if unknown:
            raise CommandError(f"Unknown table(s): {', '.join(sorted(unknown))}.")
        if raw_identifiers:
            self._release(
                study=study,
                username=user,
                reason=reason,
                blinded=blinded,
                what=f"export_study {','.join(chosen or exports.TABLES)} ({format})",
            )
        elif user or reason:
            raise CommandError("--user and --reason go with --raw-identifiers.")
        audit.record(
            study=study,
            actor=get_user_model().objects.filter(username=user).first() if user else None,
            action="export",
            object_type="analysis.export_study",
            # Every table's name together is longer than an object id may be.
            object_id="",
            detail={
                "tables": list(chosen or exports.TABLES),
                "format": format,
                "blinded": blinded,
                "raw_identifiers": raw_identifiers,
                "out": str(out),
            },
        )
        started = time.monotonic()
        counts = exports.export_to_directory(
            study=study,
            fmt=format,
            out_dir=Path(out),
            blinded=blinded,
            raw_identifiers=raw_identifiers,
            tables=chosen,
        )
        for name, n in counts.items():
            self.stdout.write(f"{exports.file_name(name, format)}: {n} rows")
        self.stdout.write(
            f"data_dictionary.json, data_dictionary.csv; {time.monotonic() - started:.1f} s "
            f"-> {out}"
        )

    def _release(self, *, study, username: str, reason: str, blinded: bool, what: str) -> None:
        """Record the release and the export, as the analysis page does (identifiers)."""
        if blinded:
            raise CommandError("Raw identifiers are never exported blinded.")
        if not username or not reason.strip():
            raise CommandError(
                "--raw-identifiers needs --user (a member who may release them) and --reason."
            )
        investigator = get_user_model().objects.filter(username=username).first()
        if investigator is None:
            raise CommandError(f"No user {username!r}.")
        try:
            with transaction.atomic():
                identifiers.raw_release_create(study=study, user=investigator, reason=reason)
                identifiers.raw_export_authorise(
                    study=study, user=investigator, blinded=blinded, what=what
                )
        except ValidationError as error:
            raise CommandError(f"Invalid reason: {'; '.join(error.messages)}") from error
        except identifiers.RawIdentifiersRefused as refused:
            raise CommandError(str(refused)) from refused
        self.stdout.write(f"raw identifiers released to {username} and recorded")
