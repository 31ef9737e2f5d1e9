"""The guards around the patch flows: ad-hoc ``dbpatch patch`` takes the policy's limits and windows and asks
before prod; ``dbpatch cycle`` refuses a webhook URL as a parameter and releases a stuck cycle lock; the cycle
lock's rules (a finished holder is replaced, a crashed cycle frees it, a deferred cycle is superseded). No
target is contacted: the flows are replaced by recorders, or stop before any contact."""

from __future__ import annotations

import sys

import pytest

import flows.patch_cycle
import flows.patch_wave
from cli.main import main
from dbpatch import locks
from tasks.cycle import CycleState
from tests.models.corpus import INVENTORY, POLICY


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.setenv("DBPATCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DBPATCH_STATE", str(tmp_path / "state"))
    monkeypatch.delenv("DBPATCH_ASSUME_YES", raising=False)  # the suite's default for others' tests
    monkeypatch.delenv("DBPATCH_IGNORE_WINDOWS", raising=False)
    (tmp_path / "inventory.yaml").write_text(INVENTORY)
    (tmp_path / "policy.yaml").write_text(POLICY.replace("max_concurrency: 2", "max_concurrency: 3"))
    return ["--inventory", str(tmp_path / "inventory.yaml"), "--policy", str(tmp_path / "policy.yaml")]


@pytest.fixture
def waves(monkeypatch):
    """``patch_wave`` replaced: records its parameters and patches nothing."""
    seen: list = []

    def fake(params):
        seen.append(params)
        return flows.patch_wave.WaveResult(params.wave, [], False)

    monkeypatch.setattr(flows.patch_wave, "patch_wave", fake)
    return seen


def one_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_ad_hoc_patch_takes_the_policys_limits_and_windows(files, waves):
    assert main(["patch", *files, "--yes"]) == 0
    (params,) = waves
    assert (params.max_concurrency, params.max_errors, params.enforce_windows) == (3, "1", True)


def test_flags_override_the_policy(files, waves):
    argv = ["patch", *files, "--yes", "--max-concurrency", "1", "--max-errors", "50%", "--ignore-windows"]
    assert main(argv) == 0
    (params,) = waves
    assert (params.max_concurrency, params.max_errors, params.enforce_windows) == (1, "50%", False)


def test_prod_without_a_terminal_needs_yes(files, waves, capsys):
    assert main(["patch", *files]) == 2
    assert one_line(capsys) == (
        "parameters: yes: 2 cluster(s) in prod (pg-orders, sql-fin): patching them needs --yes (no terminal to ask)"
    )
    assert waves == []
    assert main(["patch", *files, "--targets", "mongo-cat"]) == 0  # test only: nothing to ask
    assert main(["patch", *files, "--dry-run"]) == 0  # a plan changes nothing: nothing to ask
    assert len(waves) == 2


def test_prod_on_a_terminal_is_asked(files, waves, capsys, monkeypatch):
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    answers = iter(["n", "y"])
    monkeypatch.setattr("builtins.input", lambda prompt: next(answers))
    assert main(["patch", *files]) == 2
    assert (
        one_line(capsys)
        == "parameters: yes: not confirmed: 2 cluster(s) in prod (pg-orders, sql-fin) left alone"
    )
    assert waves == []
    assert main(["patch", *files]) == 0 and len(waves) == 1


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/services/T000/B000/XXXX",
        "https://user:pw@hooks.example.com/x",
        "https://hooks.example.com/x?token=abc",
    ],
)
def test_a_webhook_url_is_never_a_parameter(files, capsys, monkeypatch, url):
    called: list = []
    monkeypatch.setattr(flows.patch_cycle, "patch_cycle", lambda *a, **k: called.append(k))
    assert main(["cycle", *files, "--webhook", url]) == 2
    line = one_line(capsys)
    assert line.startswith("parameters: webhook: a URL is not accepted") and "--webhook-block NAME" in line
    assert url not in line and called == []


def test_release_a_stuck_cycle_lock(files, capsys):
    locks.acquire("2026-11-21-dead01", lambda cycle: False)  # a killed cycle: its state says unfinished
    with pytest.raises(locks.CycleLocked, match="cycle 2026-11-21-dead01 .* has not finished"):
        locks.acquire("2026-12-19-next01", lambda cycle: False)
    assert main(["cycle", "--release-lock"]) == 0
    assert capsys.readouterr().out.startswith("released cycle-fleet, held by cycle 2026-11-21-dead01")
    assert locks.holder() is None
    assert locks.acquire("2026-12-19-next01", lambda cycle: False) is None


def test_a_finished_holder_is_replaced(files):
    locks.acquire("old", lambda cycle: False)
    replaced = locks.acquire("new", lambda cycle: cycle == "old")
    assert replaced is not None and replaced.cycle_id == "old" and locks.holder().cycle_id == "new"
    assert locks.acquire("new", lambda cycle: False) is None  # its second flow run: already the holder
    assert not locks.release("old") and locks.release("new") and locks.holder() is None


def test_a_cycle_that_dies_of_an_exception_reports_it_and_frees_the_fleet(files, monkeypatch):
    def scanner_died(*a, **k):
        raise RuntimeError("scanner died")

    monkeypatch.setattr(flows.patch_cycle, "drift_report", scanner_died)
    inv, pol = files[1], files[3]
    with pytest.raises(RuntimeError, match="scanner died"):
        flows.patch_cycle.patch_cycle(inv, pol, cycle_id="dies-1", enforce_windows=False)
    state = CycleState.load("dies-1")
    assert state.result == "interrupted: RuntimeError: scanner died" and state.failed
    assert locks.holder() is None and state.lock is None
    assert "INTERRUPTED" in open(state.report or "", encoding="utf-8").read()


def test_a_deferred_cycle_is_superseded_by_a_newer_one(files):
    old = CycleState.new("old-1")
    old.finish("1 cluster(s) deferred by their maintenance window: pg-orders: waiting")
    old.deferred = ["pg-orders"]
    old.save()
    CycleState.new("new-1").save()  # running: no result yet
    assert locks.acquire("new-1", lambda cycle: CycleState.load(cycle).result is not None) is None
    run = flows.patch_cycle.patch_cycle(
        files[1], files[3], phase="waves", cycle_id="old-1", enforce_windows=False, return_state=True
    )
    assert run.name == "Skipped" and run.message.startswith("skipped: superseded by cycle new-1")
    assert CycleState.load("old-1").deferred == [] and locks.holder().cycle_id == "new-1"
