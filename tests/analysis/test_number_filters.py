"""The analysis pages' number filters show a dash where a table has no number yet."""

from __future__ import annotations

import pytest
from django.template import Context, Template

from studyapp.analysis.templatetags.analysis_tags import DASH, pvalue, ratio, ratio3, signed


@pytest.mark.parametrize("missing", [None, ""])
@pytest.mark.parametrize("number_filter", [pvalue, ratio, ratio3, signed])
def test_no_number_is_a_dash(number_filter, missing):
    assert number_filter(missing) == DASH


def test_a_field_the_row_lacks_renders_as_a_dash_not_an_error():
    # A plan table's row of a study with participants but no answers yet has no
    # mann_whitney_f: the template engine gives the filter "", which raised ValueError.
    html = Template("{% load analysis_tags %}{{ row.mann_whitney_f|ratio }}").render(
        Context({"row": {}})
    )
    assert html == DASH


def test_numbers_keep_their_format():
    assert (ratio(1.234), ratio3(0.1234), signed(2), pvalue(0.0004)) == (
        "1.23",
        "0.123",
        "+2",
        "<0.001",
    )
