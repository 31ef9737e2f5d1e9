"""inventory_scan against the lab's real servers."""

from __future__ import annotations

import subprocess

import psycopg
import pytest

from flows.scan import inventory_scan
from tasks.facts import Role


def binary_version(node) -> str:
    out = subprocess.run(
        [str(node.build / "bin" / "postgres"), "--version"], capture_output=True, text=True, check=True
    )
    return out.stdout.split()[2]


def conn(lab, name: str):
    return psycopg.connect(
        host="127.0.0.1",
        port=lab.node(name).port,
        user="postgres",
        password=lab.password(),
        dbname="postgres",
        autocommit=True,
    )


def by_name(facts):
    return {f.target: f for f in facts}


def test_scan_reads_versions_and_roles_from_the_servers(lab):
    facts = by_name(inventory_scan(str(lab.inventory_path)))
    assert set(facts) == {"pg-orders-1", "pg-orders-2", "pg-billing", "pg-analytics"}
    for name, f in facts.items():
        assert f.reachable, f.error
        assert f.version == binary_version(lab.node(name))
        assert f.uptime_seconds > 0 and "plpgsql" in f.extensions and f.pending_restart is False
    assert facts["pg-orders-1"].role is Role.PRIMARY
    assert [p.name for p in facts["pg-orders-1"].peers] == ["pg-orders-2"]
    standby = facts["pg-orders-2"]
    assert standby.role is Role.STANDBY and standby.streaming is True and standby.upstream == "pg-orders-1"
    assert standby.lag_bytes is not None and standby.lag_seconds is not None
    assert facts["pg-orders-1"].extra["system_identifier"] == standby.extra["system_identifier"]


def test_standby_lag_is_measured_while_replay_is_paused(lab):
    with conn(lab, "pg-orders-2") as standby, conn(lab, "pg-orders-1") as primary:
        standby.execute("select pg_wal_replay_pause()")
        try:
            primary.execute("create table if not exists lagtest(x int)")
            primary.execute("insert into lagtest select generate_series(1, 20000)")
            facts = by_name(inventory_scan(str(lab.inventory_path), targets=["pg-orders"]))
            assert set(facts) == {"pg-orders-1", "pg-orders-2"}
            assert facts["pg-orders-2"].lag_bytes > 100_000
            assert facts["pg-orders-2"].extra["replay_paused"] is True
        finally:
            standby.execute("select pg_wal_replay_resume()")
            primary.execute("drop table if exists lagtest")


def test_a_stopped_server_is_a_fact_not_a_crash(lab):
    node = lab.node("pg-analytics")
    node.stop()
    try:
        facts = by_name(inventory_scan(str(lab.inventory_path)))
    finally:
        node.start()
    dead = facts["pg-analytics"]
    assert not dead.reachable and dead.error == "unreachable: connection refused"
    assert all(f.reachable for name, f in facts.items() if name != "pg-analytics")


def test_unknown_selection_is_refused(lab):
    from dbpatch.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown target or cluster: pg-nope"):
        inventory_scan(str(lab.inventory_path), targets=["pg-nope"])
