"""Cluster health and the drift frame from small fixtures: the verdicts, the sentences, and no nan/None anywhere."""

from __future__ import annotations

import datetime as dt

from dbpatch.models import Engine, Target, Thresholds
from reports.drift import drift_frame, needs_attention, summary_markdown
from reports.publish import records
from tasks.engines import cluster_health
from tasks.facts import NodeFacts, Peer, Role
from tasks.health import HealthStatus
from tasks.scan import read_node_facts

PG = Engine.POSTGRESQL


def node(name: str, role: Role, **kw) -> NodeFacts:
    return NodeFacts(target=name, engine=PG, cluster="c", environment="prod", reachable=True, role=role, **kw)


def primary(*standbys: str) -> NodeFacts:
    return node("c-1", Role.PRIMARY, version="15.18", peers=[Peer(s, "streaming", 0, 0.0) for s in standbys])


def standby(name: str = "c-2", **kw) -> NodeFacts:
    defaults = {"version": "15.18", "streaming": True, "upstream": "c-1", "lag_bytes": 0, "lag_seconds": 0.0}
    return node(name, Role.STANDBY, **{**defaults, **kw})


def test_a_streaming_pair_is_healthy():
    h = cluster_health(PG, [primary("c-2"), standby()], Thresholds())
    assert (h.status, h.healthy, h.failed) == (HealthStatus.HEALTHY, True, ())
    assert h.sentence == "healthy: exactly one primary (c-1), 1 standby streaming within lag limits"
    assert {c.phase for c in h.checks} == {"health"}


def test_two_primaries_a_standby_not_streaming_lag_and_a_member_down_are_unhealthy():
    two = cluster_health(PG, [primary(), node("c-2", Role.PRIMARY, version="15.18")])
    assert (two.status, two.sentence) == (HealthStatus.UNHEALTHY, "unhealthy: 2 primaries: c-1, c-2")
    idle = cluster_health(PG, [primary(), standby(streaming=False, lag_bytes=None)])
    assert idle.status is HealthStatus.UNHEALTHY and "c-2 is not streaming from a primary" in idle.sentence
    late = cluster_health(PG, [primary("c-2"), standby(lag_bytes=64 << 20)], Thresholds())
    assert [c.name for c in late.failed] == ["replication_lag"] and "exceeds 16777216 B" in late.sentence
    down = NodeFacts(target="c-2", engine=PG, cluster="c", environment="prod", reachable=False,
                     error="unreachable: connection refused")  # fmt: skip
    gone = cluster_health(PG, [primary(), down])
    assert gone.sentence == "unhealthy: c-2: unreachable: connection refused"


def test_no_member_answering_is_unknown_and_sqlserver_is_not_supported():
    down = NodeFacts(target="c-1", engine=PG, cluster="c", environment="prod", reachable=False,
                     error="unreachable: timed out")  # fmt: skip
    assert cluster_health(PG, [down]).status is HealthStatus.UNKNOWN
    sql = cluster_health(Engine.SQLSERVER, [])
    assert (sql.status, sql.sentence) == (
        HealthStatus.NOT_SUPPORTED,
        "not supported: dbpatch has no sqlserver health checks yet",
    )


def test_sqlserver_targets_are_not_supported_not_unreachable_and_no_cell_says_nan_or_none():
    target = Target.model_validate({
        "name": "sql-1", "engine": "sqlserver", "environment": "prod", "host": "10.0.0.5", "port": 1433,
        "os": "windows", "credentials": "sql", "access": "winrm", "host_access": "win", "package_source": "sqlserver-cu",
    })  # fmt: skip
    facts = read_node_facts(target)  # never contacted
    assert (facts.reachable, facts.supported) == (False, False)
    assert facts.error == "not supported: sqlserver scanning is not built yet"
    stopped = NodeFacts(target="c-2", engine=PG, cluster="c", environment="prod", reachable=False,
                        error="unreachable: connection refused")  # fmt: skip
    all_facts = [primary(), stopped, facts]
    health = {
        "c": cluster_health(PG, [primary(), stopped]),
        "sql-1": cluster_health(Engine.SQLSERVER, [facts]),
    }
    df = drift_frame(all_facts, {}, health)
    rows = {r["target"]: r for r in records(df)}
    assert (rows["sql-1"]["status"], rows["sql-1"]["version"], rows["sql-1"]["health"]) == (
        "not_supported",
        "unknown (not supported)",
        "not_supported",
    )
    assert (rows["c-2"]["status"], rows["c-2"]["version"]) == ("unreachable", "unknown (stopped)")
    assert list(needs_attention(df)) == [True, True, True]
    cells = [str(v) for r in rows.values() for v in r.values()]
    assert not [c for c in cells if c in ("nan", "None", "<NA>", "NaT")]
    text = df.to_csv(index=False) + summary_markdown(df, dt.date(2026, 11, 24))
    assert "nan" not in text and "None" not in text and "| c | unhealthy |" in text
