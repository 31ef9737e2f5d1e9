"""MongoDB facts: commands plus parsers returning plain data, no side effects (pyinfra's facts).

Each member is read directly (``buildInfo``, ``replSetGetStatus``, ``replSetGetConfig``, ``getParameter``
featureCompatibilityVersion and the first/last ``local.oplog.rs`` entries), the same commands an operator runs
in mongosh (``db.version()``, ``rs.status()``, ``rs.printReplicationInfo()``). Lag is measured as
``rs.printSecondaryReplicationInfo()`` does: the primary's ``optimeDate`` minus the member's (whole seconds).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from dbpatch.errors import TargetUnreachable
from dbpatch.models import Target
from tasks.mongodb.client import MongoCommandError, Node, connect

_EPOCH = dt.datetime(1970, 1, 2, tzinfo=dt.UTC)  # optimeDate at or before this means "no optime"
_NO_REPLICATION = {76}  # NoReplicationEnabled: a standalone mongod


class MemberState(IntEnum):
    """Replica-set member states (the numeric ``state`` of ``replSetGetStatus``)."""

    STARTUP = 0
    PRIMARY = 1
    SECONDARY = 2
    RECOVERING = 3
    STARTUP2 = 5
    UNKNOWN = 6
    ARBITER = 7
    DOWN = 8
    ROLLBACK = 9
    REMOVED = 10

    @classmethod
    def of(cls, code: Any) -> MemberState:
        try:
            return cls(int(code))
        except (TypeError, ValueError):
            return cls.UNKNOWN


@dataclass(frozen=True)
class MemberFacts:
    """One member as the set reports it."""

    name: str
    state: MemberState
    health: bool
    optime_date: dt.datetime | None
    lag_seconds: float | None  # behind the primary (or the freshest member when there is none)
    priority: float | None = None  # from replSetGetConfig; None when the config could not be read
    is_self: bool = False
    sync_source: str | None = None


@dataclass(frozen=True)
class MongoFacts:
    """What one member says about itself and its set. ``reachable=False`` carries only ``error``."""

    target: str
    reachable: bool
    error: str | None = None
    version: str | None = None
    state: MemberState | None = None
    set_name: str | None = None
    me: str | None = None  # this member's name in the set config (host:port)
    members: tuple[MemberFacts, ...] = field(default_factory=tuple)
    fcv: str | None = None
    oplog_window_hours: float | None = None
    initial_sync: bool = False

    @classmethod
    def unreachable(cls, target: str, reason: str, me: str | None = None) -> MongoFacts:
        return cls(target=target, reachable=False, error=f"unreachable: {reason}", me=me)

    @property
    def series(self) -> str | None:
        """'7.0.12' → '7.0' (MongoDB's major release is the first two numbers)."""
        return series_of(self.version) if self.version else None

    @property
    def primary(self) -> MemberFacts | None:
        return next((m for m in self.members if m.state is MemberState.PRIMARY), None)


def series_of(version: str) -> str:
    return ".".join(version.split(".")[:2])


# --- parsers (pure; tested from small documents) --------------------------------------------------------


def _date(value: Any) -> dt.datetime | None:
    if not isinstance(value, dt.datetime):
        return None
    value = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return value if value > _EPOCH else None


def parse_members(
    status: Mapping[str, Any], config: Mapping[str, Any] | None = None
) -> tuple[MemberFacts, ...]:
    """``replSetGetStatus`` (+ optional ``replSetGetConfig``) → members with state, health, optime and lag."""
    priorities = {m.get("host"): float(m.get("priority", 1)) for m in (config or {}).get("members", [])}
    raw = list(status.get("members", []))
    dates = {m.get("name"): _date(m.get("optimeDate")) for m in raw}
    primary = next(
        (m.get("name") for m in raw if MemberState.of(m.get("state")) is MemberState.PRIMARY), None
    )
    known = [d for d in dates.values() if d]
    reference = dates.get(primary) if primary else (max(known) if known else None)
    out = []
    for m in raw:
        optime = dates.get(m.get("name"))
        lag = max(0.0, (reference - optime).total_seconds()) if reference and optime else None
        out.append(
            MemberFacts(
                name=str(m.get("name")),
                state=MemberState.of(m.get("state")),
                health=float(m.get("health", 0)) >= 1,
                optime_date=optime,
                lag_seconds=lag,
                priority=priorities.get(m.get("name")) if config else None,
                is_self=bool(m.get("self")),
                sync_source=m.get("syncSourceHost") or None,
            )
        )
    return tuple(out)


def oplog_window_hours(first: dt.datetime | None, last: dt.datetime | None) -> float | None:
    """Hours between the first and the last oplog entry (``rs.printReplicationInfo()``'s 'log length')."""
    if not first or not last:
        return None
    return round(max(0.0, (last - first).total_seconds()) / 3600, 3)


# --- reading ----------------------------------------------------------------------------------------------


def read_node(node: Node) -> MongoFacts:
    """Every fact of one member over an open connection."""
    build = node.command("buildInfo")
    fcv_doc = node.command({"getParameter": 1, "featureCompatibilityVersion": 1})
    try:
        status = node.command("replSetGetStatus")
        config = node.command("replSetGetConfig").get("config")
    except MongoCommandError as exc:
        if exc.code not in _NO_REPLICATION:
            raise
        status, config = {}, None
    members = parse_members(status, config) if status else ()
    me = next((m for m in members if m.is_self), None)
    first, last = node.oplog_bounds() if status else (None, None)
    return MongoFacts(
        target=node.target,
        reachable=True,
        version=str(build.get("version")),
        state=MemberState.of(status.get("myState")) if status else None,
        set_name=status.get("set"),
        me=me.name if me else None,
        members=members,
        fcv=(fcv_doc.get("featureCompatibilityVersion") or {}).get("version"),
        oplog_window_hours=oplog_window_hours(first, last),
        initial_sync="initialSyncStatus" in status,
    )


def read_facts(
    target: Target,
    username: str | None = None,
    password: str | None = None,
    *,
    auth_source: str = "admin",
    tls: bool = False,
    timeout: float = 3.0,
) -> MongoFacts:
    """Facts of one member; raises ``TargetUnreachable`` (e.g. 'connection refused') when it cannot be read."""
    with connect(
        target.name, target.host, target.port, username=username, password=password,
        auth_source=auth_source, tls=tls, timeout=timeout,
    ) as node:  # fmt: skip
        return read_node(node)


def read_set_facts(
    targets: Iterable[Target], username: str | None = None, password: str | None = None, **options: Any
) -> list[MongoFacts]:
    """Facts of every member, in order; an unreachable member is recorded, not raised."""
    out = []
    for target in targets:
        try:
            out.append(read_facts(target, username, password, **options))
        except TargetUnreachable as exc:
            out.append(MongoFacts.unreachable(target.name, exc.reason, me=f"{target.host}:{target.port}"))
    return out


def to_node_facts(target: Target, facts: MongoFacts):  # -> tasks.facts.NodeFacts
    """The engine-neutral record the scan and the drift report read."""
    from tasks.facts import NodeFacts, Peer, Role

    if not facts.reachable:
        return NodeFacts.unreachable(target, (facts.error or "unreachable").removeprefix("unreachable: "))
    roles = {
        MemberState.PRIMARY: Role.PRIMARY,
        MemberState.SECONDARY: Role.SECONDARY,
        MemberState.ARBITER: Role.ARBITER,
    }
    me = next((m for m in facts.members if m.is_self), None)
    return NodeFacts(
        target=target.name,
        engine=target.engine,
        cluster=target.cluster_name,
        environment=target.environment,
        reachable=True,
        version=facts.version,
        version_full=facts.version,
        role=roles.get(facts.state, Role.OTHER) if facts.state is not None else Role.UNKNOWN,
        upstream=me.sync_source if me else None,
        lag_seconds=me.lag_seconds if me else None,
        peers=[Peer(m.name, m.state.name, lag_seconds=m.lag_seconds) for m in facts.members if not m.is_self],
        extra={"fcv": facts.fcv, "set_name": facts.set_name, "oplog_window_hours": facts.oplog_window_hours,
               "initial_sync": facts.initial_sync, "member_state": facts.state.name if facts.state is not None else None},
        simulated="simulated" in target.tags,
    )  # fmt: skip
