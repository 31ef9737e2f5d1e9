"""The engine seam: what an engine fills in so that the one rolling procedure (``tasks/rolling.py``) can patch it.

Like Patroni's DCS classes, the shared algorithm lives once (replicas first, gate, fence, handover, old primary,
post-checks, rollback, journal, resume) and each engine implements small named hooks: facts of its nodes, its
checks, the steps of a node patch and of a handover, how to execute one step, the fence, and how to reconcile a
cluster that a dead run left behind. ``tasks/engines.py`` is the only module that names engines.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from dbpatch.models import Policy
from dbpatch.state import RunJournal
from tasks.patching import CheckResult, Outcome, Step


@dataclass(frozen=True)
class NodeView:
    """What the procedure needs to know of a node, whatever the engine."""

    name: str
    reachable: bool
    version: str | None = None
    primary: bool = False  # accepts writes
    error: str | None = None


class Goal(Protocol):
    """Where the cluster goes: ``version`` (None when nothing is approved), or ``refused`` with a sentence."""

    @property
    def version(self) -> str | None: ...

    @property
    def refused(self) -> str | None: ...

    @property
    def checks(self) -> tuple[CheckResult, ...]: ...


@dataclass(frozen=True)
class SimpleGoal:
    version: str | None
    approved: str | None
    refused: str | None = None
    checks: tuple[CheckResult, ...] = ()


class StepRunner(Protocol):
    """The procedure's step executor, handed to ``reconcile`` so that repair steps are journaled and recorded
    like any other step."""

    def __call__(self, step: Step, fn: Callable[[], str | None]) -> str: ...


class EngineAdapter(ABC):
    """One cluster of one engine. Nodes are the engine's live node objects, keyed by target name."""

    engine: ClassVar[str]
    handover_name: ClassVar[str] = "handover"  # the word a sentence uses: switchover, stepDown, failover
    supports_switch_back: ClassVar[bool] = False
    handover_stops_old_primary: ClassVar[bool] = (
        True  # PostgreSQL stops, then promotes; MongoDB steps down first
    )

    def __init__(self, cluster: str, nodes: dict[str, Any], policy: Policy):
        self.cluster = cluster
        self.nodes = nodes
        self.policy = policy
        self.th = policy.thresholds
        self.primary: str | None = None  # the node that accepts writes now, as the procedure knows it
        self.notes: list[str] = []  # sentences for the outcome (sessions ended, options ignored)
        self.sessions_ended = 0
        self.views: list[NodeView] = []  # what the last ``observe`` saw

    # --- facts and checks ------------------------------------------------------------------------------

    @abstractmethod
    def observe(self) -> list[NodeView]:
        """Read every node's facts now (no side effects) and return the neutral view."""

    @abstractmethod
    def goal(self, views: list[NodeView], requested: str | None) -> Goal | None:
        """The target version for this cluster; None when no node answered."""

    @abstractmethod
    def prechecks(self, views: list[NodeView], goal: Goal) -> list[CheckResult]:
        """Every pre-check (health, lag, transactions, approval, availability, disk, install simulation)."""

    @abstractmethod
    def health(self, views: list[NodeView], phase: str = "pre") -> list[CheckResult]:
        """Cluster health: all reachable, one primary, replicas streaming, lag within limits."""

    @abstractmethod
    def postchecks(self, goal: Goal) -> list[CheckResult]:
        """Health, versions and a smoke write after the patch."""

    # --- plan ------------------------------------------------------------------------------------------

    @abstractmethod
    def node_steps(self, node: str, version: str, *, replica_of: str | None, stopped: bool) -> list[Step]:
        """Patch one node: [prepare], stop (unless ``stopped``), install, start, wait ready, [wait caught up]."""

    @abstractmethod
    def handover_steps(self, old: str, candidate: str) -> list[Step]:
        """Hand the primary role from ``old`` to ``candidate``: gate, fence, stop/step down, promote/elect."""

    def choose_candidate(self, replicas: list[str], version: str) -> str:
        return replicas[0]

    def rejoin_steps(self, node: str, primary: str) -> list[Step]:
        """After a switch back: start the stopped, fenced ``node`` as a replica of ``primary`` (PostgreSQL)."""
        raise NotImplementedError(f"{self.engine} has no switch back")

    # --- execution -------------------------------------------------------------------------------------

    @abstractmethod
    def execute(self, step: Step) -> str:
        """Run one planned step; returns its detail sentence, raises ``PatchError``."""

    @abstractmethod
    def rollback(self, node: str, previous: str, *, replica: bool) -> str:
        """Start ``node`` again under ``previous``; raises ``RollbackFailed``."""

    @abstractmethod
    def abort_handover(self, old: str, candidate: str, done: list[str], why: str) -> tuple[Outcome, str]:
        """A handover step failed after ``done``: bring the cluster back to one primary, say what happened."""

    @abstractmethod
    def fence(self, node: str, primary: str) -> str:
        """Make ``node`` unable to come back as a primary: whatever starts it next brings it up as a replica of
        ``primary``. Returns what was done (an engine whose protocol already guarantees it says why)."""

    @abstractmethod
    def unfence(self, node: str) -> str:
        """Undo ``fence``: ``node`` may start as primary again (an aborted handover)."""

    def patched(self, goal: Goal) -> str:
        """The PATCHED sentence (an engine may record more: MongoDB's roll record for the FCV burn-in)."""
        return f"patched to {goal.version}; primary is {self.primary}"

    def handover_phrase(self, old: str, candidate: str) -> str:
        """How a dry run says the handover: 'switch over from a to b and patch a'."""
        return f"hand over from {old} to {candidate} and patch {old}"

    def where(self, node: str) -> str:
        """Where a halted cluster stands after ``node``'s stage failed (ends a FAILED or ROLLED_BACK sentence)."""
        return f"cluster halted; primary is {self.primary or 'unknown'}"

    def noop(self, goal: Goal) -> str:
        return f"already at {goal.version} and healthy"

    # --- resume ----------------------------------------------------------------------------------------

    @abstractmethod
    def reconcile(self, views: list[NodeView], journal: RunJournal, step: StepRunner) -> list[str]:
        """A dead run left the cluster as ``views`` say: finish or reverse what it was doing so that there is
        one primary and every node runs (fenced where needed). Returns sentences of what was done; raises
        ``NeedsPerson`` when no safe move exists. Never starts a former primary without its fence."""

    def close(self) -> None:
        """Release connections and transports."""
        for node in self.nodes.values():
            transport = getattr(node, "transport", None)
            if transport is not None:
                transport.close()
