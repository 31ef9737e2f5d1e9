"""The one patch procedure every engine runs on (``tasks/engine.py`` is the seam it calls).

In place for a standalone; rolling for a replicated cluster: every replica in turn (prepare, stop, install,
start, wait ready, wait caught up), then the handover (gate, fence, stop or step down, promote or elect) to the
most caught-up patched replica, then the old primary, which comes back as a replica whatever starts it (the
fence). Post-checks decide PATCHED.

Crash safety: one run per cluster (a lease in the state store); every step's intent is journaled before it runs
and its result after; a run that finds an interrupted journal first reconciles the cluster from the journal and
fresh facts (``EngineAdapter.reconcile``), then plans again from facts. Outcomes are honest: NOOP only when
every node is at the target *and* the cluster is healthy; "nothing changed" only when nothing did.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial

from dbpatch.errors import NeedsPerson, PatchError, RollbackFailed
from dbpatch.state import JournalRecord, LeaseHeld, StateStore, default_store, new_run_id
from tasks.engine import EngineAdapter, Goal, NodeView
from tasks.patching import (
    ClusterRun,
    Outcome,
    Step,
    StepRecord,
    StepStatus,
    Strategy,
    guarded,
    now,
)

FAULT_ENV = "DBPATCH_FAULT"  # crash tests only: "kill-at:K" SIGKILLs this process after step K's intent


class StageKind(StrEnum):
    IN_PLACE = "patch-standalone"
    REPLICA = "patch-replica"
    HANDOVER = "handover"
    OLD_PRIMARY = "patch-old-primary"
    SWITCH_BACK = "switch-back"


CARRIED = ("target_version", "original_primary", "candidate", "previous")  # what a resuming run needs to know
NODE_STAGES = (StageKind.IN_PLACE, StageKind.REPLICA, StageKind.OLD_PRIMARY)


@dataclass
class Stage:
    kind: StageKind
    node: str  # the node patched; for a handover, the old primary
    steps: list[Step] = field(default_factory=list)
    peer: str | None = None  # a handover's candidate


class RollingProcedure:
    def __init__(
        self,
        adapter: EngineAdapter,
        *,
        requested: str | None = None,
        switch_back: bool = False,
        store: StateStore | None = None,
        say: Callable[[str], None] | None = None,
        simulated: bool = False,
        on_step: Callable[[Step], None] | None = None,
    ):
        self.a = adapter
        self.cluster = adapter.cluster
        self.requested = requested
        self.switch_back = switch_back
        self.store = store or default_store()
        self.say = say or (lambda line: None)
        self.on_step = on_step  # called right before each step runs (tests inject simulator faults here)
        self.run_id = new_run_id()
        strategy = Strategy.ROLLING if len(adapter.nodes) > 1 else Strategy.IN_PLACE
        self.run = ClusterRun(
            self.cluster, adapter.engine, strategy, None, simulated=simulated, run_id=self.run_id
        )
        self.changed: list[str] = []  # what this run did to the cluster, for honest sentences
        self._steps_begun = 0
        self._fault = _parse_fault(os.environ.get(FAULT_ENV, ""))

    # --- journal and steps -----------------------------------------------------------------------------

    def _journal(self, kind: str, **kw) -> None:
        self.store.append(self.cluster, JournalRecord(self.run_id, kind, **kw))

    def step(self, step: Step, fn: Callable[[], str | None]) -> str:
        """Journal the intent, run ``fn``, journal the result; log one line at start and end; record it."""
        self._journal("intent", node=step.node, action=step.action, detail=step.description)
        self._steps_begun += 1
        if self._fault == self._steps_begun:
            os.kill(os.getpid(), signal.SIGKILL)
        self.say(f"{self.cluster}: {step.node}: {step.action} … {step.description}")
        if self.on_step is not None:
            self.on_step(step)
        marks = self._marks()
        started, t0 = now(), time.monotonic()
        try:
            detail = fn() or ""
        except PatchError as exc:
            self._record(step, StepStatus.FAILED, started, str(exc), marks)
            self._journal("result", node=step.node, action=step.action, status="failed", detail=str(exc))
            self.say(
                f"{self.cluster}: {step.node}: {step.action} FAILED after {time.monotonic() - t0:.2f} s: {exc}"
            )
            raise
        self._record(step, StepStatus.OK, started, detail, marks)
        self._journal("result", node=step.node, action=step.action, status="ok", detail=detail)
        if not step.action.startswith(("wait", "gate", "verify")):
            self.changed.append(f"{step.node} {step.action}")
        self.say(
            f"{self.cluster}: {step.node}: {step.action} ok in {time.monotonic() - t0:.2f} s"
            + (f" ({detail})" if detail else "")
        )
        return detail

    def _marks(self) -> dict[int, int]:
        return {id(t): len(t.history) for t in self._transports()}

    def _transports(self) -> list:
        seen: dict[int, object] = {}
        for node in self.a.nodes.values():
            t = getattr(node, "transport", None)
            if t is not None:
                seen[id(t)] = t
        return list(seen.values())

    def _record(self, step: Step, status: StepStatus, started, detail: str, marks: dict[int, int]) -> None:
        commands = []
        for t in self._transports():
            for res in t.history[marks.get(id(t), 0) :]:
                out = (res.stdout + res.stderr).strip().splitlines()
                commands.append(
                    {"argv": " ".join(res.argv), "exit": res.returncode, "tail": " / ".join(out[-3:])[:400]}
                )
        self.run.steps.append(StepRecord(step, status, started, now(), detail, commands))

    # --- the run ---------------------------------------------------------------------------------------

    def execute(self, dry_run: bool = False) -> ClusterRun:
        """Never raises for a cluster-level problem: every outcome is a record with a sentence."""
        return guarded(self.run, lambda: self._guarded(dry_run))

    def _guarded(self, dry_run: bool) -> None:
        if dry_run:
            self._body(dry_run=True)
            return
        try:
            replaced = self.store.acquire(self.cluster, self.run_id)
        except LeaseHeld as exc:
            self.run.outcome, self.run.sentence = Outcome.SKIPPED, f"{exc}; nothing changed"
            return
        if replaced is not None:
            self.say(f"{self.cluster}: took over the lease of dead {replaced.sentence()}")
        try:
            self._body(dry_run=False)
        except NeedsPerson as exc:
            self.run.outcome, self.run.sentence = Outcome.NEEDS_PERSON, str(exc)
        finally:
            try:
                # a cluster left for a person stays "interrupted": the next run reconciles it again first
                kind = "note" if self.run.outcome is Outcome.NEEDS_PERSON else "end"
                self._journal(kind, status=self.run.outcome.value, detail=self.run.sentence)
            finally:
                self.store.release(self.cluster, self.run_id)
                self.a.close()

    def _body(self, dry_run: bool) -> None:
        run = self.run
        views = self.a.observe()
        run.before = {v.name: v.version for v in views}
        interrupted = self.store.interrupted(self.cluster)
        if interrupted is not None and interrupted.run_id != self.run_id:
            open_step = interrupted.open_step()
            where = f"{open_step.node}: {open_step.action}" if open_step else "between steps"
            if dry_run:
                self.a.notes.append(
                    f"would first resume interrupted run {interrupted.run_id} (died in {where})"
                )
            else:
                carry = {k: interrupted.value(k) for k in CARRIED}
                self._journal("begin", data={**carry, "resumes": interrupted.run_id, "died_in": where})
                self.say(f"{self.cluster}: resuming interrupted run {interrupted.run_id} (died in {where})")
                run.resumed_from = interrupted.run_id
                done = self.a.reconcile(views, interrupted, self.step)
                self.store.append(
                    self.cluster,
                    JournalRecord(
                        interrupted.run_id, "end", status="taken-over", detail=f"reconciled by {self.run_id}"
                    ),
                )
                if done:
                    self.a.notes.append(f"resumed run {interrupted.run_id}: {'; '.join(done)}")
                views = self.a.observe()
        goal = self.a.goal(views, self.requested)
        if goal is None:
            run.checks += self.a.health(views)
            self._refuse("no node is reachable", views)
            return
        run.target_version = goal.version or self.requested
        if goal.refused:
            run.checks += list(goal.checks)
            self._refuse(goal.refused, views, kind="refused")
            return
        pre = self.a.prechecks(views, goal)
        run.checks += pre
        if goal.version and all(v.reachable and v.version == goal.version for v in views):
            bad = [c for c in self.a.health(views) if not c.ok]
            if bad:
                run.outcome = Outcome.UNHEALTHY
                run.sentence = self._with_notes(
                    f"at {goal.version} but unhealthy: " + "; ".join(c.sentence for c in bad)
                )
            else:
                run.outcome, run.sentence = Outcome.NOOP, self._with_notes(self.a.noop(goal))
            return
        failed = [c for c in pre if not c.ok]
        if failed:
            self._refuse("; ".join(c.sentence for c in failed), views)
            return
        stages = self.plan(views, goal)
        run.plan = [s for st in stages for s in st.steps]
        if dry_run:
            run.outcome = Outcome.PLANNED
            run.sentence = self._with_notes(self._plan_sentence(stages, goal))
            return
        self._journal(
            "begin",
            data={
                "target_version": goal.version,
                "original_primary": self.a.primary,
                "candidate": next((st.peer for st in stages if st.kind is StageKind.HANDOVER), None),
                "previous": {v.name: v.version for v in views},
            },
        )
        self.run_stages(stages, {v.name: v.version for v in views})
        if run.outcome is Outcome.PLANNED:
            if self._fault == self._steps_begun + 1:
                os.kill(os.getpid(), signal.SIGKILL)
            self._finish(goal)
        else:
            run.after = {v.name: v.version for v in self.a.observe()}

    def _plan_sentence(self, stages: list[Stage], goal: Goal) -> str:
        parts = []
        replicas = [st.node for st in stages if st.kind in (StageKind.REPLICA, StageKind.IN_PLACE)]
        if replicas:
            parts.append(f"would patch {', '.join(replicas)}")
        handover = next((st for st in stages if st.kind is StageKind.HANDOVER), None)
        if handover is not None and handover.peer is not None:
            parts.append(self.a.handover_phrase(handover.node, handover.peer))
        text = ", then ".join(parts) if replicas else "would " + ", then ".join(parts)
        return f"{text} to {goal.version}"

    def _refuse(self, why: str, views: list[NodeView], kind: str = "pre-checks failed") -> None:
        """SKIPPED, saying "nothing changed" only when this run changed nothing (a resume may have)."""
        self.run.outcome = Outcome.SKIPPED
        if self.changed:
            self.run.sentence = self._with_notes(
                f"{kind} after this run changed {', '.join(self.changed)}: {why}"
            )
        else:
            self.run.sentence = self._with_notes(f"{kind}, nothing changed: {why}")
        self.run.after = {v.name: v.version for v in views}

    def _with_notes(self, sentence: str) -> str:
        return "; ".join([sentence, *self.a.notes])

    # --- plan ------------------------------------------------------------------------------------------

    def plan(self, views: list[NodeView], goal: Goal) -> list[Stage]:
        version = goal.version
        assert version is not None
        primary = next(v.name for v in views if v.primary)
        self.a.primary = primary
        todo = {v.name for v in views if v.version != version}
        if len(views) == 1:
            return [
                Stage(
                    StageKind.IN_PLACE,
                    primary,
                    self.a.node_steps(primary, version, replica_of=None, stopped=False),
                )
            ]
        replicas = [v.name for v in views if not v.primary]
        stages = [
            Stage(StageKind.REPLICA, r, self.a.node_steps(r, version, replica_of=primary, stopped=False))
            for r in replicas
            if r in todo
        ]
        if primary in todo:
            candidate = self.a.choose_candidate(replicas, version)
            stages.append(
                Stage(StageKind.HANDOVER, primary, self.a.handover_steps(primary, candidate), candidate)
            )
            stages.append(
                Stage(
                    StageKind.OLD_PRIMARY,
                    primary,
                    self.a.node_steps(
                        primary, version, replica_of=candidate, stopped=self.a.handover_stops_old_primary
                    ),
                )
            )
            if self.switch_back and self.a.supports_switch_back:
                stages.append(
                    Stage(
                        StageKind.SWITCH_BACK, candidate, self.a.handover_steps(candidate, primary), primary
                    )
                )
                stages.append(
                    Stage(StageKind.OLD_PRIMARY, candidate, self.a.rejoin_steps(candidate, primary))
                )
            elif self.switch_back:
                self.a.notes.append(f"no switch back for {self.a.engine}")
        return stages

    # --- execution and failure rules -------------------------------------------------------------------

    def run_stages(self, stages: list[Stage], previous: dict[str, str | None]) -> None:
        for stage in stages:
            done: list[str] = []
            try:
                for step in stage.steps:
                    self.step(step, partial(self.a.execute, step))
                    done.append(step.action)
            except NeedsPerson:
                raise
            except PatchError as exc:
                self._failed(stage, previous.get(stage.node) or "", done, exc)
                return

    def _failed(self, stage: Stage, previous: str, done: list[str], exc: PatchError) -> None:
        run, a = self.run, self.a
        if stage.kind is StageKind.HANDOVER or stage.kind is StageKind.SWITCH_BACK:
            assert stage.peer is not None
            run.outcome, run.sentence = a.abort_handover(stage.node, stage.peer, done, str(exc))
            return
        stops = any(s.action == "stop" for s in stage.steps)
        was_down = "stop" in done or (stage.kind is StageKind.OLD_PRIMARY and not stops)
        ready = any(d.startswith("wait-ready") or d == "wait-secondary" for d in done)
        if not was_down:
            run.outcome, run.sentence = (
                Outcome.FAILED,
                f"{exc}; {stage.node} was not stopped; {a.where(stage.node)}",
            )
            return
        if ready and stage.kind is not StageKind.IN_PLACE:
            run.outcome, run.sentence = Outcome.FAILED, f"{exc}; {a.where(stage.node)}"
            return
        step = Step(stage.node, "rollback", f"start again under {previous}")
        try:
            sentence = self.step(
                step, lambda: a.rollback(stage.node, previous, replica=stage.kind is not StageKind.IN_PLACE)
            )
        except RollbackFailed as rb:
            raise NeedsPerson(f"{exc}; {rb} — needs a person: {stage.node} is down") from None
        where = "" if stage.kind is StageKind.IN_PLACE else f"; {a.where(stage.node)}"
        run.outcome, run.sentence = Outcome.ROLLED_BACK, f"{exc}; {sentence}{where}"

    def _finish(self, goal: Goal) -> None:
        run = self.run
        post = self.a.postchecks(goal)
        run.checks += post
        run.after = {v.name: v.version for v in self.a.views}
        run.sessions_ended = self.a.sessions_ended
        bad = [c for c in post if not c.ok]
        if bad:
            run.outcome = Outcome.FAILED
            run.sentence = "post-checks failed: " + "; ".join(c.sentence for c in bad)
            return
        run.outcome = Outcome.PATCHED
        run.sentence = self._with_notes(self.a.patched(goal))


def _parse_fault(value: str) -> int | None:
    if value.startswith("kill-at:"):
        try:
            return int(value.split(":", 1)[1])
        except ValueError:
            return None
    return None
