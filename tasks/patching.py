"""Engine-neutral vocabulary of a patch run: strategies, planned steps, check results and outcomes.

A cluster patch is planned first (a list of ``Step``) and then executed step by step, so a dry run prints
exactly what a real run would do. Every record carries a one-line human sentence for the report.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from dbpatch.errors import PatchError
from tasks.host.packages import HostCommand


class Strategy(StrEnum):
    IN_PLACE = "in-place"  # standalone: stop, install, start
    ROLLING = "rolling"  # replicas first, switchover, old primary last
    BLUE_GREEN = "blue-green"  # majors: new cluster beside the old one


class Outcome(StrEnum):
    PATCHED = "patched"
    NOOP = "noop"  # already at the approved version
    SKIPPED = "skipped"  # a pre-check said no; nothing changed
    FAILED = "failed"  # a step failed; see rolled_back
    ROLLED_BACK = "rolled_back"  # failed, and the node(s) run the previous version again
    HALTED = "halted"  # not started: the wave reached max_errors
    DEFERRED = "deferred"  # not started: outside its maintenance window, or would overrun it
    PLANNED = "planned"  # dry run


class StepStatus(StrEnum):
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"
    PLANNED = "planned"


@dataclass(frozen=True)
class CheckResult:
    name: str
    node: str
    ok: bool
    measured: Any
    threshold: Any
    sentence: str
    phase: str = "pre"  # pre | post | gate

    def record(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "node": self.node,
            "check": self.name,
            "ok": self.ok,
            "measured": "" if self.measured is None else str(self.measured),
            "threshold": "" if self.threshold is None else str(self.threshold),
            "detail": self.sentence,
        }


@dataclass(frozen=True)
class Step:
    """One planned step on one node. ``commands`` are the host commands it runs (shown by a dry run)."""

    node: str
    action: str
    description: str
    commands: tuple[HostCommand, ...] = ()
    expect_version: str | None = None
    peer: str | None = None  # the other node a step refers to (new primary to follow, old primary to verify)


@dataclass
class StepRecord:
    step: Step
    status: StepStatus
    started: dt.datetime
    ended: dt.datetime
    detail: str = ""

    @property
    def seconds(self) -> float:
        return (self.ended - self.started).total_seconds()

    def record(self) -> dict[str, Any]:
        return {
            "node": self.step.node,
            "step": self.step.action,
            "description": self.step.description,
            "status": self.status.value,
            "started": self.started.isoformat(timespec="milliseconds"),
            "ended": self.ended.isoformat(timespec="milliseconds"),
            "seconds": round(self.seconds, 3),
            "detail": self.detail,
        }


@dataclass
class ClusterRun:
    """Everything that happened to one cluster in a wave: the audit evidence."""

    cluster: str
    engine: str
    strategy: Strategy
    target_version: str | None
    outcome: Outcome = Outcome.PLANNED
    sentence: str = ""
    before: dict[str, str | None] = field(default_factory=dict)
    after: dict[str, str | None] = field(default_factory=dict)
    plan: list[Step] = field(default_factory=list)
    steps: list[StepRecord] = field(default_factory=list)
    checks: list[CheckResult] = field(default_factory=list)
    probe: dict[str, Any] | None = None
    simulated: bool = False
    started: dt.datetime | None = None
    ended: dt.datetime | None = None

    @property
    def failed(self) -> bool:
        return self.outcome in (Outcome.FAILED, Outcome.ROLLED_BACK)

    def describe_plan(self) -> list[str]:
        """The dry-run text: one line per step, with the exact commands it would run."""
        lines = [
            f"{self.cluster} ({self.engine}{', simulated' if self.simulated else ''}, {self.strategy.value}"
            f" → {self.target_version}): {self.sentence}"
        ]
        for i, step in enumerate(self.plan, 1):
            lines.append(f"  {i:>2}. [{step.node}] {step.action}: {step.description}")
            lines += [f"        $ {' '.join(c.argv)}" for c in step.commands]
        return lines


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def guarded(run: ClusterRun, body: Callable[[], None]) -> ClusterRun:
    """Run a patcher's body with start/end timestamps; a ``PatchError`` becomes a failed outcome with its
    sentence, so one cluster's trouble never crashes the wave (Patroni's single catch in ``run_cycle``)."""
    run.started = now()
    try:
        body()
    except PatchError as exc:
        run.outcome, run.sentence = Outcome.FAILED, str(exc)
    finally:
        run.ended = now()
    return run
