"""Target expansion (sqlfleet.targets): includes, excludes after expansion, de-duplication."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from sqlfleet.errors import ValidationFailed
from sqlfleet.models.targets import Engine, MembershipType, TargetType
from sqlfleet.targets import Target, expand_targets


def member(target_type, server, database=None, pool=None, *, exclude=False, engine="sqlserver",
           port=None):  # fmt: skip
    return SimpleNamespace(
        membership_type="exclude" if exclude else "include",
        target_type=target_type,
        engine=engine,
        server_name=server,
        port=port,
        database_name=database,
        elastic_pool_name=pool,
    )


SERVERS = {
    ("srv1", None): ["db1", "db2", "db3", "pooled1", "pooled2"],
    ("srv1", "poolA"): ["pooled1", "pooled2"],
    ("srv2", None): ["x"],
    ("/data/fleet", None): ["a", "b"],
}


class Lister:
    def __init__(self):
        self.calls = []

    def __call__(self, m):
        self.calls.append((m.server_name, m.elastic_pool_name))
        return SERVERS[(m.server_name, m.elastic_pool_name)]


def names(targets):
    return [f"{t.server}/{t.database}" for t in targets]


def test_server_member_expands_in_listing_order():
    lister = Lister()
    found = expand_targets([member("server", "srv1")], lister)
    assert found[0] == Target("sqlserver", "srv1", None, "db1")
    assert names(found) == ["srv1/db1", "srv1/db2", "srv1/db3", "srv1/pooled1", "srv1/pooled2"]
    assert lister.calls == [("srv1", None)]


def test_excludes_apply_after_expansion_whatever_their_position():
    members = [
        member("database", "srv1", "db2", exclude=True),
        member("server", "srv1"),
        member("elasticPool", "srv1", pool="poolA", exclude=True),
        member("database", "srv2", "x"),
    ]
    lister = Lister()
    assert names(expand_targets(members, lister)) == ["srv1/db1", "srv1/db3", "srv2/x"]
    assert lister.calls == [("srv1", None), ("srv1", "poolA")]


def test_excluding_a_server_removes_all_its_targets_without_listing():
    members = [
        member("server", "srv1"),
        member("database", "SRV2", "x"),
        member("server", "srv1", exclude=True),
    ]
    lister = Lister()
    assert names(expand_targets(members, lister)) == ["SRV2/x"]
    assert lister.calls == [("srv1", None)]


def test_duplicates_collapse_to_the_first():
    members = [
        member("database", "srv1", "DB2"),
        member("server", "srv1", port=1433),
        member("elasticPool", "srv1", pool="poolA"),
        member("database", "Srv1", "db1"),
    ]
    found = expand_targets(members, Lister())
    assert names(found) == ["srv1/DB2", "srv1/db1", "srv1/db3", "srv1/pooled1", "srv1/pooled2"]
    assert found[0].port is None and found[1].port == 1433


def test_postgres_names_are_case_sensitive_and_ports_distinguish_servers():
    members = [
        member("database", "pg", "Sales", engine="postgresql"),
        member("database", "pg", "sales", engine="postgresql", port=5432),
        member("database", "pg", "sales", engine="postgresql"),
        member("database", "pg", "sales", engine="postgresql", port=5433),
        member("database", "pg", "Sales", engine="postgresql", exclude=True, port=5433),
    ]
    found = expand_targets(members, Lister())
    assert [(t.database, t.port) for t in found] == [
        ("Sales", None),
        ("sales", 5432),
        ("sales", 5433),
    ]


def test_sqlite_folders_and_file_names():
    members = [
        member("server", "/data/fleet", engine="sqlite"),
        member("database", "/data/./fleet/", "a.db", engine="sqlite"),
        member("database", "/data/fleet", "b.db", engine="sqlite", exclude=True),
    ]
    assert names(expand_targets(members, Lister())) == ["/data/fleet/a"]


def test_model_enums_are_accepted():
    m = SimpleNamespace(
        membership_type=MembershipType.INCLUDE,
        target_type=TargetType.DATABASE,
        engine=Engine.MYSQL,
        server_name="db.local",
        port=None,
        database_name="app",
        elastic_pool_name=None,
    )
    assert expand_targets([m], Lister()) == [Target("mysql", "db.local", None, "app")]


def test_listing_errors_propagate_and_bad_members_are_named():
    def broken(_member):
        raise ConnectionError("refresh credential rejected")

    with pytest.raises(ConnectionError):
        expand_targets([member("server", "srv1")], broken)
    with pytest.raises(ValidationFailed) as caught:
        expand_targets([member("database", "srv1")], Lister())
    assert caught.value.field == "database_name"


def test_no_members_no_targets():
    assert expand_targets([], Lister()) == []
