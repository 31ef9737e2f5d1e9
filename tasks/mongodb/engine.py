"""MongoDB on the engine seam: the documented rolling way for a replica set.

Secondaries one at a time (clean stop through the service manager, install, start, wait until SECONDARY and
caught up), then ``replSetStepDown`` on the primary and wait for an election, then the old primary the same way.
A major step (7.0 → 8.0) rolls the binaries like a patch and holds the feature compatibility version at the old
series; ``tasks.mongodb.fcv.raise_fcv`` raises it after the burn-in.

The fence is the protocol's own: a member that starts never comes up as PRIMARY without winning an election,
and ``replSetStepDown`` keeps the old primary ineligible for ``STEP_DOWN_SECS`` while it is patched, so no
second primary can appear whatever starts it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial

from dbpatch.errors import NeedsPerson, PatchError, RollbackFailed
from dbpatch.models import Policy
from dbpatch.state import RunJournal
from tasks.engine import EngineAdapter, NodeView, StepRunner
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
from tasks.patching import CheckResult, Outcome, Step, now


class MongoEngine(EngineAdapter):
    engine = "mongodb"
    handover_name = "stepDown"
    handover_stops_old_primary = False

    def __init__(
        self,
        cluster: str,
        nodes: list[MongoNode],
        policy: Policy,
        approved_for: Callable[[str], str | None],
    ):
        super().__init__(cluster, {n.name: n for n in nodes}, policy)
        self.mongo: dict[str, MongoNode] = {n.name: n for n in nodes}
        self.approved_for = approved_for
        self.facts: list[MongoFacts] = []
        self.arbiters: set[str] = set()
        self.fcv_before: str | None = None
        self.deadline = 0.0
        self.elected = False  # a new primary was elected after the stepDown

    # --- facts and checks ------------------------------------------------------------------------------

    def observe(self) -> list[NodeView]:
        self.facts = [n.read() for n in self.mongo.values()]
        self.arbiters = {f.target for f in self.facts if f.state is MemberState.ARBITER}
        self.views = [
            NodeView(f.target, f.reachable, f.version, f.state is MemberState.PRIMARY, f.error)
            for f in self.facts
        ]
        return self.views

    def goal(self, views: list[NodeView], requested: str | None) -> Goal | None:
        versions = [v.version for v in views if v.reachable and v.version]
        goal = resolve(self.cluster, versions, requested, self.approved_for)
        self.fcv_before = set_fcv(self.facts)
        return goal

    def _available(self, series: str) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for node in self.mongo.values():
            try:
                out[node.name] = node.source.available_versions(node.transport, series)
            except PatchError as exc:
                out[node.name] = []
                node.log.append(str(exc))
        return out

    def prechecks(self, views: list[NodeView], goal) -> list[CheckResult]:
        facts = self.facts
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
            offered = self._available(goal.series)
            results += check_available(offered, goal.version)
            results += check_rollback_available(
                facts, self._available(goal.current) if goal.major else offered
            )
        return results

    def health(self, views: list[NodeView], phase: str = "pre") -> list[CheckResult]:
        facts = self.facts
        found = [
            checks.check_members_healthy(facts),
            checks.check_member_states(facts),
            checks.check_single_primary(facts),
            checks.check_lag(facts, self.th.max_lag_seconds),
        ]
        return [replace(c, phase=phase) for c in found]

    def postchecks(self, goal) -> list[CheckResult]:
        self.observe()
        facts = self.facts
        results = [
            CheckResult("version", f.target, f.version == goal.version, f.version, goal.version,
                        f"{f.target} runs {f.version}" + ("" if f.version == goal.version else f", expected {goal.version}"),
                        "post")
            for f in facts
        ]  # fmt: skip
        results += self.health([], "post")
        fcv = set_fcv(facts)
        sentence = (f"{self.cluster}: FCV {fcv} held (binaries {goal.version}): raise_fcv after the burn-in"
                    if fcv != goal.series else f"{self.cluster}: featureCompatibilityVersion {fcv}")  # fmt: skip
        results.append(
            CheckResult("fcv", self.cluster, fcv == self.fcv_before, fcv, self.fcv_before, sentence, "post")
        )
        primary = next((self.mongo[f.target] for f in facts if f.state is MemberState.PRIMARY), None)
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
        return results

    def patched(self, goal) -> str:
        fcv = set_fcv(self.facts)
        rollstate.record_roll(self.cluster, goal.version or "", goal.current, fcv, now())
        return f"patched to {goal.version}; primary is {self.primary}{_held(fcv, goal)}"

    def noop(self, goal) -> str:
        return f"already at {goal.version} and healthy{_held(self.fcv_before, goal)}"

    # --- plan ------------------------------------------------------------------------------------------

    def node_steps(self, node: str, version: str, *, replica_of: str | None, stopped: bool) -> list[Step]:
        n = self.mongo[node]
        src, series = n.source, series_of(version)
        wanted = "ARBITER" if node in self.arbiters else "SECONDARY"
        steps = [
            Step(node, "stop", "clean shutdown through the service manager (SIGTERM)", tuple(src.stop(n.series or series))),
            Step(node, "install", f"install {version} (runs {n.version})", tuple(src.install(series, version)), version),
            Step(node, "start", f"start under {version}", tuple(src.start(series))),
            Step(node, "wait-secondary", f"answers as {wanted} running {version}", expect_version=version),
        ]  # fmt: skip
        if node not in self.arbiters:
            steps.append(Step(node, "wait-caught-up",
                              f"lag ≤ {self.th.max_lag_seconds:g} s within {self.th.catchup_timeout_seconds:g} s of the start"))  # fmt: skip
        return steps

    def handover_steps(self, old: str, candidate: str) -> list[Step]:
        return [
            Step(old, "step-down",
                 f"replSetStepDown {{stepDownSecs: {STEP_DOWN_SECS}, secondaryCatchUpPeriodSecs: {CATCH_UP_SECS}}}:"
                 " hand over to a caught-up secondary"),
            Step(old, "wait-primary", f"another member is elected PRIMARY within {self.th.catchup_timeout_seconds:g} s"),
        ]  # fmt: skip

    def handover_phrase(self, old: str, candidate: str) -> str:
        return f"step down {old} and patch it"

    def choose_candidate(self, replicas: list[str], version: str) -> str:
        electable = [r for r in replicas if r not in self.arbiters]
        return (electable or replicas)[0]  # the election picks; this only names one for the journal

    # --- execution -------------------------------------------------------------------------------------

    def _left(self) -> float:
        return max(0.5, self.deadline - time.monotonic())

    def _states(self, node: str) -> tuple[MemberState, ...]:
        return (MemberState.ARBITER,) if node in self.arbiters else (MemberState.SECONDARY,)

    def execute(self, step: Step) -> str:
        node = self.mongo[step.node]
        action = step.action
        if action in ("stop", "install"):
            return node.run(step.commands)
        if action == "start":
            detail = node.run(step.commands)
            self.deadline = time.monotonic() + self.th.catchup_timeout_seconds
            return detail
        if action == "wait-secondary":
            facts = node.wait_state(self._states(node.name), step.expect_version, self._left())
            return f"{facts.version} as {self._states(node.name)[0].name}"
        if action == "wait-caught-up":
            primary = self.mongo[self.primary or ""]
            lag = node.wait_caught_up(primary, self.th.max_lag_seconds, self._left())
            return f"{lag:g} s behind {primary.name}"
        if action == "step-down":
            return node.step_down()
        if action == "wait-primary":
            others = [n for n in self.mongo.values() if n is not node and n.name not in self.arbiters]
            self.primary = wait_new_primary(others, self.th.catchup_timeout_seconds).name
            self.elected = True
            return f"{self.primary} is PRIMARY"
        raise PatchError(
            f"unknown step {action}"
        )  # pragma: no cover - plan and executor are written together

    def fence(self, node: str, primary: str) -> str:
        return f"{node}: no fence needed: a restarted member must win an election to become PRIMARY"

    def unfence(self, node: str) -> str:
        return f"{node}: nothing to undo"

    def rollback(self, node: str, previous: str, *, replica: bool) -> str:
        n = self.mongo[node]
        series, src = series_of(previous), n.source
        states = self._states(node)
        try:
            n.run((*src.stop(series), *src.install(series, previous), *src.start(series)))
            n.wait_state(states, previous, self.th.catchup_timeout_seconds)
        except PatchError as exc:
            raise RollbackFailed(f"{node}: rollback to {previous} failed: {exc}") from None
        return f"{node} rolled back to {previous} ({states[0].name})"

    def where(self, node: str) -> str:
        if not self.elected and self.primary is not None:
            before = next((f.version for f in self.facts if f.target == self.primary), None)
            return f"cluster halted before the stepDown, primary {self.primary} untouched on {before}"
        return f"cluster halted; primary is {self.primary or 'unknown'}"

    def abort_handover(self, old: str, candidate: str, done: list[str], why: str) -> tuple[Outcome, str]:
        n = self.mongo[old]
        if "step-down" in done:
            raise NeedsPerson(f"{why}; {old} stepped down and no member became PRIMARY — needs a person")
        facts = n.read()
        state = facts.state.name if facts.reachable and facts.state is not None else "unreachable"
        return Outcome.FAILED, f"{why}; cluster halted, primary {old} untouched ({state} on {facts.version})"

    # --- resume ----------------------------------------------------------------------------------------

    def reconcile(self, views: list[NodeView], journal: RunJournal, step: StepRunner) -> list[str]:
        """Start every member the dead run stopped (it rejoins as SECONDARY); wait for the set to elect."""
        touched = {r.node for r in journal.records if r.kind == "intent" and r.node}
        primaries = [v.name for v in views if v.primary]
        if len(primaries) > 1:
            raise NeedsPerson(
                f"{self.cluster}: {len(primaries)} members report PRIMARY ({', '.join(primaries)})"
            )
        done = []
        for v in views:
            if v.reachable or v.name not in touched:
                continue
            n = self.mongo[v.name]
            series = series_of(journal.value("target_version") or "0.0")
            start = Step(
                v.name, "start", "start the member the dead run stopped", tuple(n.source.start(series))
            )
            step(start, partial(self.execute, start))
            done.append(f"{v.name} started")
        if not primaries:
            members = [n for n in self.mongo.values() if n.name not in self.arbiters]
            try:
                self.primary = wait_new_primary(members, self.th.catchup_timeout_seconds).name
            except PatchError as exc:
                raise NeedsPerson(f"{self.cluster}: no PRIMARY after the resume: {exc}") from None
            done.append(f"{self.primary} is PRIMARY")
        else:
            self.primary = primaries[0]
        # a member the dead run started may still be in STARTUP2 or catching up: wait, as the run would have
        for name in sorted(touched - {self.primary} - self.arbiters):
            if name not in self.mongo:
                continue
            self.deadline = time.monotonic() + self.th.catchup_timeout_seconds
            for s in (
                Step(name, "wait-secondary", "answers as SECONDARY"),
                Step(name, "wait-caught-up", f"lag ≤ {self.th.max_lag_seconds:g} s behind {self.primary}"),
            ):
                step(s, partial(self.execute, s))
        return done


def _held(fcv: str | None, goal) -> str:
    return f"; FCV {fcv} held: raise_fcv after the burn-in" if fcv and fcv != goal.series else ""
