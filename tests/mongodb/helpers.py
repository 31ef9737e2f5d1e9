"""Helpers for the MongoDB tests: the simulated lab as a DBA's inventory sees it, and bounded polling."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dbpatch.models import Engine, PackageSource, Policy, Target
from dbpatch.state import FileStateStore
from lab.mongo_server import Simulator
from tasks.host.transport import CommandResult, LocalTransport
from tasks.mongodb.client import Login
from tasks.mongodb.engine import MongoEngine
from tasks.mongodb.facts import MongoFacts, read_facts, read_set_facts
from tasks.mongodb.node import MongoNode
from tasks.mongodb.packages import LabMongo, package_source
from tasks.rolling import RollingProcedure

FAST = dict(startup_seconds=1.0, catchup_seconds=0.8, election_seconds=0.3, failover_seconds=1.0)
TIMEOUT = 1.0  # pymongo timeouts for facts: a stopped member costs this much
ON = dt.date(
    2026, 11, 24
)  # approved as of: 7.0.40 and 8.0.29 (released 2026-08-11) with approve_after_days 14


def wait_for(predicate: Callable[[], object], what: str, timeout: float = 8.0, every: float = 0.1):
    """Poll until ``predicate()`` returns something other than None/False (0 counts); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(every)


class MongoLab:
    """The running simulator plus the inventory targets a DBA would write for it."""

    def __init__(self, sim: Simulator, state_dir: str):
        self.sim = sim
        self.state_dir = state_dir
        assert sim.rs
        self.targets = [
            Target(
                name=f"mongo-test-{m.index + 1}", engine=Engine.MONGODB, environment="dev", cluster="rs-test",
                host="127.0.0.1", port=m.port, credentials="mongo-lab", package_source=PackageSource.LAB,
                data_directory=state_dir, tags=["simulated"],
            )
            for m in sim.rs.members
        ]  # fmt: skip
        self.transport = LocalTransport()

    def facts(self) -> list[MongoFacts]:
        return read_set_facts(self.targets, timeout=TIMEOUT)

    def node(self, index: int) -> MongoFacts:
        return read_facts(self.targets[index], timeout=TIMEOUT)

    def ctl(self, *args: str, check: bool = True) -> CommandResult:
        source = LabMongo(self.targets[0])
        return self.transport.run(list(source._ctl(*args)), check=check, timeout=30)

    def run(self, commands, check: bool = True) -> list[CommandResult]:
        return [self.transport.run(c.argv, check=check, timeout=c.timeout) for c in commands]

    def primary_index(self) -> int | None:
        for i, f in enumerate(self.facts()):
            if f.reachable and f.state is not None and f.state.name == "PRIMARY":
                return i
        return None


def policy(**thresholds: Any) -> Policy:
    """Approve the newest 7.0 and 8.0 patches at least 14 days old; short timeouts for the simulator."""
    return Policy.model_validate({
        "baselines": {"mongodb": {"7.0": {"approve_after_days": 14}, "8.0": {"approve_after_days": 14}}},
        "thresholds": {"catchup_timeout_seconds": 8, **thresholds},
    })  # fmt: skip


def nodes(lab: MongoLab) -> list[MongoNode]:
    return [MongoNode(t, Login(timeout=TIMEOUT), lab.transport, package_source(t)) for t in lab.targets]


def patcher(lab: MongoLab, pol: Policy | None = None, **options: Any) -> RollingProcedure:
    """The procedure ``dbpatch patch`` runs for the set, without Prefect blocks (no authentication, short
    timeouts), journaling into the simulator's own state directory."""
    from tasks.engines import approved_for

    pol = pol or policy()
    adapter = MongoEngine("rs-test", nodes(lab), pol, approved_for(pol, Engine.MONGODB, ON))
    store = FileStateStore(Path(lab.state_dir) / "dbpatch-state")
    return RollingProcedure(adapter, store=store, simulated=True, **options)


def status(lab: MongoLab) -> list[dict[str, Any]]:
    """What the simulated hosts say (``ctl status --json``): version, state, running, lag, fcv per member."""
    return json.loads(lab.ctl("status", "--json").stdout)


def versions(lab: MongoLab) -> list[str]:
    return [m["version"] for m in status(lab)]


def states(lab: MongoLab) -> list[str]:
    return [m["state"] for m in status(lab)]
