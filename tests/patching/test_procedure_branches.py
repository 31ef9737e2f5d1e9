"""The riskiest branches of the rolling procedure on real PostgreSQL servers: switchover aborted after the stop,
a promotion that answers late, a rollback that fails (needs a person), the drain gate at the handover (abort or
terminate), replay paused on the candidate, and one run per cluster."""

from __future__ import annotations

import datetime as dt
import subprocess
import time
from pathlib import Path

import psycopg
import pytest
from prefect.settings import PREFECT_API_URL

from dbpatch.errors import PatchFailed
from dbpatch.models import load_inventory, load_policy
from lab import crash
from tasks.patch import procedure_for
from tasks.patching import Outcome, Step
from tasks.postgres.node import PgNode
from tests.patching.conftest import CLUSTER, STANDALONE
from tests.patching.test_postgres_patch import approve, connect, in_recovery, version_of

ON = dt.date.today()


def procedure(lab, cluster: str, **kw):
    inv = load_inventory(lab.inventory_path)
    return procedure_for(cluster, inv.clusters()[cluster], load_policy(lab.policy_path), ON, **kw)


def steps(run) -> list[tuple[str, str, str]]:
    return [(r.step.node, r.step.action, r.status.value) for r in run.steps]


def fenced(lab, node: str) -> bool:
    return (lab.node(node).data / "standby.signal").exists()


def test_switchover_aborted_after_the_stop_unfences_and_restarts_the_old_primary(make_lab, monkeypatch):
    lab = make_lab(CLUSTER)

    def never_replayed(self, old, candidate, controldata):
        raise PatchFailed(f"{candidate.name} replayed only 0/0 (injected)")

    from tasks.postgres.engine import PostgresEngine

    monkeypatch.setattr(PostgresEngine, "_verify_replayed", never_replayed)
    run = procedure(lab, "pt").execute()
    assert run.outcome is Outcome.ROLLED_BACK, run.sentence
    assert (
        run.sentence.startswith("switchover aborted: pt-2 replayed only")
        and "pt-1 is primary again" in run.sentence
    )
    assert ("pt-1", "stop", "ok") in steps(run) and ("pt-2", "verify-replayed", "failed") in steps(run)
    assert not in_recovery(lab, "pt-1") and in_recovery(lab, "pt-2") and not fenced(lab, "pt-1")


def test_promotion_that_answers_late_keeps_the_new_primary_and_rejoins_the_old_one(make_lab, monkeypatch):
    lab = make_lab(CLUSTER)

    def promote_late(self: PgNode, timeout: int = 60) -> None:
        with psycopg.connect(host=self.target.host, port=self.target.port, user="postgres",
                             password=lab.password(), autocommit=True) as c:  # fmt: skip
            c.execute("select pg_promote(false)")  # asked, not waited for
        raise PatchFailed(f"{self.name}: pg_promote did not finish within {timeout}s (injected)")

    monkeypatch.setattr(PgNode, "promote", promote_late)
    run = procedure(lab, "pt").execute()
    assert run.outcome is Outcome.FAILED, run.sentence
    assert "but pt-2 did become primary; pt-1 rejoined it as a standby" in run.sentence
    assert not in_recovery(lab, "pt-2") and in_recovery(lab, "pt-1")  # never two primaries
    assert version_of(lab, "pt-1") == "15.18"  # the old primary was not patched: the cluster halted


def test_rollback_that_fails_is_needs_a_person(make_lab, broken_build, capsys):
    """A broken build, and then the previous build vanishes from the repository before the rollback."""
    import os

    lab = make_lab(STANDALONE)
    approve(lab, [broken_build])
    repo = Path(os.environ["DBPATCH_CACHE"]) / "builds"

    def lose_the_previous_build(step: Step) -> None:
        if step.action == "rollback":
            (repo / "postgresql-15.18").unlink()

    run = procedure(lab, "ps", on_step=lose_the_previous_build).execute()
    assert run.outcome is Outcome.NEEDS_PERSON, run.sentence
    assert "rollback to 15.18 failed" in run.sentence and "needs a person: ps is down" in run.sentence


