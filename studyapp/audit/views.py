"""The study's audit trail for its investigators (and superusers): paged, with the
chain's verification, and as CSV."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator

from django.core.paginator import Paginator
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from studyapp.accounts.decorators import login_required_htmx
from studyapp.accounts.permissions import study_get_for_user_or_404
from studyapp.audit import selectors, services
from studyapp.core.http import AuthenticatedHttpRequest
from studyapp.studies import roles

PAGE_SIZE = 50
CSV_COLUMNS = (
    "seq",
    "at",
    "actor",
    "action",
    "object_type",
    "object_id",
    "object_repr",
    "before",
    "after",
    "detail",
    "prev_hash",
    "hash",
)


@require_GET
@login_required_htmx
def audit_log(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    study = study_get_for_user_or_404(request.user, slug, roles.VIEW_AUDIT)
    page = Paginator(selectors.study_entries(study=study), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {
        "study": study,
        "page": page,
        "verification": selectors.study_verify(study=study),
    }
    return render(request, "audit/audit_log.html", context)


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_rows(entries) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for e in entries.iterator(chunk_size=2000):
        yield writer.writerow(
            [
                e.seq,
                e.at.isoformat(),
                e.actor_label,
                e.action,
                e.object_type,
                e.object_id,
                e.object_repr,
                json.dumps(e.before, sort_keys=True),
                json.dumps(e.after, sort_keys=True),
                json.dumps(e.detail, sort_keys=True),
                e.prev_hash,
                e.hash,
            ]
        )


@require_GET
@login_required_htmx
def audit_log_csv(request: AuthenticatedHttpRequest, slug: str) -> StreamingHttpResponse:
    study = study_get_for_user_or_404(request.user, slug, roles.VIEW_AUDIT)
    # Exporting the trail is an export too; it is written before the rows are read, so
    # the file ends with its own entry.
    services.record(study=study, actor=request.user, action="export", object_type="audit.trail")
    entries = selectors.study_entries(study=study).order_by("seq")
    response = StreamingHttpResponse(_csv_rows(entries), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{study.slug}-audit.csv"'
    response["Cache-Control"] = "no-store"
    return response
