"""study_quota_per_arm_set: the only writer of a quota outside the admin."""

from __future__ import annotations

import pytest

from studyapp.studies.models import Study
from studyapp.studies.quotas import QuotaRefusedError, study_quota_per_arm_set
from tests.factories import make_study


def test_it_sets_the_quota_of_a_draft_and_returns_the_old_one(alice):
    study = make_study("q", status=Study.Status.DRAFT, quota_per_arm=40)
    assert study_quota_per_arm_set(study=study, quota=272, set_by=alice) == 40
    assert study.quota_per_arm == 272
    study.refresh_from_db()
    assert study.quota_per_arm == 272


def test_it_reads_the_status_from_the_database_not_the_instance(alice):
    # Set live by someone else since this instance was read: refused, nothing written.
    study = make_study("q", status=Study.Status.DRAFT)
    Study.objects.filter(pk=study.pk).update(status=Study.Status.LIVE)
    with pytest.raises(QuotaRefusedError, match="live \\(enrolling\\), not a draft"):
        study_quota_per_arm_set(study=study, quota=272, set_by=alice)
    study.refresh_from_db()
    assert study.quota_per_arm is None


@pytest.mark.parametrize("quota", [0, -4, 2.5, True, "272"])
def test_it_refuses_a_quota_that_is_not_a_positive_whole_number(alice, quota):
    study = make_study("q", status=Study.Status.DRAFT)
    with pytest.raises(QuotaRefusedError, match="whole number"):
        study_quota_per_arm_set(study=study, quota=quota, set_by=alice)
    study.refresh_from_db()
    assert study.quota_per_arm is None
