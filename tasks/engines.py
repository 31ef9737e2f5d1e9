"""The one module that names engines (Patroni's ``get_dcs``): each engine registers how its clusters are built
onto the seam (``tasks/engine.py``). Nothing else branches on an engine's name to patch it; an engine that is
not registered is "not supported", never unreachable."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dbpatch.errors import NotSupported
from dbpatch.models import Engine, Policy, Target
from tasks.engine import EngineAdapter


@dataclass(frozen=True)
class EngineSpec:
    engine: Engine
    build: Callable[[str, list[Target], Policy, Callable[[str], str | None]], EngineAdapter]
    probe: Callable[[list[Target]], Any] | None = None  # a client write probe (PostgreSQL)


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


REGISTRY: dict[Engine, EngineSpec] = {
    Engine.POSTGRESQL: EngineSpec(Engine.POSTGRESQL, _postgres, _postgres_probe),
    Engine.MONGODB: EngineSpec(Engine.MONGODB, _mongodb),
}


def spec(engine: Engine) -> EngineSpec:
    try:
        return REGISTRY[engine]
    except KeyError:
        raise NotSupported(f"patching {engine.value} is not supported yet") from None


def adapter_for(cluster: str, targets: list[Target], policy: Policy, on: dt.date) -> EngineAdapter:
    engine = targets[0].engine
    return spec(engine).build(cluster, targets, policy, approved_for(policy, engine, on))
