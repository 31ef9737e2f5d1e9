"""Cluster health, engine-neutral: one primary, replicas streaming, lag within limits, every member reachable.

``postgres_health`` and ``mongodb_health`` run the engines' own pure pre-checks (``tasks/postgres/checks.py``,
``tasks/mongodb/checks.py``) over the facts of one cluster and returns one status with one sentence. The drift
report shows it per cluster; a patcher can call it to tell "already at the version" from "already at the
version and healthy". ``tasks.engines.cluster_health`` picks the engine's judge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING

from dbpatch.models import Engine, Thresholds
from tasks.facts import NodeFacts
from tasks.patching import CheckResult

if TYPE_CHECKING:
    from tasks.mongodb.facts import MongoFacts

PHASE = "health"


class HealthStatus(StrEnum):
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"  # a check failed: two primaries, a standby not streaming, lag, a member down
    UNKNOWN = "unknown"  # no member could be read, so nothing can be judged
    NOT_SUPPORTED = "not_supported"  # dbpatch has no health checks for this engine yet


@dataclass(frozen=True)
class ClusterHealth:
    """The health of one cluster: a status, one sentence for people, and the checks that decided it."""

    cluster: str
    engine: Engine
    status: HealthStatus
    sentence: str
    checks: tuple[CheckResult, ...] = ()

    @property
    def healthy(self) -> bool:
        return self.status is HealthStatus.HEALTHY

    @property
    def failed(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if not c.ok)


def postgres_health(facts: Sequence[NodeFacts], th: Thresholds) -> ClusterHealth:
    """PostgreSQL: pass ``NodeFacts`` after ``attach_primary_view`` (else a standby's lag reads as unknown)."""
    nodes = [f for f in facts if isinstance(f, NodeFacts)]
    results = _postgres_checks(nodes, th)
    return _judge(Engine.POSTGRESQL, _cluster_name(facts), results, any(n.reachable for n in nodes))


def mongodb_health(facts: Sequence[NodeFacts | MongoFacts], th: Thresholds) -> ClusterHealth:
    """MongoDB: ``MongoFacts``, or the scan's ``NodeFacts`` (decoded by ``tasks.mongodb.scan.mongo_facts``)."""
    from tasks.mongodb.scan import mongo_facts

    members = [mongo_facts(f) if isinstance(f, NodeFacts) else f for f in facts]
    if not any(m.reachable for m in members):
        down = "; ".join(f"{m.target}: {m.error}" for m in members) or "no members"
        return ClusterHealth(_cluster_name(facts), Engine.MONGODB, HealthStatus.UNKNOWN, f"unknown: {down}")
    return _judge(Engine.MONGODB, _cluster_name(facts), _mongo_checks(members, th), True)


def not_supported(engine: Engine, facts: Sequence[NodeFacts | MongoFacts]) -> ClusterHealth:
    return ClusterHealth(
        _cluster_name(facts),
        engine,
        HealthStatus.NOT_SUPPORTED,
        f"not supported: dbpatch has no {engine.value} health checks yet",
    )


def _cluster_name(facts: Sequence[NodeFacts | MongoFacts]) -> str:
    for f in facts:
        name = getattr(f, "cluster", None) or getattr(f, "set_name", None)
        if name:
            return str(name)
    return "?"


def _postgres_checks(nodes: list[NodeFacts], th: Thresholds) -> list[CheckResult]:
    from tasks.postgres import checks

    reachable = [n for n in nodes if n.reachable]
    results = checks.reachable(nodes, PHASE)
    if reachable:
        results += checks.one_primary(reachable, PHASE)
        results += checks.standbys_streaming(reachable, PHASE)
        results += checks.replication_lag(reachable, th, PHASE)
    return results


def _mongo_checks(members: list[MongoFacts], th: Thresholds) -> list[CheckResult]:
    from tasks.mongodb import checks

    found = [
        checks.check_members_healthy(members),
        checks.check_member_states(members),
        checks.check_single_primary(members),
        checks.check_lag(members, th.max_lag_seconds),
    ]
    return [replace(c, phase=PHASE) for c in found]


def _judge(engine: Engine, cluster: str, results: list[CheckResult], answered: bool) -> ClusterHealth:
    failed = [c.sentence for c in results if not c.ok]
    checks = tuple(results)
    failed = [_short(cluster, c.sentence) for c in results if not c.ok]
    if not answered:
        status, sentence = HealthStatus.UNKNOWN, "unknown: " + ("; ".join(failed) or "no members")
    elif failed:
        status, sentence = HealthStatus.UNHEALTHY, "unhealthy: " + "; ".join(failed)
    else:
        status, sentence = HealthStatus.HEALTHY, "healthy: " + _healthy_words(cluster, results)
    return ClusterHealth(cluster, engine, status, sentence, checks)


def _short(cluster: str, sentence: str) -> str:
    """MongoDB's set-wide sentences start with the set's name, which the report already shows."""
    return sentence.removeprefix(f"{cluster}: ")


def _healthy_words(cluster: str, results: list[CheckResult]) -> str:
    """'exactly one primary (pg-orders-1), 1 standby streaming within lag limits'."""
    primary = next((c.sentence for c in results if c.name in ("one_primary", "single_primary")), "")
    replicas = sum(c.name == "standby_streaming" for c in results)
    if replicas:
        return (
            f"{primary}, {replicas} {'standby' if replicas == 1 else 'standbys'} streaming within lag limits"
        )
    members = next((c.sentence for c in results if c.name == "members_healthy"), "")
    return "; ".join(_short(cluster, s) for s in (primary, members) if s) or "every check passed"
