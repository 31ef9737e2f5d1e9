"""The one module that names engines (Patroni's ``get_dcs``): each engine registers how its clusters are built
onto the seam (``tasks/engine.py``), how it is scanned, judged healthy, and where its packages come from.
Nothing else branches on an engine's name (the catalog's per-engine version formats are data rules, not
dispatch); an engine that is not registered is "not supported", never unreachable."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from dbpatch.errors import NotSupported
from dbpatch.models import Engine, Policy, Target, Thresholds
from tasks import health
from tasks.engine import EngineAdapter
from tasks.facts import NodeFacts
from tasks.health import ClusterHealth


@dataclass(frozen=True)
class EngineSpec:
    """What dbpatch does with one engine, each a function that imports its engine's modules when called."""

    engine: Engine
    build: Callable[[str, list[Target], Policy, Callable[[str], str | None]], EngineAdapter]
    read_facts: Callable[[Target], NodeFacts]  # the scan's fact reader; raises TargetUnreachable
    health: Callable[[Sequence[Any], Thresholds], ClusterHealth]
    package_source: Callable[[Target], Any]
    probe: Callable[[list[Target]], Any] | None = None  # a client write probe (PostgreSQL)
    settle: Callable[[list[NodeFacts]], None] = lambda cluster: None  # after a scan, per cluster
    annotate: Callable[[Target, NodeFacts], NodeFacts] = lambda target, facts: facts  # every scanned fact


def approved_for(policy: Policy, engine: Engine, on: dt.date) -> Callable[[str], str | None]:
    """major → the version the policy approves on ``on`` (None when none is)."""
    from tasks.catalog import approved_release, load_catalog

    catalog = load_catalog()

    def resolve(major: str) -> str | None:
        release = approved_release(policy, catalog, engine, major, on)
        return release.version if release else None

    return resolve


def _postgres(cluster: str, targets: list[Target], policy: Policy, approved: Callable[[str], str | None]):
    from tasks.credentials import postgres_credentials
    from tasks.host.factory import transport_for
    from tasks.postgres.engine import PostgresEngine
    from tasks.postgres.node import PgNode
    from tasks.postgres.packages import package_source

    nodes = [PgNode(t, postgres_credentials(t), transport_for(t), package_source(t)) for t in targets]
    return PostgresEngine(cluster, nodes, policy, approved)


def _postgres_probe(targets: list[Target]):
    from tasks.credentials import postgres_credentials
    from tasks.postgres.probe import WriteProbe

    return WriteProbe(targets, postgres_credentials(targets[0]))


def _mongodb(cluster: str, targets: list[Target], policy: Policy, approved: Callable[[str], str | None]):
    from tasks.mongodb.engine import MongoEngine
    from tasks.mongodb.node import mongo_nodes

    return MongoEngine(cluster, mongo_nodes(targets), policy, approved)


def _postgres_facts(target: Target) -> NodeFacts:
    from tasks.credentials import postgres_credentials
    from tasks.postgres.facts import read_facts

    return read_facts(target, postgres_credentials(target))


def _postgres_settle(cluster: list[NodeFacts]) -> None:
    from tasks.postgres.facts import attach_primary_view

    attach_primary_view(cluster)


def _postgres_source(target: Target):
    from tasks.postgres.packages import package_source

    return package_source(target)


def _mongodb_facts(target: Target) -> NodeFacts:
    from tasks.mongodb.scan import read_node_facts

    return read_node_facts(target)


def _mongodb_source(target: Target):
    from tasks.mongodb.packages import package_source

    return package_source(target)


def _with_address(target: Target, facts: NodeFacts) -> NodeFacts:
    """A MongoDB member's ``host:port``, so the set's view (which names members so) matches an unreachable one."""
    facts.extra.setdefault("address", f"{target.host}:{target.port}")
    return facts


REGISTRY: dict[Engine, EngineSpec] = {
    Engine.POSTGRESQL: EngineSpec(
        Engine.POSTGRESQL,
        _postgres,
        _postgres_facts,
        health.postgres_health,
        _postgres_source,
        probe=_postgres_probe,
        settle=_postgres_settle,
    ),
    Engine.MONGODB: EngineSpec(
        Engine.MONGODB,
        _mongodb,
        _mongodb_facts,
        health.mongodb_health,
        _mongodb_source,
        annotate=_with_address,
    ),
}


def spec(engine: Engine) -> EngineSpec:
    try:
        return REGISTRY[engine]
    except KeyError:
        raise NotSupported(f"patching {engine.value} is not supported yet") from None


def cluster_health(
    engine: Engine, facts: Sequence[Any], thresholds: Thresholds | None = None
) -> ClusterHealth:
    """One cluster's health from its members' facts (``tasks/health.py``); "not supported" for other engines."""
    engine = Engine(engine)
    if engine not in REGISTRY:
        return health.not_supported(engine, facts)
    return REGISTRY[engine].health(facts, thresholds or Thresholds())


def adapter_for(cluster: str, targets: list[Target], policy: Policy, on: dt.date) -> EngineAdapter:
    engine = targets[0].engine
    return spec(engine).build(cluster, targets, policy, approved_for(policy, engine, on))
