"""PostgreSQL on the engine seam: streaming replication, switchover with a fence, resume after a crash.

The handover: gate (candidate streaming, replay not paused), point the old primary's ``primary_conninfo`` at
the candidate, **fence** it (``standby.signal``, inert while it runs), CHECKPOINT, drain open write
transactions, clean fast shutdown (every WAL record is shipped), wait until the candidate has *replayed* the
shutdown checkpoint, promote. From the fence on, whatever starts the old primary (a package script, an
operator, a reboot) brings it up as a standby of the candidate: there is no instant at which it is stopped and
able to come back as a second primary.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

from dbpatch.errors import NeedsPerson, PatchError, PatchFailed, RollbackFailed, TargetUnreachable
from dbpatch.models import Policy
from dbpatch.state import RunJournal
from tasks.engine import EngineAdapter, NodeView, SimpleGoal, StepRunner
from tasks.facts import NodeFacts, Role
from tasks.host.packages import HostCommand
from tasks.patching import CheckResult, Outcome, Step
from tasks.postgres import checks
from tasks.postgres.facts import attach_primary_view, major_of
from tasks.postgres.node import PgNode, free_bytes
from tasks.postgres.smoke import smoke_write

POLL = 0.1


class PostgresEngine(EngineAdapter):
    engine = "postgresql"
    handover_name = "switchover"
    supports_switch_back = True

    def __init__(
        self,
        cluster: str,
        nodes: list[PgNode],
        policy: Policy,
        approved_for: Callable[[str], str | None],
    ):
        super().__init__(cluster, {n.name: n for n in nodes}, policy)
        self.pg: dict[str, PgNode] = {n.name: n for n in nodes}
        self.approved_for = approved_for
        self.facts: list[NodeFacts] = []
        self.host = checks.HostFacts()

    # --- facts and checks ------------------------------------------------------------------------------

    def observe(self) -> list[NodeView]:
        facts = []
        for node in self.pg.values():
            try:
                facts.append(node.refresh())
            except TargetUnreachable as exc:
                node.facts = None
                facts.append(NodeFacts.unreachable(node.target, exc.reason))
        attach_primary_view(facts)
        self.facts = facts
        self.views = [
            NodeView(f.target, f.reachable, f.version, f.role is Role.PRIMARY, f.error) for f in facts
        ]
        return self.views

    def goal(self, views: list[NodeView], requested: str | None) -> SimpleGoal | None:
        versions = [v.version for v in views if v.version]
        if not versions:
            return None
        approved = self.approved_for(major_of(versions[0]))
        return SimpleGoal(requested or approved, approved)

    def _host_facts(self, version: str | None) -> checks.HostFacts:
        host = checks.HostFacts()
        for node, f in zip(self.pg.values(), self.facts, strict=True):
            if not f.reachable or not f.version:
                continue
            try:
                if self.th.refresh_package_lists:
                    node.run(node.source.refresh_lists())
                host.available[node.name] = node.source.available_versions(
                    node.transport, major_of(f.version)
                )
                host.free_bytes[node.name] = free_bytes(node, node.datadir)
                if version and version in host.available[node.name]:
                    problems = node.source.install_problems(node.transport, major_of(version), version)
                    if problems is not None:
                        host.install_problems[node.name] = problems
            except PatchError as exc:
                host.available.setdefault(node.name, [])
                host.errors.setdefault(node.name, str(exc))
        hook = self.th.backup_check_command
        if hook:
            first = next(iter(self.pg.values()))
            argv = [a.replace("{cluster}", self.cluster).replace("{target}", first.name) for a in hook]
            res = first.transport.run(argv, check=False, timeout=120)
            text = (res.stdout or res.stderr).strip()
            host.backup = (res.ok, text.splitlines()[-1] if text else f"exit {res.returncode}")
        return host

    def prechecks(self, views: list[NodeView], goal) -> list[CheckResult]:
        facts = self.facts
        results = checks.reachable(facts)
        if not all(f.reachable for f in facts):
            return results
        self.host = host = self._host_facts(goal.version)
        results += checks.one_primary(facts)
        results += checks.standbys_streaming(facts)
        results += checks.replay_not_paused(facts)
        results += checks.replication_lag(facts, self.th)
        results += checks.transactions(facts, self.th)
        results += checks.version_approved(
            self.cluster, goal.version, goal.approved, [f.version or "" for f in facts]
        )
        results += checks.host_fact_errors(host)
        if goal.version:
            results += checks.version_available(facts, host, goal.version)
            results += checks.rollback_available(facts, host)
            results += checks.install_simulation(facts, host, goal.version)
        results += checks.disk_space(facts, host, self.th)
        results += checks.backup(self.cluster, host)
        return results

    def health(self, views: list[NodeView], phase: str = "pre") -> list[CheckResult]:
        facts = self.facts
        results = checks.reachable(facts, phase)
        results += checks.one_primary(facts, phase)
        results += checks.standbys_streaming(facts, phase)
        results += checks.replication_lag(facts, self.th, phase)
        return results

    def postchecks(self, goal) -> list[CheckResult]:
        views = self.observe()
        facts = self.facts
        results = self.health(views, "post")
        results += checks.versions_are(facts, goal.version or "")
        primary = next((self.pg[f.target] for f in facts if f.role is Role.PRIMARY), None)
        if primary is not None and all(f.reachable for f in facts):
            standbys = [self.pg[f.target] for f in facts if f.role is Role.STANDBY]
            results.append(smoke_write(primary, standbys, timeout=self.th.catchup_timeout_seconds))
        return results

    # --- plan ------------------------------------------------------------------------------------------

    def _major(self, node: PgNode, fallback: str | None = None) -> str:
        version = (node.facts.version if node.facts else None) or node.previous_version or fallback
        if not version:
            raise PatchFailed(f"{node.name}: version unknown")
        return major_of(version)

    def node_steps(self, node: str, version: str, *, replica_of: str | None, stopped: bool) -> list[Step]:
        n = self.pg[node]
        n.previous_version = n.facts.version if n.facts else n.previous_version
        major, src = major_of(version), n.source
        steps = []
        prepare = src.prepare(major, version)
        if prepare:
            steps.append(
                Step(node, "prepare", f"download {version} while the node still runs", tuple(prepare))
            )
        if not stopped:
            steps.append(Step(node, "stop", "clean fast shutdown", tuple(src.stop(self._major(n, version)))))
        steps += [
            Step(node, "install", f"install {version}", tuple(src.install(major, version)), version),
            Step(node, "start", f"start under {version}" + (" (fenced: comes up as a standby)" if stopped else ""),
                 tuple(src.start(major))),
            Step(node, "wait-ready", f"accepts connections and reports {version}", expect_version=version),
        ]  # fmt: skip
        if replica_of is not None:
            steps.append(self._catch_up_step(node))
        return steps

    def _catch_up_step(self, node: str) -> Step:
        return Step(
            node,
            "wait-caught-up",
            f"streaming with lag ≤ {self.th.max_lag_bytes} B within {self.th.catchup_timeout_seconds:g} s",
        )

    def handover_steps(self, old: str, candidate: str) -> list[Step]:
        o = self.pg[old]
        major = self._major(o)
        controldata = HostCommand(
            (f"{o.source.bindir(major)}/pg_controldata", o.datadir),
            "read the shutdown checkpoint",
            getattr(o.source, "data_owner", None),
        )
        drain = (
            f"no open write transaction on {old} (waits up to {self.th.drain_seconds:g} s, then "
            + ("ends them" if self.th.open_transactions == "terminate" else "aborts the switchover")
            + ")"
        )
        steps = [
            Step(candidate, "gate", f"{candidate} streams from {old}, replay not paused, caught up", peer=old),
            Step(old, "repoint", f"primary_conninfo → {candidate} (used once it is a standby)", peer=candidate),
            Step(old, "fence", f"standby.signal: any start brings {old} up as a standby of {candidate}",
                 (o.fence_command(),), peer=candidate),
            Step(old, "checkpoint", "CHECKPOINT so the shutdown checkpoint is quick"),
            Step(old, "drain", drain),
            Step(old, "stop", "clean fast shutdown: every WAL record is shipped", tuple(o.source.stop(major))),
            Step(candidate, "verify-replayed", f"replayed {old}'s shutdown checkpoint", (controldata,), peer=old),
            Step(candidate, "promote", "pg_promote() and wait until it accepts writes"),
        ]  # fmt: skip
        steps += [
            Step(n, "repoint", f"follow the new primary {candidate} (reload)", peer=candidate)
            for n in self.pg
            if n not in (old, candidate)
        ]
        return steps

    def handover_phrase(self, old: str, candidate: str) -> str:
        return f"switch over from {old} to {candidate} and patch {old}"

    def rejoin_steps(self, node: str, primary: str) -> list[Step]:
        n = self.pg[node]
        return [
            Step(node, "start", "start as a standby (fenced)", tuple(n.source.start(self._major(n)))),
            Step(node, "wait-ready", "accepts connections"),
            self._catch_up_step(node),
        ]

    def choose_candidate(self, replicas: list[str], version: str) -> str:
        """The most caught-up standby whose replay runs, patched ones first."""

        def key(name: str) -> tuple[int, int, int]:
            f = self.pg[name].facts
            paused = 1 if f and f.extra.get("replay_paused") else 0
            patched = 0 if f and f.version == version else 1
            return (paused, patched, f.lag_bytes if f and f.lag_bytes is not None else 1 << 62)

        return sorted(replicas, key=key)[0]

    # --- execution -------------------------------------------------------------------------------------

    def execute(self, step: Step) -> str:
        node = self.pg[step.node]
        action = step.action
        if action in ("prepare", "stop", "install"):
            node.run(step.commands)
            return ""
        if action == "fence":
            return self.fence(node.name, step.peer or self._require_primary())
        if action == "unfence":
            return self.unfence(node.name)
        if action == "start":
            return self._start(node, step.commands)
        if action == "wait-ready":
            facts = node.wait_ready(self.th.catchup_timeout_seconds, step.expect_version)
            return f"runs {facts.version} as {facts.role.value}"
        if action == "wait-caught-up":
            primary = self.pg[self._require_primary()]
            lag = node.wait_caught_up(primary, self.th.max_lag_bytes, self.th.catchup_timeout_seconds)
            return f"{lag} bytes behind {primary.name}"
        if action == "gate":
            assert step.peer is not None
            return self._gate(node, self.pg[step.peer])
        if action == "repoint":
            assert step.peer is not None
            node.set_primary_conninfo(self._conninfo_template(), self.pg[step.peer].target)
            return f"primary_conninfo → {step.peer}"
        if action == "checkpoint":
            node.checkpoint()
            return ""
        if action == "drain":
            return self._drain(node)
        if action == "verify-replayed":
            assert step.peer is not None
            return self._verify_replayed(self.pg[step.peer], node, step.commands[0])
        if action == "promote":
            node.promote()
            self.primary = node.name
            return f"{node.name} is the primary"
        raise PatchError(
            f"unknown step {action}"
        )  # pragma: no cover - plan and executor are written together

    def fence(self, node: str, primary: str) -> str:
        n = self.pg[node]
        n.run([n.fence_command()])
        return f"{node} fenced: standby.signal, primary_conninfo → {primary}"

    def unfence(self, node: str) -> str:
        n = self.pg[node]
        n.run([n.unfence_command()])
        return f"{node} unfenced"

    def _require_primary(self) -> str:
        if self.primary is None:
            raise PatchFailed(f"{self.cluster}: no primary known")
        return self.primary

    def _start(self, node: PgNode, commands: tuple[HostCommand, ...]) -> str:
        """Start; a node that something else started already (postgresql-common) is verified, not an error."""
        try:
            node.run(commands)
        except PatchError as exc:
            try:
                facts = node.refresh()
            except TargetUnreachable:
                raise exc from None
            return f"already running ({facts.version}, {facts.role.value}): started by something else"
        return ""

    def _gate(self, candidate: PgNode, old: PgNode) -> str:
        facts = candidate.refresh()
        lsn, paused = candidate.replay_state()
        if facts.role is not Role.STANDBY:
            raise PatchFailed(f"switchover refused: {candidate.name} is not a standby")
        if paused:
            raise PatchFailed(f"switchover refused: {candidate.name}'s WAL replay is paused")
        if not facts.streaming:
            raise PatchFailed(f"switchover refused: {candidate.name} is not streaming from {old.name}")
        primary = self.pg[self._require_primary()]
        lag = candidate.wait_caught_up(primary, self.th.max_lag_bytes, self.th.catchup_timeout_seconds)
        return f"{candidate.name} streaming, replay at {lsn}, {lag} bytes behind"

    def _drain(self, node: PgNode) -> str:
        deadline = time.monotonic() + self.th.drain_seconds
        pids = node.open_write_transactions()
        while pids and time.monotonic() < deadline:
            time.sleep(POLL)
            pids = node.open_write_transactions()
        if not pids:
            return "no open write transaction"
        if self.th.open_transactions != "terminate":
            raise PatchFailed(
                f"{len(pids)} write transaction(s) still open on {node.name} after {self.th.drain_seconds:g} s "
                f"(pids {', '.join(map(str, pids[:10]))}; policy open_transactions: abort)"
            )
        ended = node.terminate(pids)
        self.sessions_ended += ended
        self.notes.append(f"{ended} write session(s) ended on {node.name} before the switchover")
        return f"ended {ended} session(s) with open write transactions (policy open_transactions: terminate)"

    def _conninfo_template(self) -> str:
        for n in self.pg.values():
            if n.facts and n.facts.role is Role.STANDBY:
                try:
                    value = n.primary_conninfo()
                except PatchError:
                    continue
                if value:
                    return value
        return ""

    def _verify_replayed(self, old: PgNode, candidate: PgNode, controldata: HostCommand) -> str:
        checkpoint = old.last_checkpoint_of_stopped(controldata.argv)
        return self._wait_replayed(candidate, checkpoint, f"{old.name}'s shutdown checkpoint")

    def _wait_replayed(self, candidate: PgNode, lsn: str, what: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while True:
            replayed, paused = candidate.replay_state()
            if paused:
                raise PatchFailed(f"{candidate.name}'s WAL replay is paused: not promoted")
            if replayed and candidate.lsn_at_least(replayed, lsn) and replayed != lsn:
                return f"replayed {replayed} > {what} {lsn}"
            if time.monotonic() > deadline:
                raise PatchFailed(f"{candidate.name} replayed only {replayed}, not {what} {lsn}")
            time.sleep(POLL)

    def rollback(self, node: str, previous: str, *, replica: bool) -> str:
        n = self.pg[node]
        major = major_of(previous)
        try:
            if _running(n):
                n.run(n.source.stop(major))
            n.run(n.source.install(major, previous))
            self._start(n, tuple(n.source.start(major)))
            n.wait_ready(self.th.catchup_timeout_seconds, previous)
            if replica and self.primary and self.primary != node:
                n.wait_caught_up(
                    self.pg[self.primary], self.th.max_lag_bytes, self.th.catchup_timeout_seconds
                )
        except PatchError as exc:
            raise RollbackFailed(f"{node}: rollback to {previous} failed: {exc}") from None
        return f"{node} rolled back to {previous}"

    def abort_handover(self, old: str, candidate: str, done: list[str], why: str) -> tuple[Outcome, str]:
        o, c = self.pg[old], self.pg[candidate]
        if "stop" not in done:
            try:
                if "fence" in done:
                    o.run([o.unfence_command()])
            except PatchError as exc:
                raise NeedsPerson(
                    f"switchover aborted ({why}), but the fence on {old} could not be removed: {exc} — "
                    f"{old} runs as primary; remove {o.datadir}/standby.signal before its next start"
                ) from None
            return Outcome.FAILED, f"switchover aborted before {old} stopped: {why}; {old} stays primary"
        if "promote" in done or _is_primary(c) or self._promotes_late(c, _failed_in_promote(done)):
            self.primary = candidate
            try:
                self._rejoin(o, candidate)
            except PatchError as exc:
                raise NeedsPerson(
                    f"{why}; {candidate} is the primary, {old} (fenced) did not rejoin: {exc} — start it: "
                    f"it comes up as a standby of {candidate}"
                ) from None
            return (
                Outcome.FAILED,
                f"{why}; but {candidate} did become primary; {old} rejoined it as a standby",
            )
        try:
            o.run([o.unfence_command()])
            self._start(o, tuple(o.source.start(self._major(o))))
            o.wait_ready(self.th.catchup_timeout_seconds)
        except PatchError as exc:
            raise NeedsPerson(
                f"switchover aborted ({why}) and {old} did not come back as primary: {exc} — no primary now; "
                f"start {old} (remove {o.datadir}/standby.signal first) or promote {candidate}"
            ) from None
        self.primary = old
        return Outcome.ROLLED_BACK, f"switchover aborted: {why}; {old} is primary again"

    def _promotes_late(self, candidate: PgNode, tried: bool) -> bool:
        """After a promote that did not answer, wait until it is clear whether the candidate promotes."""
        if not tried:
            return False
        deadline = time.monotonic() + min(30.0, self.th.catchup_timeout_seconds)
        while time.monotonic() < deadline:
            if _is_primary(candidate):
                return True
            time.sleep(0.5)
        raise NeedsPerson(
            f"{candidate.name} was asked to promote and did not within 30 s; it may still: "
            "no node was started; check pg_is_in_recovery() on it, then rerun dbpatch"
        )

    def _rejoin(self, node: PgNode, primary: str) -> None:
        """Start a stopped node behind its fence and wait until it streams from ``primary``."""
        node.run([node.fence_command()])
        self._start(node, tuple(node.source.start(self._major(node))))
        node.wait_ready(self.th.catchup_timeout_seconds)
        node.wait_caught_up(self.pg[primary], self.th.max_lag_bytes, self.th.catchup_timeout_seconds)

    # --- resume ----------------------------------------------------------------------------------------

    def reconcile(self, views: list[NodeView], journal: RunJournal, step: StepRunner) -> list[str]:
        """One primary, every node the dead run touched running, fenced nodes as standbys of it."""
        previous = journal.value("previous") or {}
        for n in self.pg.values():
            n.previous_version = n.previous_version or previous.get(n.name)
        touched = {r.node for r in journal.records if r.kind == "intent" and r.node}
        primaries = [v.name for v in views if v.primary]
        down = [v.name for v in views if not v.reachable and v.name in touched]
        done: list[str] = []
        if len(primaries) > 1:
            raise NeedsPerson(self._two_primaries(primaries, journal))
        if not primaries:
            primaries = [self._restore_primary(views, journal, step)]
            done.append(f"{primaries[0]} is the primary")
        self.primary = primary = primaries[0]

        def do(s: Step) -> str:
            return step(s, partial(self.execute, s))

        p = self.pg[primary]
        if (
            p.fenced()
        ):  # the run died between the fence and the stop: a fenced primary would restart as a standby
            do(Step(primary, "unfence", f"{primary} stays primary: remove its fence", (p.unfence_command(),)))
            done.append(f"fence removed from {primary}, which stays primary")
        for name in down:
            if name == primary:
                continue
            node = self.pg[name]
            do(
                Step(
                    name,
                    "fence",
                    f"make sure {name} starts as a standby",
                    (node.fence_command(),),
                    peer=primary,
                )
            )
            do(Step(name, "start", "start behind its fence", tuple(node.source.start(self._major(node)))))
            do(Step(name, "wait-ready", "accepts connections"))
            done.append(f"{name} started as a standby")
        for name in self.pg:
            if name != primary and name in touched:  # every node that is down was touched
                do(self._catch_up_step(name))
        return done

    def _restore_primary(self, views: list[NodeView], journal: RunJournal, step: StepRunner) -> str:
        """No node accepts writes: promote the candidate if it provably has everything the old primary had,
        else bring the old primary back."""
        old_name = journal.value("original_primary")
        cand_name = journal.value("candidate")
        if len(self.pg) == 1:
            old_name = next(iter(self.pg))
        if old_name not in self.pg:
            raise NeedsPerson(
                f"{self.cluster}: no primary, and the journal names none — promote the right node by hand"
            )
        old = self.pg[old_name]

        def do(s: Step) -> str:
            return step(s, partial(self.execute, s))

        up = {v.name for v in views if v.reachable}
        if cand_name in self.pg and cand_name in up and old_name != cand_name:
            cand = self.pg[cand_name]
            end = self._end_of_wal(old, old_name in up)
            if end is not None:
                try:
                    replayed = self._wait_replayed(cand, end, f"{old_name}'s end of WAL", timeout=10)
                except PatchFailed:
                    replayed = None
                if replayed:
                    do(
                        Step(
                            cand_name, "promote", f"promote: it replayed all of {old_name}'s WAL ({replayed})"
                        )
                    )
                    return cand_name
        if old_name in up:  # running, fenced, as a standby of a standby: it has all its WAL
            do(Step(old_name, "promote", f"promote {old_name} back: the candidate lacks its WAL"))
            return old_name
        if journal.started(cand_name or "", "promote") and cand_name in self.pg:
            raise NeedsPerson(
                f"{self.cluster}: no primary; {cand_name} may have been promoted and is down, {old_name} is stopped "
                f"behind its fence — start {cand_name} first, then rerun dbpatch"
            )
        do(Step(old_name, "unfence", f"{old_name} comes back as primary", (old.unfence_command(),)))
        do(Step(old_name, "start", "start as primary", tuple(old.source.start(self._major(old)))))
        do(Step(old_name, "wait-ready", "accepts connections"))
        return old_name

    def _end_of_wal(self, node: PgNode, running: bool, settle: float = 30.0) -> str | None:
        """Where ``node``'s WAL ends. A node that does not answer may still be shutting down (the dead run's
        fast stop goes on without it): wait up to ``settle`` s for its control file to say "shut down"."""
        if running:
            try:
                return node.end_of_wal()
            except PatchError:
                return None
        major = self._major(node)
        argv = (f"{node.source.bindir(major)}/pg_controldata", node.datadir)
        deadline = time.monotonic() + settle
        while True:
            try:
                return node.last_checkpoint_of_stopped(argv)
            except PatchError:
                if time.monotonic() > deadline or not _postmaster_alive(node):
                    return None  # not cleanly stopped: only the old primary itself has all of its WAL
            time.sleep(0.5)

    def _two_primaries(self, primaries: list[str], journal: RunJournal) -> str:
        cand = journal.value("candidate")
        keep = cand if cand in primaries and journal.started(cand, "promote") else None
        other = [p for p in primaries if p != keep]
        advice = (
            f"the journal says {keep} was promoted: stop {', '.join(other)}, rejoin with pg_rewind "
            f"(pg_rewind -D <datadir> --source-server='host={self.pg[keep].target.host} port={self.pg[keep].target.port}'), "
            "create standby.signal, start it"
            if keep
            else "find which one took writes last; stop the other and rejoin it with pg_rewind"
        )
        return f"{self.cluster}: {len(primaries)} primaries accept writes ({', '.join(primaries)}) — {advice}; then rerun dbpatch"


def _postmaster_alive(node: PgNode) -> bool:
    """``postmaster.pid`` exists while a postmaster runs or shuts down (a crashed one leaves it too, so this
    only shortens the wait when the server is certainly gone)."""
    return node.has_file("postmaster.pid")


def _failed_in_promote(done: list[str]) -> bool:
    """The handover failed in its promote step (the one after verify-replayed): the candidate was asked."""
    return "verify-replayed" in done and "promote" not in done


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
