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
    NOOP = "noop"  # every node at the target and the cluster healthy
    SKIPPED = (
        "skipped"  # a pre-check said no (or another run holds the cluster); the sentence says what changed
    )
    FAILED = "failed"  # a step failed; the cluster has one primary again, the sentence says where it stands
    ROLLED_BACK = "rolled_back"  # failed, and the node(s) run the previous version again
    UNHEALTHY = "unhealthy"  # at the target, but not healthy (two primaries, a replica not streaming, …)
    NEEDS_PERSON = (
        "needs_person"  # dbpatch found no safe move: the sentence gives the state and the next command
    )
    HALTED = "halted"  # not started: the wave reached max_errors
    DEFERRED = "deferred"  # not started: outside its maintenance window, or would overrun it
    PLANNED = "planned"  # dry run


class ExitCode:
    """What ``dbpatch patch`` (and ``cycle``) exit with: the worst outcome of any cluster wins."""

    OK = 0  # patched, noop or planned
    FAILED = 1  # a step failed (rolled back or halted where it is safe)
    BAD_INPUT = 2  # inventory, policy or parameters refused; nothing contacted
    NOT_DONE = 3  # skipped, halted or deferred: nothing was patched there
    NEEDS_PERSON = 4  # unhealthy, or a cluster dbpatch could not bring to a safe state


_EXIT = {
    Outcome.PATCHED: ExitCode.OK,
    Outcome.NOOP: ExitCode.OK,
    Outcome.PLANNED: ExitCode.OK,
    Outcome.FAILED: ExitCode.FAILED,
    Outcome.ROLLED_BACK: ExitCode.FAILED,
    Outcome.SKIPPED: ExitCode.NOT_DONE,
    Outcome.HALTED: ExitCode.NOT_DONE,
    Outcome.DEFERRED: ExitCode.NOT_DONE,
    Outcome.UNHEALTHY: ExitCode.NEEDS_PERSON,
    Outcome.NEEDS_PERSON: ExitCode.NEEDS_PERSON,
}
_RANK = [ExitCode.OK, ExitCode.NOT_DONE, ExitCode.FAILED, ExitCode.NEEDS_PERSON]


def exit_code(outcomes: list[Outcome]) -> int:
    """The exit status for a set of cluster outcomes: needs-person > failed > not done > ok."""
    codes = [_EXIT[o] for o in outcomes] or [ExitCode.OK]
    return max(codes, key=_RANK.index)


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
    commands: list[dict[str, Any]] = field(default_factory=list)  # argv, exit status, output tail per command

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
            "commands": "\n".join(
                f"$ {c['argv']} → {c['exit']}" + (f": {c['tail']}" if c.get("tail") else "")
                for c in self.commands
            ),
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
    sessions_ended: int = 0  # write sessions the handover ended (policy open_transactions: terminate)
    resumed_from: str | None = None  # the run id of an interrupted run this one reconciled
    run_id: str | None = None
    simulated: bool = False
    started: dt.datetime | None = None
    ended: dt.datetime | None = None

    @property
    def failed(self) -> bool:
        """Counts against the wave's max_errors: a failure, or a cluster left for a person."""
        return self.outcome in (Outcome.FAILED, Outcome.ROLLED_BACK, Outcome.NEEDS_PERSON, Outcome.UNHEALTHY)

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
