"""patch_wave on real PostgreSQL servers: pre-checks failing for real, rollback, rolling patch with the probe."""

from __future__ import annotations

import subprocess

import psycopg
import pytest
import yaml

from cli.main import main
from flows.patch_wave import WaveParameters, patch_wave
from tasks.patching import Outcome, StepStatus
from tests.patching.conftest import CLUSTER, STANDALONE


def params(lab, **kw) -> WaveParameters:
    return WaveParameters(inventory_path=str(lab.inventory_path), policy_path=str(lab.policy_path), **kw)


def connect(lab, node: str):
    return psycopg.connect(
        host="127.0.0.1",
        port=lab.node(node).port,
        user="postgres",
        password=lab.password(),
        dbname="postgres",
        autocommit=True,
    )


def version_of(lab, node: str) -> str:
    with connect(lab, node) as c:
        return c.execute("show server_version").fetchone()[0].split()[0]


def in_recovery(lab, node: str) -> bool:
    with connect(lab, node) as c:
        return c.execute("select pg_is_in_recovery()").fetchone()[0]


def approve(lab, versions: list[str]) -> None:
    policy = yaml.safe_load(lab.policy_path.read_text())
    policy["baselines"]["postgresql"]["15"]["approved"] = versions
    lab.policy_path.write_text(yaml.safe_dump(policy))


def failed_checks(run) -> set[str]:
    return {c.name for c in run.checks if not c.ok}


def assert_untouched(lab, nodes=("pt-1", "pt-2")) -> None:
    for n in nodes:
        assert lab.node(n).installed_version() == "15.18"
        assert version_of(lab, n) == "15.18"


def test_full_rolling_patch_with_the_write_probe(make_lab):
    lab = make_lab(CLUSTER)
    result = patch_wave(params(lab, write_probe=True))
    (run,) = result.runs
    assert run.outcome is Outcome.PATCHED, run.sentence
    assert run.before == {"pt-1": "15.18", "pt-2": "15.18"} and run.after == {
        "pt-1": "15.20",
        "pt-2": "15.20",
    }
    assert version_of(lab, "pt-1") == version_of(lab, "pt-2") == "15.20"
    # the switchover happened: pt-2 leads, pt-1 streams from it
    assert not in_recovery(lab, "pt-2") and in_recovery(lab, "pt-1")
    with connect(lab, "pt-2") as c:
        assert c.execute("select application_name, state from pg_stat_replication").fetchall() == [
            ("pt-1", "streaming")
        ]
    probe = run.probe
    assert probe["probe_lost_writes"] == 0 and probe["probe_writes_acked"] > 0
    assert probe["probe_max_write_gap_s"] > 0
    # evidence: every step timed, in the planned order, and the post-checks passed (incl. the smoke write)
    assert [s.step.action for s in run.steps][:5] == [
        "stop",
        "install",
        "start",
        "wait-ready",
        "wait-caught-up",
    ]
    assert all(s.status is StepStatus.OK and s.ended >= s.started for s in run.steps)
    post = {c.name: c.ok for c in run.checks if c.phase == "post"}
    assert post["smoke_write"] and post["one_primary"] and post["version"]
    assert result.files["steps"].read_text().count("\n") == len(run.steps) + 1
    # a second wave is a no-op in words
    (again,) = patch_wave(params(lab)).runs
    assert again.outcome is Outcome.NOOP and again.sentence == "already at 15.20 and healthy"


def test_switch_back_returns_leadership_to_the_original_primary(make_lab):
    lab = make_lab(CLUSTER)
    (run,) = patch_wave(params(lab, switch_back=True)).runs
    assert run.outcome is Outcome.PATCHED, run.sentence
    assert not in_recovery(lab, "pt-1") and in_recovery(lab, "pt-2")
    assert version_of(lab, "pt-2") == "15.20"


def test_long_transaction_skips_the_cluster(make_lab):
    lab = make_lab(CLUSTER, max_transaction_age_seconds=0.5)
    with connect(lab, "pt-1") as c:
        c.autocommit = False
        c.execute("select txid_current()")  # holds a transaction open
        c.execute("select pg_sleep(1)")
        (run,) = patch_wave(params(lab)).runs
        c.rollback()
    assert run.outcome is Outcome.SKIPPED
    assert failed_checks(run) == {"long_transactions"}
    assert "oldest transaction" in run.sentence and "nothing changed" in run.sentence
    assert run.steps == []
    assert_untouched(lab)


def test_prepared_transaction_skips_the_cluster(make_lab):
    lab = make_lab(CLUSTER)
    with connect(lab, "pt-1") as c:
        c.execute("alter system set max_prepared_transactions = 5")
    lab.node("pt-1").stop()
    lab.node("pt-1").start()
    with connect(lab, "pt-1") as c:
        c.autocommit = False
        c.execute("create table if not exists t2pc(x int)")
        c.execute("insert into t2pc values (1)")
        c.execute("prepare transaction 'dbpatch-test'")
    try:
        (run,) = patch_wave(params(lab)).runs
    finally:
        with connect(lab, "pt-1") as c:
            c.execute("rollback prepared 'dbpatch-test'")
    assert run.outcome is Outcome.SKIPPED and "prepared_transactions" in failed_checks(run)


def test_stopped_standby_skips_the_cluster(make_lab):
    lab = make_lab(CLUSTER)
    lab.node("pt-2").stop()
    (run,) = patch_wave(params(lab)).runs
    assert run.outcome is Outcome.SKIPPED
    assert failed_checks(run) == {"reachable"} and "pt-2: unreachable: connection refused" in run.sentence
    assert lab.node("pt-1").installed_version() == lab.node("pt-2").installed_version() == "15.18"


