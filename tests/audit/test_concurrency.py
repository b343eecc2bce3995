"""Appends from many connections at once never fork a chain (PostgreSQL: the head's
row lock orders them)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from studyapp.audit import selectors, services
from studyapp.audit.models import AuditEntry, chain_for
from tests.audit.conftest import needs_postgresql
from tests.factories import make_study

THREADS = 8
EACH = 10


@pytest.mark.django_db(transaction=True)
def test_simultaneous_appends_make_one_unbroken_chain():
    needs_postgresql()
    study = make_study("raced")
    start = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def append(n: int) -> None:
        try:
            start.wait()
            for i in range(EACH):
                # Each append in its own transaction that lingers after the head is
                # locked, so the others queue behind it rather than interleave by luck.
                with transaction.atomic():
                    services.record(
                        study=study, action="view", object_type="t", object_id=f"{n}-{i}"
                    )
                    with connection.cursor() as cursor:
                        cursor.execute("SELECT pg_sleep(0.002)")
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    workers = [threading.Thread(target=append, args=(n,)) for n in range(THREADS)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()

    assert errors == []
    chain = chain_for(study.pk)
    appended = AuditEntry.objects.filter(chain=chain, object_type="t")
    assert appended.count() == THREADS * EACH
    seqs = list(AuditEntry.objects.filter(chain=chain).values_list("seq", flat=True))
    assert sorted(seqs) == list(range(1, len(seqs) + 1))
    result = selectors.chain_verify(chain=chain)
    assert result.ok, result.broken
    assert result.entries == len(seqs)


@pytest.mark.django_db(transaction=True)
def test_the_first_appends_to_a_new_chain_create_its_head_once():
    needs_postgresql()
    start = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def append() -> None:
        try:
            start.wait()
            services.record(action="view", object_type="first")
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    workers = [threading.Thread(target=append) for _ in range(THREADS)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    assert selectors.chain_verify(chain="global").ok
    assert AuditEntry.objects.filter(chain="global", object_type="first").count() == THREADS
