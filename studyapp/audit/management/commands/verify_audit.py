"""`manage.py verify_audit SLUG` (or `--global`): recompute a study's audit chain; exit 1
and name the first entry that does not fit."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError, CommandParser

from studyapp.audit import selectors
from studyapp.audit.models import GLOBAL_CHAIN, chain_for
from studyapp.studies.models import Study


class Command(BaseCommand):
    help = "Recompute an audit chain's hashes and report the first broken entry."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", nargs="?", default="")
        parser.add_argument(
            "--global", dest="global_chain", action="store_true", help="the global chain"
        )

    def handle(self, *args, slug: str, global_chain: bool, **options):
        if global_chain == bool(slug):
            raise CommandError("Give a study's slug or --global.")
        if global_chain:
            chain = GLOBAL_CHAIN
        else:
            study = Study.objects.filter(slug=slug).first()
            if study is None:
                raise CommandError(f"No study with slug {slug!r}.")
            chain = chain_for(study.pk)
        result = selectors.chain_verify(chain=chain)
        if result.ok:
            self.stdout.write(f"{chain}: {result.entries} entries, the chain is intact")
            return
        broken = result.broken
        self.stderr.write(
            f"{chain}: broken at entry {broken.seq} (id {broken.entry_id}): {broken.reason}"
        )
        sys.exit(1)