def test_paused_replay_fails_the_lag_and_replay_prechecks(make_lab):
    lab = make_lab(CLUSTER, max_lag_bytes=64 * 1024)
    with connect(lab, "pt-2") as standby, connect(lab, "pt-1") as primary:
        standby.execute("select pg_wal_replay_pause()")
        primary.execute("create table lagged as select generate_series(1, 50000) as x")
        (run,) = patch_wave(params(lab)).runs
        standby.execute("select pg_wal_replay_resume()")
    assert run.outcome is Outcome.SKIPPED and failed_checks(run) == {"replication_lag", "replay_not_paused"}
    assert "pt-2: WAL replay is paused" in run.sentence and "nothing changed" in run.sentence
    lag = next(c for c in run.checks if c.name == "replication_lag")
    assert int(lag.measured.split()[0]) > 64 * 1024
    assert_untouched(lab)


def test_unapproved_target_version_is_refused(make_lab):
    lab = make_lab(STANDALONE)
    (run,) = patch_wave(params(lab, version="15.5")).runs
    assert run.outcome is Outcome.SKIPPED and failed_checks(run) == {"version_approved"}
    assert "15.5 is not approved (approved: 15.20)" in run.sentence
    assert lab.node("ps").installed_version() == "15.18"


def test_a_build_that_cannot_start_is_rolled_back(make_lab, broken_build):
    lab = make_lab(STANDALONE)
    approve(lab, [broken_build])
    (run,) = patch_wave(params(lab)).runs
    assert run.outcome is Outcome.ROLLED_BACK, run.sentence
    assert "rolled back to 15.18" in run.sentence
    statuses = [(s.step.action, s.status) for s in run.steps]
    assert ("start", StepStatus.FAILED) in statuses and statuses[-1] == ("rollback", StepStatus.OK)
    assert version_of(lab, "ps") == "15.18" and lab.node("ps").installed_version() == "15.18"


def test_failed_standby_rolls_back_and_halts_before_the_switchover(make_lab, broken_build):
    lab = make_lab(CLUSTER)
    approve(lab, [broken_build])
    (run,) = patch_wave(params(lab)).runs
    assert run.outcome is Outcome.ROLLED_BACK
    actions = [s.step.action for s in run.steps]
    assert "promote" not in actions and "checkpoint" not in actions
    assert not in_recovery(lab, "pt-1") and in_recovery(lab, "pt-2")
    assert_untouched(lab)


def test_max_errors_halts_the_wave(make_lab, broken_build):
    lab = make_lab(STANDALONE + (CLUSTER[0].__class__("pz", 3, "15.18", "test"),))
    approve(lab, [broken_build])
    result = patch_wave(params(lab, max_concurrency=1, max_errors="1"))
    assert result.halted
    first, second = result.runs
    assert first.outcome is Outcome.ROLLED_BACK
    assert second.outcome is Outcome.HALTED and "wave halted after 1 failed cluster" in second.sentence
    assert lab.node("pz").installed_version() == "15.18"


def test_dry_run_prints_every_step_and_changes_nothing(make_lab, capsys):
    lab = make_lab(CLUSTER)
    rc = main(
        ["patch", "--dry-run", "--inventory", str(lab.inventory_path), "--policy", str(lab.policy_path)]
    )
    out = capsys.readouterr().out
    assert rc == 0
    assert (
        "pt (postgresql, rolling → 15.20): would patch pt-2, then switch over from pt-1 to pt-2 and patch pt-1 to 15.20"
        in out
    )
    for action in (
        "stop",
        "install",
        "wait-caught-up",
        "checkpoint",
        "gate",
        "fence",
        "drain",
        "verify-replayed",
        "promote",
    ):
        assert f"] {action}:" in out
    assert "check ok   replication_lag" in out
    assert "install_simulation" not in out  # the lab's source cannot simulate an install: no check claims it
    assert_untouched(lab)


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["--max-concurrency", "0"],
            "parameters: max_concurrency: input should be greater than or equal to 1",
        ),
        (["--version", "15.20; rm -rf /"], "parameters: version: '15.20; rm -rf /' does not match"),
        (["--max-errors", "lots"], "parameters: max_errors: 'lots' is not a valid count"),
    ],
)
def test_bad_parameters_exit_2_and_change_nothing(make_lab, capsys, argv, message):
    lab = make_lab(STANDALONE)
    rc = main(["patch", "--inventory", str(lab.inventory_path), "--policy", str(lab.policy_path), *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith(message)
    assert lab.node("ps").installed_version() == "15.18"


def test_patch_over_ssh(make_lab, sshd):
    """The lab node's host commands run through a real OpenSSH server (as root, then runuser to the lab user)."""
    lab = make_lab(STANDALONE)
    sshd.access().save("lab-ssh", overwrite=True)
    inventory = yaml.safe_load(lab.inventory_path.read_text())
    inventory["targets"][0].update(access="ssh", host_access="lab-ssh")
    lab.inventory_path.write_text(yaml.safe_dump(inventory))
    before = sshd.log.read_text().count("Accepted publickey")
    (run,) = patch_wave(params(lab)).runs
    assert run.outcome is Outcome.PATCHED, run.sentence
    assert version_of(lab, "ps") == "15.20"
    assert sshd.log.read_text().count("Accepted publickey") > before
    owner = subprocess.run(
        ["stat", "-c", "%U", str(lab.node("ps").build)], capture_output=True, text=True
    ).stdout.strip()
    assert owner == "dbpatch"  # the symlink was made by the lab user, not root
