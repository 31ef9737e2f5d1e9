"""Live operations on one replica-set member during a patch: commands through pymongo (``client``), host commands
through the member's transport and package source. Each method does one thing and says what it saw."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from dbpatch.errors import PatchFailed, TargetUnreachable
from dbpatch.models import Target
from tasks.host.packages import HostCommand, PackageSource
from tasks.host.transport import Transport
from tasks.mongodb.client import Login, connect
from tasks.mongodb.facts import MemberFacts, MemberState, MongoFacts, read_facts, series_of

POLL_SECONDS = 0.2
STEP_DOWN_SECS = 60  # the old primary stays ineligible this long (the node is stopped well within it)
CATCH_UP_SECS = 10  # secondaryCatchUpPeriodSecs: how long mongod waits for an electable secondary to catch up


@dataclass
class MongoNode:
    """One inventory target that is a member of the replica set being patched."""

    target: Target
    login: Login
    transport: Transport
    source: PackageSource
    facts: MongoFacts | None = None
    log: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.target.name

    @property
    def member(self) -> str:
        """This member's name in the set config (host:port), as the other members report it."""
        return (
            self.facts.me if self.facts and self.facts.me else None
        ) or f"{self.target.host}:{self.target.port}"

    @property
    def version(self) -> str | None:
        return self.facts.version if self.facts else None

    # --- facts -------------------------------------------------------------------------------------------

    def refresh(self, timeout: float | None = None) -> MongoFacts:
        """Read the member's facts now; raises ``TargetUnreachable``."""
        self.facts = read_facts(self.target, **self.login.options(timeout))
        return self.facts

    def read(self) -> MongoFacts:
        """Facts, or an unreachable record (kept apart from ``self.facts`` so the member's name survives)."""
        try:
            return self.refresh()
        except TargetUnreachable as exc:
            return MongoFacts.unreachable(self.name, exc.reason, me=self.member)

    def run(self, commands: Iterable[HostCommand]) -> str:
        """Run host commands in order; the last line any of them printed is the detail."""
        last = ""
        for cmd in commands:
            out = cmd.run(self.transport).stdout.strip()
            last = out.splitlines()[-1] if out else last
        return last

    # --- commands ----------------------------------------------------------------------------------------

    def step_down(self, step_down_secs: int = STEP_DOWN_SECS, catch_up_secs: int = CATCH_UP_SECS) -> str:
        """``replSetStepDown``: mongod waits up to ``catch_up_secs`` for an electable caught-up secondary and refuses
        (ExceededTimeLimit) when there is none; raises ``MongoCommandError`` then, with the server's message."""
        t = self.target
        with connect(
            t.name, t.host, t.port, **self.login.options(max(self.login.timeout, catch_up_secs + 5))
        ) as node:
            node.command(
                {"replSetStepDown": step_down_secs, "secondaryCatchUpPeriodSecs": catch_up_secs},
                expect_disconnect=True,  # older servers close every connection when they step down
            )
        return f"{self.name} stepped down (ineligible for {step_down_secs} s)"

    def smoke_write(self, cluster: str) -> str:
        """One acknowledged insert into ``dbpatch.smoke`` on this member (the primary)."""
        t = self.target
        doc = {"cluster": cluster, "member": self.member, "at": dt.datetime.now(dt.UTC)}
        with connect(t.name, t.host, t.port, **self.login.options()) as node:
            node.insert_one("dbpatch", "smoke", doc)
        return f"smoke write on {self.name} acknowledged"

    def set_fcv(self, series: str) -> None:
        """``setFeatureCompatibilityVersion`` (with ``confirm: true`` from 7.0 on, as mongod requires)."""
        command: dict[str, object] = {"setFeatureCompatibilityVersion": series}
        if tuple(int(p) for p in series.split(".")) >= (7, 0):
            command["confirm"] = True
        t = self.target
        with connect(t.name, t.host, t.port, **self.login.options(max(self.login.timeout, 60.0))) as node:
            node.command(command)

    # --- waiting -----------------------------------------------------------------------------------------

    def wait_state(
        self, states: Sequence[MemberState], expect_version: str | None, timeout: float
    ) -> MongoFacts:
        """Poll until the member answers in one of ``states`` (and runs ``expect_version``)."""
        deadline = time.monotonic() + timeout
        seen = "no answer"
        while True:
            try:
                facts = self.refresh(timeout=min(self.login.timeout, max(0.5, deadline - time.monotonic())))
            except TargetUnreachable as exc:
                seen = exc.reason
            else:
                if expect_version and facts.version != expect_version:
                    raise PatchFailed(
                        f"{self.name}: runs {facts.version} after install, expected {expect_version}"
                    )
                seen = facts.state.name if facts.state is not None else "no replica-set state"
                if facts.state in states:
                    return facts
            if time.monotonic() >= deadline:
                wanted = "/".join(s.name for s in states)
                raise PatchFailed(f"{self.name}: not {wanted} within {timeout:g} s (last seen: {seen})")
            time.sleep(POLL_SECONDS)

    def wait_caught_up(self, primary: MongoNode, max_lag_seconds: float, timeout: float) -> float:
        """Poll the primary's ``replSetGetStatus`` until this member is SECONDARY within ``max_lag_seconds``."""
        deadline = time.monotonic() + timeout
        seen = "not listed by the primary"
        while True:
            try:
                view = primary.refresh()
            except TargetUnreachable as exc:
                seen = f"primary {primary.name} unreachable: {exc.reason}"
            else:
                me = _member(view.members, self.member)
                if me is not None and me.lag_seconds is not None:
                    seen = f"{me.state.name}, {me.lag_seconds:g} s behind"
                    if me.state is MemberState.SECONDARY and me.lag_seconds <= max_lag_seconds:
                        return me.lag_seconds
            if time.monotonic() >= deadline:
                raise PatchFailed(
                    f"{self.name}: not caught up with {primary.name} within {timeout:g} s "
                    f"({seen}; limit {max_lag_seconds:g} s)"
                )
            time.sleep(POLL_SECONDS)

    @property
    def series(self) -> str | None:
        return series_of(self.version) if self.version else None


def _member(members: Sequence[MemberFacts], name: str) -> MemberFacts | None:
    return next((m for m in members if m.name == name), None)


def wait_new_primary(candidates: Sequence[MongoNode], timeout: float) -> MongoNode:
    """Poll ``candidates`` until one of them reports PRIMARY (after the old primary stepped down)."""
    deadline = time.monotonic() + timeout
    while True:
        for node in candidates:
            try:
                if node.refresh(timeout=min(node.login.timeout, 2.0)).state is MemberState.PRIMARY:
                    return node
            except TargetUnreachable:
                continue
        if time.monotonic() >= deadline:
            names = ", ".join(n.name for n in candidates)
            raise PatchFailed(f"no new primary among {names} within {timeout:g} s after the stepDown")
        time.sleep(POLL_SECONDS)


def mongo_nodes(targets: Sequence[Target], login: Login | None = None) -> list[MongoNode]:
    """A ``MongoNode`` per target: credentials from its block (or ``login``), transport, package source."""
    from tasks.credentials import mongodb_credentials
    from tasks.host.factory import transport_for
    from tasks.mongodb.packages import package_source

    return [
        MongoNode(t, login or mongodb_credentials(t), transport_for(t), package_source(t)) for t in targets
    ]
