"""The JSON Schema patterns in ``/api/openapi.json`` say exactly what the validators accept,
so that clients (and schemathesis) can trust the document."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from sqlfleet.models.common import (
    JOB_NAME_PATTERN,
    NAME_PATTERN,
    TEXT_PATTERN,
    Description,
    JobName,
    Name,
)

# Characters at the edges of every rule: separators, dots, '%', white space, C0 and C1
# controls, a non-breaking and an ideographic space, quotes; plus anything at all.
_EDGES = list("ab.%/\\ \t\n\r\x0b\x00\x1f\x7f\x85\x9f\xa0\u2000\u2028\u3000'\"")
VALUES = st.text(alphabet=st.sampled_from(_EDGES), max_size=5) | st.text(max_size=8)
EXAMPLES = settings(max_examples=400, deadline=None, database=None, derandomize=True)


def accepts(annotation: object, value: str) -> bool:
    try:
        TypeAdapter(annotation).validate_python(value)
    except ValidationError:
        return False
    return True


@EXAMPLES
@given(VALUES)
def test_name_pattern_matches_the_name_rules(value: str) -> None:
    assert accepts(Name, value) == bool(re.fullmatch(NAME_PATTERN, value)), repr(value)


@EXAMPLES
@given(VALUES)
def test_job_name_pattern_matches_the_job_name_rules(value: str) -> None:
    assert accepts(JobName, value) == bool(re.fullmatch(JOB_NAME_PATTERN, value)), repr(value)


@EXAMPLES
@given(VALUES)
def test_text_pattern_matches_the_text_rules(value: str) -> None:
    assert accepts(Description, value) == bool(re.fullmatch(TEXT_PATTERN, value)), repr(value)


def test_dot_segments_are_not_names() -> None:
    assert not accepts(Name, ".") and not accepts(Name, "..")
    assert accepts(Name, "...") and accepts(Name, ".a") and accepts(Name, "a.")
