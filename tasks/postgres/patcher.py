"""Patch one PostgreSQL cluster to a minor version: in-place for a standalone, rolling for a replicated cluster.

Rolling: each standby in turn (stop, install, start, wait until streaming and caught up); then a controlled
switchover to the most caught-up patched standby (CHECKPOINT, clean fast shutdown of the primary so every WAL
record is shipped, verify the candidate received the shutdown checkpoint, promote); then the old primary is
patched and rejoins as a standby of the new primary. A node that fails to start or verify under the new
version is started again under its previous version (minor releases share the on-disk format).

The plan is data (``Stage``/``Step``) built from facts before anything changes; a dry run prints it, a real run
executes it. Errors are caught in exactly one place, ``run``, and every outcome is a sentence.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from dbpatch.errors import PatchError, PatchFailed, RollbackFailed, TargetUnreachable
from dbpatch.models import Policy
from tasks.facts import NodeFacts, Role
from tasks.host.packages import HostCommand
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
from tasks.postgres import checks
from tasks.postgres.facts import attach_primary_view, major_of
from tasks.postgres.node import PgNode, free_bytes
from tasks.postgres.smoke import smoke_write


@dataclass
class Stage:
    """Steps that belong together, with what to do when one of them fails."""

    kind: str  # patch-standby | patch-standalone | switchover | patch-old-primary | post-checks
    node: str
    steps: list[Step] = field(default_factory=list)


class PostgresClusterPatcher:
    def __init__(
        self,
        cluster: str,
        nodes: list[PgNode],
        policy: Policy,
        approved_for: Callable[[str], str | None],
        *,
        requested: str | None = None,
        switch_back: bool = False,
        probe=None,
    ):
        self.cluster = cluster
        self.nodes = {n.name: n for n in nodes}
        self.policy = policy
        self.th = policy.thresholds
        self.approved_for = approved_for
        self.requested = requested
        self.target_version: str | None = None
        self.approved: str | None = None
        self.switch_back = switch_back
        self.probe = probe
        self.primary: PgNode | None = None
        self.original_primary: str | None = None
        strategy = Strategy.ROLLING if len(nodes) > 1 else Strategy.IN_PLACE
        self.run = ClusterRun(cluster, "postgresql", strategy, None)

    # --- facts and checks ------------------------------------------------------------------------------

    def gather(self) -> tuple[list[NodeFacts], checks.HostFacts]:
        facts: list[NodeFacts] = []
        for node in self.nodes.values():
            try:
                facts.append(node.refresh())
            except TargetUnreachable as exc:
                facts.append(NodeFacts.unreachable(node.target, exc.reason))
                node.facts = facts[-1]
        attach_primary_view(facts)
        host = checks.HostFacts()
        for node, f in zip(self.nodes.values(), facts, strict=True):
            if not f.reachable or not f.version:
                continue
            try:
                host.available[node.name] = node.source.available_versions(
                    node.transport, major_of(f.version)
                )
                host.free_bytes[node.name] = free_bytes(
                    node, f.extra.get("data_directory") or node.target.data_directory or "/"
                )
            except PatchError as exc:
                host.available.setdefault(node.name, [])
                node.log.append(str(exc))
        hook = self.th.backup_check_command
        if hook:
            first = next(iter(self.nodes.values()))
            argv = [a.replace("{cluster}", self.cluster).replace("{target}", first.name) for a in hook]
            res = first.transport.run(argv, check=False, timeout=120)
            host.backup = (
                res.ok,
                (res.stdout or res.stderr).strip().splitlines()[-1:][0]
                if (res.stdout or res.stderr).strip()
                else f"exit {res.returncode}",
            )
        return facts, host

    def prechecks(self, facts: list[NodeFacts], host: checks.HostFacts) -> list[CheckResult]:
        results = checks.reachable(facts)
        if not all(f.reachable for f in facts):
            return results
        results += checks.one_primary(facts)
        results += checks.standbys_streaming(facts)
        results += checks.replication_lag(facts, self.th)
        results += checks.transactions(facts, self.th)
        results += checks.version_approved(
            self.cluster, self.target_version, self.approved, [f.version or "" for f in facts]
        )
        if self.target_version:
            results += checks.version_available(facts, host, self.target_version)
            results += checks.rollback_available(facts, host)
        results += checks.disk_space(facts, host, self.th)
        results += checks.backup(self.cluster, host)
        return results

    # --- planning --------------------------------------------------------------------------------------

    def _node_patch_steps(
        self, node: PgNode, version: str, *, as_standby_of: PgNode | None, stopped: bool = False
    ) -> list[Step]:
        major = major_of(version)
        src = node.source
        steps = [] if stopped else [Step(node.name, "stop", "clean fast shutdown", tuple(src.stop(major)))]
        steps.append(
            Step(node.name, "install", f"install {version}", tuple(src.install(major, version)), version)
        )
        if as_standby_of is not None and node.facts and node.facts.role is Role.PRIMARY:
            datadir = node.facts.extra.get("data_directory") or node.target.data_directory
            steps.append(
                Step(
                    node.name,
                    "mark-standby",
                    f"rejoin as a standby of {as_standby_of.name} (standby.signal)",
                    (
                        HostCommand(
                            ("touch", f"{datadir}/standby.signal"),
                            "create standby.signal",
                            getattr(src, "data_owner", None),
                        ),
                    ),
                )
            )
        steps += [
            Step(node.name, "start", f"start under {version}", tuple(src.start(major))),
            Step(
                node.name, "wait-ready", f"accepts connections and reports {version}", expect_version=version
            ),
        ]
        if as_standby_of is not None:
            steps.append(
                Step(
                    node.name,
                    "wait-caught-up",
                    f"streaming from the primary with lag ≤ {self.th.max_lag_bytes} B within {self.th.catchup_timeout_seconds:g} s",
                )
            )
        return steps

    def _switchover_steps(self, old: PgNode, candidate: PgNode) -> list[Step]:
        bindir = old.source.bindir(major_of(old.facts.version)) if old.facts and old.facts.version else ""
        datadir = (old.facts.extra.get("data_directory") if old.facts else None) or old.target.data_directory
        controldata = HostCommand(
            (f"{bindir}/pg_controldata", str(datadir)),
            "read the shutdown checkpoint",
            getattr(old.source, "data_owner", None),
        )
        others = [n for n in self.nodes.values() if n.name not in (old.name, candidate.name)]
        steps = [
            Step(
                old.name,
                "repoint",
                f"set primary_conninfo to {candidate.name} (used once it is a standby)",
                peer=candidate.name,
            ),
            Step(old.name, "checkpoint", "CHECKPOINT so the shutdown checkpoint is quick"),
            Step(
                old.name,
                "stop",
                "clean fast shutdown: every WAL record is shipped to the standbys",
                tuple(
                    old.source.stop(major_of(old.facts.version if old.facts and old.facts.version else "0"))
                ),
            ),
            Step(
                candidate.name,
                "verify-received",
                f"received {old.name}'s shutdown checkpoint",
                (controldata,),
                peer=old.name,
            ),
            Step(candidate.name, "promote", "pg_promote() and wait until it accepts writes"),
        ]
        steps += [
            Step(o.name, "repoint", f"follow the new primary {candidate.name} (reload)", peer=candidate.name)
            for o in others
        ]
        return steps

    def plan(self, facts: list[NodeFacts]) -> list[Stage]:
        version = self.target_version
        assert version is not None
        todo = [n for n in self.nodes.values() if n.facts and n.facts.version != version]
        primary = next((n for n in self.nodes.values() if n.facts and n.facts.role is Role.PRIMARY), None)
        standbys = [n for n in self.nodes.values() if n is not primary]
        if primary is None:
            raise PatchFailed(f"{self.cluster}: no primary")
        stages: list[Stage] = []
        if len(self.nodes) == 1:
            if todo:
                stages.append(
                    Stage(
                        "patch-standalone",
                        primary.name,
                        self._node_patch_steps(primary, version, as_standby_of=None),
                    )
                )
            return stages
        for s in standbys:
            if s in todo:
                stages.append(
                    Stage("patch-standby", s.name, self._node_patch_steps(s, version, as_standby_of=primary))
                )
        if primary in todo:
            candidate = self.choose_candidate(standbys)
            stages.append(Stage("switchover", candidate.name, self._switchover_steps(primary, candidate)))
            stages.append(
                Stage(
                    "patch-old-primary",
                    primary.name,
                    self._node_patch_steps(primary, version, as_standby_of=candidate, stopped=True),
                )
            )
            if self.switch_back:
                stages.append(Stage("switchover", primary.name, self._switchover_steps(candidate, primary)))
                stages.append(
                    Stage(
                        "rejoin",
                        candidate.name,
                        [  # the switchover back stopped it already
                            Step(
                                candidate.name,
                                "mark-standby",
                                f"rejoin as a standby of {primary.name}",
                                (
                                    HostCommand(
                                        (
                                            "touch",
                                            f"{(candidate.facts.extra.get('data_directory') if candidate.facts else None) or candidate.target.data_directory}/standby.signal",
                                        ),
                                        "create standby.signal",
                                        getattr(candidate.source, "data_owner", None),
                                    ),
                                ),
                            ),
                            Step(
                                candidate.name,
                                "start",
                                "start as a standby",
                                tuple(candidate.source.start(major_of(version))),
                            ),
                            Step(candidate.name, "wait-ready", "accepts connections", expect_version=version),
                            Step(candidate.name, "wait-caught-up", "streaming and caught up"),
                        ],
                    )
                )
        return stages

    def choose_candidate(self, standbys: list[PgNode]) -> PgNode:
        """The most caught-up standby (smallest byte lag as the primary sees it), patched ones first."""

        def key(n: PgNode) -> tuple[int, int]:
            patched = 0 if n.facts and n.facts.version == self.target_version else 1
            return (patched, n.facts.lag_bytes if n.facts and n.facts.lag_bytes is not None else 1 << 62)

        return sorted(standbys, key=key)[0]

    # --- execution -------------------------------------------------------------------------------------

    def _do(self, step: Step, fn: Callable[[], str | None]) -> None:
        started = now()
        try:
            detail = fn() or ""
        except PatchError as exc:
            self.run.steps.append(StepRecord(step, StepStatus.FAILED, started, now(), str(exc)))
            raise
        self.run.steps.append(StepRecord(step, StepStatus.OK, started, now(), detail))

    def _execute(self, step: Step) -> None:
        node = self.nodes[step.node]
        action = step.action
        if action in ("stop", "install", "start", "mark-standby"):
            self._do(step, lambda: node.run(step.commands))
        elif action == "wait-ready":
            self._do(
                step,
                lambda: (
                    f"runs {node.wait_ready(self.th.catchup_timeout_seconds, step.expect_version).version}"
                ),
            )
        elif action == "wait-caught-up":
            assert self.primary is not None
            primary = self.primary
            self._do(
                step,
                lambda: (
                    f"{node.wait_caught_up(primary, self.th.max_lag_bytes, self.th.catchup_timeout_seconds)} bytes behind"
                ),
            )
        elif action == "repoint":
            assert step.peer is not None
            new = self.nodes[step.peer]
            template = self._conninfo_template()

            def repoint() -> str:
                node.set_primary_conninfo(template, new.target)
                return f"primary_conninfo → {new.name}"

            self._do(step, repoint)
        elif action == "checkpoint":
            self._do(step, node.checkpoint)
        elif action == "verify-received":
            assert step.peer is not None
            old = self.nodes[step.peer]
            self._do(step, lambda: self._verify_received(old, node, step.commands[0]))
        elif action == "promote":

            def promote() -> str:
                node.promote()
                self.primary = node
                return f"{node.name} is the primary"

            self._do(step, promote)
        else:  # pragma: no cover - plan and executor are written together
            raise PatchError(f"unknown step {action}")

    def _conninfo_template(self) -> str:
        for n in self.nodes.values():
            if n.facts and n.facts.role is Role.STANDBY:
                try:
                    value = n.primary_conninfo()
                except PatchError:
                    continue
                if value:
                    return value
        return ""

    def _verify_received(self, old: PgNode, candidate: PgNode, controldata: HostCommand) -> str:
        checkpoint = old.last_checkpoint_of_stopped(controldata.argv)
        deadline = now().timestamp() + 30
        while True:
            received = candidate.receive_lsn()
            if received and candidate.lsn_at_least(received, checkpoint):
                return f"received {received} ≥ shutdown checkpoint {checkpoint}"
            if now().timestamp() > deadline:
                raise PatchFailed(
                    f"{candidate.name} received only {received}, not {old.name}'s shutdown checkpoint {checkpoint}"
                )
            time.sleep(0.1)

    def _rollback_node(self, node: PgNode, previous: str, as_standby: bool) -> str:
        """Start ``node`` again under ``previous``; raises RollbackFailed if that does not work either."""
        major = major_of(previous)
        try:
            node.run(node.source.stop(major)) if _running(node) else None
            node.run(node.source.install(major, previous))
            node.run(node.source.start(major))
            node.wait_ready(self.th.catchup_timeout_seconds, previous)
            if as_standby and self.primary is not None and self.primary is not node:
                node.wait_caught_up(self.primary, self.th.max_lag_bytes, self.th.catchup_timeout_seconds)
        except PatchError as exc:
            raise RollbackFailed(f"{node.name}: rollback to {previous} failed: {exc}") from None
        return f"{node.name} rolled back to {previous}"

    def _rollback_step(self, node: PgNode, previous: str, as_standby: bool) -> str:
        step = Step(node.name, "rollback", f"start again under {previous}")
        self._do(step, lambda: self._rollback_node(node, previous, as_standby))
        return self.run.steps[-1].detail

    def _abort_switchover(self, old: PgNode) -> str:
        """The candidate did not take over: bring the old primary back as primary."""
        step = Step(old.name, "abort-switchover", "restart the old primary as primary")
        major = major_of(old.facts.version if old.facts and old.facts.version else self.target_version or "0")

        def restart() -> str:
            if not _running(old):
                old.run(old.source.start(major))
            old.wait_ready(self.th.catchup_timeout_seconds)
            self.primary = old
            return f"{old.name} is primary again"

        self._do(step, restart)
        return self.run.steps[-1].detail

    def run_stages(self, stages: list[Stage]) -> None:
        for stage in stages:
            node = self.nodes[stage.node]
            old_primary = self.primary
            previous = node.facts.version if node.facts else None
            node.previous_version = previous
            done: list[str] = []
            try:
                for step in stage.steps:
                    self._execute(step)
                    done.append(step.action)
            except PatchError as exc:
                self._handle_failure(stage, node, old_primary, previous, done, exc)
                return

    def _handle_failure(
        self,
        stage: Stage,
        node: PgNode,
        old_primary: PgNode | None,
        previous: str | None,
        done: list[str],
        exc: PatchError,
    ) -> None:
        node_stage = stage.kind in ("patch-standby", "patch-standalone", "patch-old-primary", "rejoin")
        # the node may be down from its first step on (the old primary was stopped by the switchover already)
        if node_stage and (done or stage.kind in ("patch-old-primary", "rejoin")):
            if "wait-ready" in done and stage.kind != "patch-standalone":
                self.run.outcome = Outcome.FAILED
                self.run.sentence = f"{exc}; cluster halted (node runs {self.target_version}, not caught up)"
                return
            try:
                sentence = self._rollback_step(
                    node, previous or "", as_standby=stage.kind != "patch-standalone"
                )
            except RollbackFailed as rb:
                self.run.outcome, self.run.sentence = Outcome.FAILED, f"{exc}; {rb} — needs a person"
                return
            self.run.outcome, self.run.sentence = (
                Outcome.ROLLED_BACK,
                f"{exc}; {sentence}; wave records the failure",
            )
            return
        if (
            stage.kind == "switchover"
            and old_primary is not None
            and "stop" in done
            and self.primary is old_primary
        ):
            if _is_primary(node):  # a promotion that answered late did happen: never start a second primary
                self.primary = node
                self.run.outcome = Outcome.FAILED
                self.run.sentence = (
                    f"{exc}; but {node.name} did become primary: {old_primary.name} stays stopped "
                    f"on its old version — needs a person to rejoin it"
                )
                return
            try:
                sentence = self._abort_switchover(old_primary)
            except PatchError as again:
                self.run.outcome, self.run.sentence = Outcome.FAILED, f"{exc}; {again} — needs a person"
                return
            self.run.outcome, self.run.sentence = (
                Outcome.ROLLED_BACK,
                f"switchover aborted: {exc}; {sentence}",
            )
            return
        self.run.outcome, self.run.sentence = Outcome.FAILED, str(exc)

    def postchecks(self) -> list[CheckResult]:
        facts = []
        for node in self.nodes.values():
            try:
                facts.append(node.refresh())
            except TargetUnreachable as exc:
                facts.append(NodeFacts.unreachable(node.target, exc.reason))
        attach_primary_view(facts)
        results = [
            CheckResult(r.name, r.node, r.ok, r.measured, r.threshold, r.sentence, "post")
            for r in checks.reachable(facts)
        ]
        results += checks.versions_are(facts, self.target_version or "")
        results += checks.one_primary(facts, "post")
        results += checks.standbys_streaming(facts, "post")
        results += checks.replication_lag(facts, self.th, "post")
        primary = next((self.nodes[f.target] for f in facts if f.role is Role.PRIMARY), None)
        if primary is not None and all(f.reachable for f in facts):
            standbys = [self.nodes[f.target] for f in facts if f.role is Role.STANDBY]
            results.append(smoke_write(primary, standbys, timeout=self.th.catchup_timeout_seconds))
        self.run.after = {f.target: f.version for f in facts}
        return results

    def execute(self, dry_run: bool = False) -> ClusterRun:
        """Gather facts, check, plan, and (unless ``dry_run``) patch. Never raises for a cluster-level problem."""
        return guarded(self.run, lambda: self._execute_run(dry_run))

    def _execute_run(self, dry_run: bool) -> None:
        run = self.run
        facts, host = self.gather()
        versions = [f.version for f in facts if f.version]
        if versions:
            self.approved = self.approved_for(major_of(versions[0]))
            self.target_version = self.requested or self.approved
            run.target_version = self.target_version
        run.before = {f.target: f.version for f in facts}
        run.after = dict(run.before)
        pre = self.prechecks(facts, host)
        run.checks += pre
        failed = [c for c in pre if not c.ok]
        if (
            self.target_version
            and all(f.version == self.target_version for f in facts if f.reachable)
            and all(f.reachable for f in facts)
        ):
            run.outcome, run.sentence = Outcome.NOOP, f"already at {self.target_version}"
            return
        if failed:
            run.outcome = Outcome.SKIPPED
            run.sentence = "pre-checks failed, nothing changed: " + "; ".join(c.sentence for c in failed)
            return
        self.primary = next(n for n in self.nodes.values() if n.facts and n.facts.role is Role.PRIMARY)
        self.original_primary = self.primary.name
        stages = self.plan(facts)
        run.plan = [s for st in stages for s in st.steps]
        if dry_run:
            run.outcome = Outcome.PLANNED
            run.sentence = f"would patch {', '.join(sorted({st.node for st in stages if st.kind.startswith('patch')}))} to {self.target_version}"
            return
        if self.probe is not None:
            self.probe.start()
        try:
            self.run_stages(stages)
        finally:
            if self.probe is not None:
                run.probe = self.probe.stop()
        if run.outcome is Outcome.PLANNED:
            post = self.postchecks()
            run.checks += post
            bad = [c for c in post if not c.ok]
            if bad:
                run.outcome, run.sentence = (
                    Outcome.FAILED,
                    "post-checks failed: " + "; ".join(c.sentence for c in bad),
                )
            else:
                run.outcome = Outcome.PATCHED
                run.sentence = f"patched to {self.target_version}; primary is {self.primary.name if self.primary else '?'}"
        else:
            run.after = {n.name: _version_or_none(n) for n in self.nodes.values()}


def _running(node: PgNode) -> bool:
    try:
        node.refresh()
        return True
    except TargetUnreachable:
        return False


def _is_primary(node: PgNode) -> bool:
    try:
        return node.refresh().role is Role.PRIMARY
    except TargetUnreachable:
        return False


def _version_or_none(node: PgNode) -> str | None:
    try:
        return node.refresh().version
    except TargetUnreachable:
        return None
