"""Script variables and splitting (sqlfleet.scripts)."""

from __future__ import annotations

import datetime as dt

import pytest

from sqlfleet.scripts import (
    SCRIPT_VARIABLES,
    named_variables,
    script_values,
    script_variables,
    split_batches,
    split_sqlite_statements,
    substitute_variables,
)


def test_substitute_known_variables_and_leave_unknown_ones():
    text = "PRINT '$(job_name) v$(job_version) on $(target_database_name)'; -- $(nope) $(JOB_ID)"
    done = substitute_variables(
        text,
        {"job_name": "nightly", "job_version": 3, "target_database_name": "db1", "job_id": "x"},
    )
    assert done == "PRINT 'nightly v3 on db1'; -- $(nope) x"


def test_substitution_is_single_pass():
    # A value that looks like a token is not expanded again.
    assert substitute_variables("$(a) $(b)", {"a": "$(b)", "b": "B"}) == "$(b) B"
    assert substitute_variables("$(a)$(a)", {"a": None}) == ""
    assert substitute_variables("$ (a) $(a b) $()", {"a": "A"}) == "$ (a) $(a b) $()"


def test_script_variables_cover_every_token():
    created = dt.datetime(2025, 3, 4, 5, 6, 7, 890123, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    values = script_variables(
        job_name="nightly",
        job_id="11111111-2222-3333-4444-555555555555",
        job_version=7,
        step_id=2,
        step_name="Step2",
        job_execution_id="aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        job_execution_create_time=created,
        target_group_name="prod",
        target_server_name="srv1",
        target_database_name="db1",
    )
    assert tuple(values) == SCRIPT_VARIABLES
    assert values["job_execution_create_time"] == "2025-03-04 03:06:07.890123"
    assert values["job_version"] == "7"
    script = " ".join(f"$({name})" for name in SCRIPT_VARIABLES)
    assert "$(" not in substitute_variables(script, values)


def test_named_variables_are_all_a_script_can_use():
    """The runner sends a target only the values its script names (``named_variables``):
    substituting those gives the same text as substituting every value."""
    values = script_values(
        script_variables(
            job_name="nightly", job_id="j", job_version=1, step_id=1, step_name="s",
            job_execution_id="e", job_execution_create_time=dt.datetime(2025, 1, 1),
            target_group_name="g", target_server_name="srv", target_database_name="db1",
        ),
        "sqlite",
    )  # fmt: skip
    assert named_variables("SELECT 1; CREATE TABLE t (a int)") == frozenset()
    script = "SELECT $(Target_Database_Name_LITERAL), '$(job_name)', $(nope), $(job_name)"
    named = named_variables(script)
    assert named == {"target_database_name_literal", "job_name", "nope"}
    chosen = {name: value for name, value in values.items() if name.lower() in named}
    assert set(chosen) == {"target_database_name_literal", "job_name"}
    assert substitute_variables(script, chosen) == substitute_variables(script, values)
    assert substitute_variables(script, chosen) == "SELECT 'db1', 'nightly', $(nope), nightly"


GO_CASES = [
    ("SELECT 1\nGO\nSELECT 2\n", ["SELECT 1\n", "SELECT 2\n"]),
    ("SELECT 1\ngo\r\nSELECT 2", ["SELECT 1\n", "SELECT 2"]),
    ("SELECT 1\n  Go  \nSELECT 2", ["SELECT 1\n", "SELECT 2"]),
    ("INSERT t VALUES (1)\nGO 3\n", ["INSERT t VALUES (1)\n"] * 3),
    ("SELECT 1\nGO 0\nSELECT 2\n", ["SELECT 2\n"]),
    ("SELECT 1\nGO -- done\nSELECT 2", ["SELECT 1\n", "SELECT 2"]),
    ("GO\nGO\nSELECT 1\nGO\n\nGO\n", ["SELECT 1\n"]),
    ("SELECT 'a\nGO\nb'\nGO\n", ["SELECT 'a\nGO\nb'\n"]),  # inside a string literal
    ("SELECT 'it''s\nGO\n'\nGO\nSELECT 2", ["SELECT 'it''s\nGO\n'\n", "SELECT 2"]),
    (
        "/* a\nGO\n/* nested\nGO\n*/\nGO\n*/ SELECT 1\nGO\n",
        ["/* a\nGO\n/* nested\nGO\n*/\nGO\n*/ SELECT 1\n"],
    ),
    ("SELECT [a\nGO\n]] b]\nGO\n", ["SELECT [a\nGO\n]] b]\n"]),  # bracketed identifier
    ('SELECT "x\nGO\n"\nGO\n', ['SELECT "x\nGO\n"\n']),
    ("SELECT 1 -- it's fine\nGO\nSELECT 2", ["SELECT 1 -- it's fine\n", "SELECT 2"]),
    ("SELECT '--'\nGO\nSELECT '/*'\nGO\nSELECT 3", ["SELECT '--'\n", "SELECT '/*'\n", "SELECT 3"]),
    ("GOTO done\ndone: SELECT 1", ["GOTO done\ndone: SELECT 1"]),
    ("SELECT 1 GO\nSELECT 2", ["SELECT 1 GO\nSELECT 2"]),  # not alone on its line
    ("SELECT 1\nGO;\n", ["SELECT 1\nGO;\n"]),  # documented limit: GO; is not a separator
    ("", []),
    ("  \n\t\n", []),
]


@pytest.mark.parametrize(("script", "batches"), GO_CASES)
def test_split_batches(script, batches):
    assert split_batches(script) == batches


SQLITE_CASES = [
    ("SELECT 1; SELECT 2;", ["SELECT 1;", "SELECT 2;"]),
    ("SELECT ';'; SELECT 2", ["SELECT ';';", "SELECT 2"]),
    ("-- a; b\nSELECT 1;", ["-- a; b\nSELECT 1;"]),
    ("/* x; */ SELECT 1; ;; -- tail", ["/* x; */ SELECT 1;"]),
    (
        "CREATE TRIGGER t AFTER INSERT ON a BEGIN INSERT INTO b VALUES (1); "
        "INSERT INTO b VALUES (2); END; SELECT 3;",
        [
            "CREATE TRIGGER t AFTER INSERT ON a BEGIN INSERT INTO b VALUES (1); "
            "INSERT INTO b VALUES (2); END;",
            "SELECT 3;",
        ],
    ),
    ("", []),
]


@pytest.mark.parametrize(("script", "statements"), SQLITE_CASES)
def test_split_sqlite_statements(script, statements):
    assert split_sqlite_statements(script) == statements