def test_open_write_transaction_aborts_the_handover_by_default(make_lab):
    lab = make_lab(CLUSTER, drain_seconds=1)
    with connect(lab, "pt-1") as c:
        c.autocommit = False
        c.execute("create table if not exists held(x int)")
        c.commit()
        c.execute("insert into held values (1)")  # open, holds an xid
        run = procedure(lab, "pt").execute()
        c.rollback()
    assert run.outcome is Outcome.FAILED, run.sentence
    assert "switchover aborted before pt-1 stopped" in run.sentence
    assert "1 write transaction(s) still open on pt-1 after 1 s" in run.sentence
    assert ("pt-1", "drain", "failed") in steps(run) and not any(
        a == "stop" and n == "pt-1" for n, a, _ in steps(run)
    )
    assert not in_recovery(lab, "pt-1") and not fenced(lab, "pt-1")  # still the primary, fence removed


def test_open_write_transaction_is_ended_and_counted_when_the_policy_says_terminate(make_lab):
    lab = make_lab(CLUSTER, drain_seconds=1, open_transactions="terminate")
    c = connect(lab, "pt-1")
    c.autocommit = False
    c.execute("create table if not exists held(x int)")
    c.commit()
    c.execute("insert into held values (1)")
    run = procedure(lab, "pt").execute()
    assert run.outcome is Outcome.PATCHED, run.sentence
    assert (
        run.sessions_ended == 1 and "1 write session(s) ended on pt-1 before the switchover" in run.sentence
    )
    from reports.run import clusters_frame

    assert clusters_frame([run]).loc[0, "sessions_ended"] == 1  # the run report counts them
    with pytest.raises(psycopg.OperationalError):
        c.execute("select 1")
    c.close()


def test_candidate_whose_replay_is_paused_is_refused(make_lab):
    from lab.lab import NodeSpec

    lab = make_lab((NodeSpec("pt-1", 0, "15.18", "prod", cluster="pt"),
                    NodeSpec("pt-2", 1, "15.20", "prod", cluster="pt", upstream="pt-1")))  # fmt: skip
    with connect(lab, "pt-2") as c:
        c.execute("select pg_wal_replay_pause()")
    run = procedure(lab, "pt").execute()
    assert run.outcome is Outcome.SKIPPED, run.sentence
    assert "pt-2: WAL replay is paused" in run.sentence and "nothing changed" in run.sentence
    assert not in_recovery(lab, "pt-1")


def test_a_second_run_on_the_same_cluster_is_refused(make_lab):
    """A real first run holds the cluster (it waits in the drain gate); a second command is refused at once."""
    lab = make_lab(CLUSTER, drain_seconds=60)
    argv = crash.command(lab.inventory_path, lab.policy_path, "pt")
    env = crash.env_for(PREFECT_API_URL.value())
    lease = Path(env["DBPATCH_STATE"]) / "leases" / "pt.json"
    with connect(lab, "pt-1") as c:
        c.autocommit = False
        c.execute("create table if not exists held(x int)")
        c.commit()
        c.execute("insert into held values (1)")
        first = subprocess.Popen(
            argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=crash.ROOT
        )  # noqa: S603
        try:
            deadline = time.monotonic() + 120
            while not lease.exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            assert lease.exists(), "the first run never took the lease"
            second = subprocess.run(
                argv, env=env, capture_output=True, text=True, cwd=crash.ROOT, timeout=120
            )  # noqa: S603
        finally:
            c.rollback()
            first.communicate(timeout=180)
    assert second.returncode == 3, crash.output_tail(second.stdout + second.stderr)
    assert "another run holds the cluster: run" in second.stdout and "nothing changed" in second.stdout
    assert first.returncode in (0, 1)  # the first ran on: patched, or aborted in the drain gate
    assert not lease.exists()
