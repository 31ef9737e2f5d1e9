"""Crash safety on real servers: a real ``dbpatch patch`` process SIGKILLed at every step boundary of a rolling
patch (and after random delays), then the same command again. Every time: one writable primary, the other node
streaming from it, both at the target, no acknowledged write lost, and the rerun exits 0."""

from __future__ import annotations

import contextlib
import io
import os
import random
import subprocess
from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL

from dbpatch.models import load_inventory
from flows.patch_wave import patch_wave
from lab import crash
from tasks.patching import Outcome
from tasks.postgres.driver import Credentials
from tests.patching.conftest import CLUSTER
from tests.patching.test_postgres_patch import connect, in_recovery, params

TARGET = "15.20"
BOUNDARIES = 18  # 17 steps of the rolling plan, plus "after the last step, before the post-checks"


def _setup(make_lab):
    lab = make_lab(CLUSTER)
    nodes = {n.name: ("127.0.0.1", n.port) for n in lab.nodes()}
    creds = Credentials("postgres", lab.password(), sslmode="disable")
    argv = crash.command(lab.inventory_path, lab.policy_path, "pt")
    return lab, nodes, creds, argv, crash.env_for(PREFECT_API_URL.value())


def same_command_in_process(argv: list[str]) -> subprocess.CompletedProcess:
    """The rerun: ``argv`` is ``python -m cli.main …``; run ``cli.main.main(…)`` here, capturing its output."""
    from cli.main import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        rc = main(argv[3:])
    return subprocess.CompletedProcess(argv, rc, out.getvalue(), "")


def resumed(store_root: str, cluster: str) -> bool:
    """The rerun journaled that it resumed the killed run (its begin record names it)."""
    from dbpatch.state import FileStateStore

    last = FileStateStore(Path(store_root)).last_run(cluster)
    return last is not None and bool(last.value("resumes"))


def _targets(lab):
    return load_inventory(lab.inventory_path).clusters()["pt"]


def _assert_clean(t: crash.Trial) -> None:
    assert t.clean, f"{t.label}: {t.problems}; rerun said: {t.rerun_out}"
    assert t.acked > 0


def test_the_rolling_plan_has_the_boundaries_the_crash_tests_kill_at(make_lab):
    lab = make_lab(CLUSTER)
    (run,) = patch_wave(params(lab, dry_run=True)).runs
    assert run.outcome is Outcome.PLANNED
    assert len(run.plan) + 1 == BOUNDARIES, [f"{s.node}:{s.action}" for s in run.plan]


@pytest.mark.parametrize("k", range(1, BOUNDARIES + 1))
def test_kill_at_every_step_boundary_then_rerun_is_clean(make_lab, k):
    lab, nodes, creds, argv, env = _setup(make_lab)
    targets = _targets(lab)
    t = crash.trial(f"kill-at:{k}", argv, nodes, creds, targets, TARGET, env=env, kill_at=k,
                    rerun=same_command_in_process)  # fmt: skip
    assert t.killed_rc == -9, f"the first run was not killed (exit {t.killed_rc})"
    _assert_clean(t)
    assert resumed(os.environ["DBPATCH_STATE"], "pt")


def test_fenced_old_primary_started_by_a_third_party_comes_up_as_a_standby(make_lab):
    """Killed right after the old primary's clean stop: an operator's (the lab's) ordinary start must not make
    a second primary; the rerun then finishes the switchover."""
    lab, nodes, creds, argv, env = _setup(make_lab)
    targets = _targets(lab)
    seen: dict[str, bool] = {}

    def operator_starts_everything() -> None:
        lab.up()  # `dbpatch lab up`: pg_ctl start of every stopped node
        seen["pt-1 in recovery"] = in_recovery(lab, "pt-1")

    stop_of_old_primary = 11  # 5 standby steps, gate, repoint, fence, checkpoint, drain, *stop*
    t = crash.trial("third-party start", argv, nodes, creds, targets, TARGET, env=env,
                    kill_at=stop_of_old_primary + 1, between=operator_starts_everything,
                    rerun=same_command_in_process)  # fmt: skip
    assert seen == {"pt-1 in recovery": True}
    _assert_clean(t)


@pytest.mark.parametrize("seed", range(10))
def test_kill_at_a_random_moment_then_rerun_is_clean(make_lab, seed):
    lab, nodes, creds, argv, env = _setup(make_lab)
    targets = _targets(lab)
    delay = random.Random(seed).uniform(3.0, 9.0)  # the CLI needs ~3 s to start; a patch takes ~5 s more
    t = crash.trial(f"random {delay:.2f}s", argv, nodes, creds, targets, TARGET, env=env, kill_after=delay,
                    rerun=same_command_in_process)  # fmt: skip
    _assert_clean(t)


def test_two_primaries_at_the_target_is_unhealthy_not_noop(make_lab, capsys):
    from cli.main import main

    lab = make_lab(CLUSTER)
    assert main(["patch", "--inventory", str(lab.inventory_path), "--policy", str(lab.policy_path)]) == 0
    with connect(lab, "pt-2") as c:  # whichever is the standby now is promoted behind dbpatch's back
        c.execute("select pg_promote()") if c.execute("select pg_is_in_recovery()").fetchone()[0] else None
    with connect(lab, "pt-1") as c:
        c.execute("select pg_promote()") if c.execute("select pg_is_in_recovery()").fetchone()[0] else None
    capsys.readouterr()
    rc = main(["patch", "--inventory", str(lab.inventory_path), "--policy", str(lab.policy_path)])
    out = capsys.readouterr().out
    assert rc == 4, out
    assert "unhealthy" in out and "2 primaries: pt-1, pt-2" in out and "noop" not in out
