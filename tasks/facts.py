"""Engine-neutral facts about one database node: what the scan records and the drift report reads."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from dbpatch.models import Engine, Target


class Role(StrEnum):
    PRIMARY = "primary"
    STANDBY = "standby"  # PostgreSQL streaming standby
    SECONDARY = "secondary"  # MongoDB secondary
    ARBITER = "arbiter"
    OTHER = "other"  # e.g. MongoDB RECOVERING / STARTUP2
    UNKNOWN = "unknown"


@dataclass
class Peer:
    """A replication peer as seen from this node (for a primary: each standby with its lag)."""

    name: str
    state: str
    lag_bytes: int | None = None
    lag_seconds: float | None = None


@dataclass
class NodeFacts:
    target: str
    engine: Engine
    cluster: str
    environment: str
    reachable: bool
    error: str | None = None
    version: str | None = None  # short upstream version: "15.18", "7.0.12", "16.0.4135.4"
    version_full: str | None = None
    role: Role = Role.UNKNOWN
    upstream: str | None = None  # what a standby streams from
    streaming: bool | None = None  # standby: WAL receiver streaming
    lag_bytes: int | None = None  # standby: behind the primary (from the primary's view)
    lag_seconds: float | None = None
    peers: list[Peer] = field(default_factory=list)
    pending_restart: bool | None = None
    uptime_seconds: float | None = None
    extensions: dict[str, str] = field(default_factory=dict)
    longest_transaction_seconds: float | None = None
    prepared_transactions: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # engine-specific (FCV, oplog window, system id…)
    simulated: bool = False
    collected_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    supported: bool = True  # False: dbpatch cannot read this engine yet (never contacted; not unreachable)

    @classmethod
    def unreachable(cls, target: Target, reason: str) -> NodeFacts:
        return cls._unread(target, f"unreachable: {reason}")

    @classmethod
    def not_supported(cls, target: Target, reason: str) -> NodeFacts:
        """A target dbpatch cannot read yet: never contacted, so neither reachable nor unreachable."""
        return cls._unread(target, f"not supported: {reason}", supported=False)

    @classmethod
    def _unread(cls, target: Target, error: str, supported: bool = True) -> NodeFacts:
        return cls(
            target=target.name,
            engine=target.engine,
            cluster=target.cluster_name,
            environment=target.environment,
            reachable=False,
            error=error,
            simulated="simulated" in target.tags,
            supported=supported,
        )

    def to_record(self) -> dict[str, Any]:
        """Plain, JSON-friendly dict (enums as values, datetimes as ISO strings)."""
        out = asdict(self)
        out["engine"] = self.engine.value
        out["role"] = self.role.value
        out["collected_at"] = self.collected_at.isoformat()
        return out
