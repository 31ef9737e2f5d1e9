"""Patch one MongoDB replica set the documented rolling way: secondaries one at a time (clean stop, install, start,
wait until SECONDARY and caught up), then ``replSetStepDown`` on the primary, wait for a new primary, and patch the
old primary the same way. A major step (7.0 → 8.0) rolls the binaries exactly like a patch and leaves the feature
compatibility version at the old series; ``tasks.mongodb.fcv.raise_fcv`` raises it after the burn-in.

A member is stopped through its package source (``systemctl stop mongod``; the lab's ``mongosim ctl stop``), not
with the ``shutdown`` command: SIGTERM is mongod's clean shutdown too, the service manager then knows the stop was
on purpose (no restart policy fires, ``systemctl status`` tells the truth), the step runs through the same
transport as install and start, so a dry run shows it as an exact host command, and dbpatch's database user needs
no ``hostManager`` role.

The plan is data (``Stage``/``Step``) built from facts before anything changes; a dry run prints it. Errors are
caught in one place, ``execute``; a member that does not start or reach SECONDARY under the new version is rolled
back, anything else halts the set where it is safe. Every outcome is one sentence.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum

from dbpatch.errors import PatchError, RollbackFailed
from dbpatch.models import Policy
from tasks.mongodb import checks, rollstate
from tasks.mongodb.facts import MemberState, MongoFacts, series_of
from tasks.mongodb.node import CATCH_UP_SECS, STEP_DOWN_SECS, MongoNode, wait_new_primary
from tasks.mongodb.targets import (
    Goal,
    check_available,
    check_covers_set,
    check_fcv_for,
    check_rollback_available,
    resolve,
    set_fcv,
)
from tasks.patching import (
    CheckResult,
    ClusterRun,
    Outcome,
    Step,
    StepRecord,
    StepStatus,
    Strategy,
    guarded,
    now,
)


class StageKind(StrEnum):
    PATCH_SECONDARY = "patch-secondary"
    STEP_DOWN = "step-down"
    PATCH_OLD_PRIMARY = "patch-old-primary"


class Action(StrEnum):
    STOP = "stop"
    INSTALL = "install"
    START = "start"
    WAIT_SECONDARY = "wait-secondary"
    WAIT_CAUGHT_UP = "wait-caught-up"
    STEP_DOWN = "step-down"
    WAIT_PRIMARY = "wait-primary"
    ROLLBACK = "rollback"


@dataclass
class Stage:
    """Steps on one member that belong together; a failure is handled per kind."""

    kind: StageKind
    node: str
    steps: list[Step] = field(default_factory=list)


class MongoReplicaSetPatcher:
    def __init__(self, cluster: str, nodes: list[MongoNode], policy: Policy, approved_for: Callable[[str], str | None],
                 *, requested: str | None = None, switch_back: bool = False, write_probe: bool = False,
                 on_step: Callable[[Step], None] | None = None):  # fmt: skip
        self.cluster = cluster
        self.nodes = {n.name: n for n in nodes}
        self.th = policy.thresholds
        self.approved_for = approved_for
        self.requested = requested
        self.on_step = on_step  # called before each step (logging; tests inject faults here)
        self.goal: Goal | None = None
        self.primary: MongoNode | None = None
        self.original_primary: MongoNode | None = None
        self.arbiters: set[str] = set()
        self.fcv_before: str | None = None
        self.deadline = 0.0
        self.notes = [note for wanted, note in (
            (switch_back, "no switch back for MongoDB: member priorities decide the primary"),
            (write_probe, "no write probe for MongoDB yet"),
        ) if wanted]  # fmt: skip
        simulated = any("simulated" in n.target.tags for n in nodes)
        self.run = ClusterRun(cluster, "mongodb", Strategy.ROLLING, None, simulated=simulated)

    # --- facts and checks ------------------------------------------------------------------------------

    def gather(self) -> list[MongoFacts]:
        return [n.read() for n in self.nodes.values()]

    def available(self, series: str) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for node in self.nodes.values():
            try:
                out[node.name] = node.source.available_versions(node.transport, series)
            except PatchError as exc:
                out[node.name] = []
                node.log.append(str(exc))
        return out

    def prechecks(self, facts: list[MongoFacts], goal: Goal) -> list[CheckResult]:
        results = [
            CheckResult("reachable", f.target, f.reachable, "yes" if f.reachable else f.error, "reachable",
                        f"{f.target} is reachable" if f.reachable else f"{f.target}: {f.error}")
            for f in facts
        ]  # fmt: skip
        results.append(check_covers_set(self.cluster, facts))
        expected_hours = max(1.0, len(facts) * 2 * self.th.catchup_timeout_seconds / 3600)
        record = rollstate.load(self.cluster)
        held = record.fcv_held if record and record.series == goal.series else None
        for r in checks.run_prechecks(facts, self.th, expected_hours):
            results.append(check_fcv_for(self.cluster, facts, goal, held) if r.name == "fcv" else r)
        results += goal.checks
        if goal.version:
            offered = self.available(goal.series)
            results += check_available(offered, goal.version)
            results += check_rollback_available(
                facts, self.available(goal.current) if goal.major else offered
            )
        return results

    # --- planning --------------------------------------------------------------------------------------

    def _member_steps(self, node: MongoNode, version: str) -> list[Step]:
        src, series = node.source, series_of(version)
        arbiter = node.name in self.arbiters
        wanted = "ARBITER" if arbiter else "SECONDARY"
        steps = [
            Step(node.name, Action.STOP, "clean shutdown through the service manager (SIGTERM)",
                 tuple(src.stop(node.series or series))),
            Step(node.name, Action.INSTALL, f"install {version} (runs {node.version})", tuple(src.install(series, version)),
                 version),
            Step(node.name, Action.START, f"start under {version}", tuple(src.start(series))),
            Step(node.name, Action.WAIT_SECONDARY, f"answers as {wanted} running {version}", expect_version=version),
        ]  # fmt: skip
        if not arbiter:
            steps.append(Step(node.name, Action.WAIT_CAUGHT_UP,
                              f"lag ≤ {self.th.max_lag_seconds:g} s within {self.th.catchup_timeout_seconds:g} s of the start"))  # fmt: skip
        return steps

    def plan(self, goal: Goal) -> list[Stage]:
        version = goal.version
        assert version is not None and self.original_primary is not None
        primary = self.original_primary
        stages = [
            Stage(StageKind.PATCH_SECONDARY, n.name, self._member_steps(n, version))
            for n in self.nodes.values()
            if n is not primary and n.version != version
        ]
        if primary.version != version:
            stages.append(Stage(StageKind.STEP_DOWN, primary.name, [
                Step(primary.name, Action.STEP_DOWN,
                     f"replSetStepDown {{stepDownSecs: {STEP_DOWN_SECS}, secondaryCatchUpPeriodSecs: {CATCH_UP_SECS}}}:"
                     " hand over to a caught-up secondary"),
                Step(primary.name, Action.WAIT_PRIMARY,
                     f"another member is elected PRIMARY within {self.th.catchup_timeout_seconds:g} s"),
            ]))  # fmt: skip
            stages.append(
                Stage(StageKind.PATCH_OLD_PRIMARY, primary.name, self._member_steps(primary, version))
            )
        return stages

    # --- execution -------------------------------------------------------------------------------------

    def _do(self, step: Step, fn: Callable[[], str | None]) -> None:
        started = now()
        try:
            detail = fn() or ""
        except PatchError as exc:
            self.run.steps.append(StepRecord(step, StepStatus.FAILED, started, now(), str(exc)))
            raise
        self.run.steps.append(StepRecord(step, StepStatus.OK, started, now(), detail))

    def _left(self) -> float:
        """Seconds left of the catch-up budget that started when the member was started."""
        return max(0.5, self.deadline - time.monotonic())

    def _execute(self, step: Step) -> None:
        if self.on_step is not None:
            self.on_step(step)
        node = self.nodes[step.node]
        action = Action(step.action)
        if action in (Action.STOP, Action.INSTALL):
            self._do(step, lambda: node.run(step.commands))
        elif action is Action.START:
            self._do(step, lambda: node.run(step.commands))
            self.deadline = time.monotonic() + self.th.catchup_timeout_seconds
        elif action is Action.WAIT_SECONDARY:
            self._do(step, lambda: self._wait_member(node, step.expect_version))
        elif action is Action.WAIT_CAUGHT_UP:
            self._do(step, lambda: self._wait_caught_up(node))
        elif action is Action.STEP_DOWN:
            self._do(step, node.step_down)
        elif action is Action.WAIT_PRIMARY:
            self._do(step, lambda: self._elect(node))
        else:  # pragma: no cover - plan and executor are written together
            raise PatchError(f"unknown step {step.action}")

    def _states(self, node: MongoNode) -> tuple[MemberState, ...]:
        return (MemberState.ARBITER,) if node.name in self.arbiters else (MemberState.SECONDARY,)

    def _wait_member(self, node: MongoNode, version: str | None) -> str:
        facts = node.wait_state(self._states(node), version, self._left())
        return f"{facts.version} as {self._states(node)[0].name}"

    def _wait_caught_up(self, node: MongoNode) -> str:
        primary = self.primary
        assert primary is not None
        lag = node.wait_caught_up(primary, self.th.max_lag_seconds, self._left())
        return f"{lag:g} s behind {primary.name}"

    def _elect(self, old: MongoNode) -> str:
        others = [n for n in self.nodes.values() if n is not old and n.name not in self.arbiters]
        self.primary = wait_new_primary(others, self.th.catchup_timeout_seconds)
        return f"{self.primary.name} is PRIMARY"

    def run_stages(self, stages: list[Stage]) -> None:
        for stage in stages:
            node = self.nodes[stage.node]
            previous = node.version
            done: list[str] = []
            try:
                for step in stage.steps:
                    self._execute(step)
                    done.append(step.action)
            except PatchError as exc:
                self._handle_failure(stage, node, previous or "", done, exc)
                return

    # --- failures --------------------------------------------------------------------------------------

    def _where(self, stage: Stage) -> str:
        old = self.original_primary
        assert old is not None
        if stage.kind is StageKind.PATCH_SECONDARY:
            return f"cluster halted before the stepDown, primary {old.name} untouched on {self.run.before.get(old.name)}"
        return f"cluster halted; primary is {self.primary.name if self.primary else 'unknown'}"

    def _handle_failure(
        self, stage: Stage, node: MongoNode, previous: str, done: list[str], exc: PatchError
    ) -> None:
        run = self.run
        if stage.kind is StageKind.STEP_DOWN:
            if Action.STEP_DOWN in done:
                why = f"{exc}; {node.name} stepped down on {previous} — needs a person"
            else:
                why = (
                    f"{exc}; cluster halted, primary {node.name} untouched ({_state_of(node)} on {previous})"
                )
            run.outcome, run.sentence = Outcome.FAILED, why
            return
        if Action.WAIT_SECONDARY in done or Action.STOP not in done:
            # runs the new version and is only slow to catch up (leave it running), or was never stopped
            run.outcome, run.sentence = Outcome.FAILED, f"{exc}; {self._where(stage)}"
            return
        try:
            sentence = self._rollback(node, previous)
        except RollbackFailed as rb:
            run.outcome, run.sentence = Outcome.FAILED, f"{exc}; {rb} — needs a person"
            return
        run.outcome, run.sentence = Outcome.ROLLED_BACK, f"{exc}; {sentence}; {self._where(stage)}"

    def _rollback(self, node: MongoNode, previous: str) -> str:
        """Stop, install ``previous`` again, start, wait until the member is SECONDARY (ARBITER) again."""
        series, src = series_of(previous), node.source
        commands = (*src.stop(series), *src.install(series, previous), *src.start(series))
        step = Step(
            node.name, Action.ROLLBACK, f"stop, install {previous} again, start, wait", commands, previous
        )
        states = self._states(node)

        def rollback() -> str:
            try:
                node.run(commands)
                node.wait_state(states, previous, self.th.catchup_timeout_seconds)
            except PatchError as exc:
                raise RollbackFailed(f"{node.name}: rollback to {previous} failed: {exc}") from None
            return f"{node.name} rolled back to {previous} ({states[0].name})"

        self._do(step, rollback)
        return self.run.steps[-1].detail

    # --- post-checks -----------------------------------------------------------------------------------

    def postchecks(self) -> list[CheckResult]:
        goal = self.goal
        assert goal is not None and goal.version is not None
        facts = self.gather()
        results = [
            CheckResult("version", f.target, f.version == goal.version, f.version, goal.version,
                        f"{f.target} runs {f.version}" + ("" if f.version == goal.version else f", expected {goal.version}"),
                        "post")
            for f in facts
        ]  # fmt: skip
        for check in (checks.check_members_healthy(facts), checks.check_member_states(facts),
                      checks.check_single_primary(facts), checks.check_lag(facts, self.th.max_lag_seconds)):  # fmt: skip
            results.append(replace(check, phase="post"))
        fcv = set_fcv(facts)
        sentence = (f"{self.cluster}: FCV {fcv} held (binaries {goal.version}): raise_fcv after the burn-in"
                    if fcv != goal.series
                    else f"{self.cluster}: featureCompatibilityVersion {fcv}")  # fmt: skip
        results.append(
            CheckResult("fcv", self.cluster, fcv == self.fcv_before, fcv, self.fcv_before, sentence, "post")
        )
        primary = next((self.nodes[f.target] for f in facts if f.state is MemberState.PRIMARY), None)
        if primary is not None:
            try:
                results.append(CheckResult("smoke_write", primary.name, True, "acknowledged", "acknowledged",
                                           primary.smoke_write(self.cluster), "post"))  # fmt: skip
            except PatchError as exc:
                results.append(
                    CheckResult(
                        "smoke_write", primary.name, False, "failed", "acknowledged", str(exc), "post"
                    )
                )
        self.run.after = {f.target: f.version for f in facts}
        return results

    # --- the run ---------------------------------------------------------------------------------------

    def execute(self, dry_run: bool = False) -> ClusterRun:
        """Gather facts, check, plan, and (unless ``dry_run``) patch. Never raises for a cluster-level problem."""
        return guarded(self.run, lambda: self._execute_run(dry_run))

    def _execute_run(self, dry_run: bool) -> None:
        run = self.run
        facts = self.gather()
        run.before = {f.target: f.version for f in facts}
        run.after = dict(run.before)
        goal = self._decide(facts)
        if goal is None:  # refused, skipped or nothing to do: the outcome says which
            return
        self.original_primary = self.primary = next(
            n for n in self.nodes.values() if n.facts and n.facts.state is MemberState.PRIMARY
        )
        stages = self.plan(goal)
        run.plan = [s for stage in stages for s in stage.steps]
        if dry_run:
            run.outcome, run.sentence = Outcome.PLANNED, self._plan_sentence(stages, goal)
            return
        self.run_stages(stages)
        if run.outcome is Outcome.PLANNED:
            self._finish(goal)
        else:  # a stage failed and said why
            run.after = {f.target: f.version for f in self.gather()}

    def _decide(self, facts: list[MongoFacts]) -> Goal | None:
        """The goal when there is work to do and every check passed; otherwise set the outcome, return None."""
        run = self.run
        self.arbiters = {f.target for f in facts if f.state is MemberState.ARBITER}
        versions = [f.version for f in facts if f.reachable and f.version]
        goal = resolve(self.cluster, versions, self.requested, self.approved_for)
        if goal is None:
            run.checks += [CheckResult("reachable", f.target, False, f.error, "reachable", f"{f.target}: {f.error}")
                           for f in facts]  # fmt: skip
            run.outcome, run.sentence = (
                Outcome.SKIPPED,
                "pre-checks failed, nothing changed: no member is reachable",
            )
            return None
        self.goal = goal
        run.target_version = goal.version or self.requested
        if goal.refused:
            run.checks += goal.checks
            run.outcome, run.sentence = Outcome.SKIPPED, f"refused, nothing changed: {goal.refused}"
            return None
        pre = self.prechecks(facts, goal)
        run.checks += pre
        self.fcv_before = set_fcv(facts)
        if goal.version and all(f.reachable and f.version == goal.version for f in facts):
            run.outcome, run.sentence = (
                Outcome.NOOP,
                f"already at {goal.version}{self._held(self.fcv_before, goal)}",
            )
            return None
        failed = [c for c in pre if not c.ok]
        if failed:
            run.outcome = Outcome.SKIPPED
            run.sentence = "pre-checks failed, nothing changed: " + "; ".join(c.sentence for c in failed)
            return None
        return goal

    def _finish(self, goal: Goal) -> None:
        """Post-checks; a clean set is PATCHED and its roll recorded (the burn-in for ``raise_fcv`` starts now)."""
        run = self.run
        post = self.postchecks()
        run.checks += post
        bad = [c for c in post if not c.ok]
        if bad:
            run.outcome, run.sentence = (
                Outcome.FAILED,
                "post-checks failed: " + "; ".join(c.sentence for c in bad),
            )
            return
        fcv = next(c.measured for c in post if c.name == "fcv")
        rollstate.record_roll(self.cluster, goal.version or "", goal.current, fcv, now())
        primary = self.primary.name if self.primary else "?"
        run.outcome = Outcome.PATCHED
        run.sentence = "; ".join(
            [f"patched to {goal.version}; primary is {primary}{self._held(fcv, goal)}", *self.notes]
        )

    @staticmethod
    def _held(fcv: str | None, goal: Goal) -> str:
        return f"; FCV {fcv} held: raise_fcv after the burn-in" if fcv and fcv != goal.series else ""

    def _plan_sentence(self, stages: list[Stage], goal: Goal) -> str:
        secondaries = [s.node for s in stages if s.kind is StageKind.PATCH_SECONDARY]
        old = next((s.node for s in stages if s.kind is StageKind.PATCH_OLD_PRIMARY), None)
        parts = [f"would patch {', '.join(secondaries)}" if secondaries else "",
                 f"step down {old} and patch it" if old else ""]  # fmt: skip
        fcv = f" (FCV stays {goal.current} until raise_fcv)" if goal.major else ""
        return "; ".join([f"{', then '.join(p for p in parts if p)} to {goal.version}{fcv}", *self.notes])


def _state_of(node: MongoNode) -> str:
    facts = node.read()
    return facts.state.name if facts.reachable and facts.state is not None else "unreachable"
