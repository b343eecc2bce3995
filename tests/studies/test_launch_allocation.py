"""The launch checklist refuses an allocation design the first allocation would refuse."""

from __future__ import annotations

import pytest

from studyapp.studies.launch import launch_problems
from studyapp.studies.models import Study
from tests.studies.test_launch import codes, ready_study

pytestmark = pytest.mark.django_db


def test_block_sizes_an_arms_weight_change_no_longer_divides_refuse_the_launch(scripted):
    # The allocation page checked 4 against two arms of weight 1; an arm's weight changed
    # afterwards (the arms page does not look at block sizes), so 4 is no longer a
    # multiple of the weight total 3 and the first participant would meet an error.
    study = ready_study(
        scripted.base_url,
        allocation_method=Study.AllocationMethod.BLOCKS,
        allocation_block_sizes=[4],
    )
    assert "allocation_design" not in codes(launch_problems(study))
    study.arms.filter(key__startswith="llm").update(weight=2)
    problems = [p for p in launch_problems(study) if p.code == "allocation_design"]
    assert len(problems) == 1
    assert "block size 4" in problems[0].message
    assert problems[0].url.endswith(f"/studies/{study.slug}/allocation/")
