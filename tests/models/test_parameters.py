"""Parameters are checked before any flow starts: ``--targets``, cycle ids (a name, never a path), dates,
error budgets. Through the CLI (one line, exit 2, the flow never called) and through a flow run."""

from __future__ import annotations

import json

import pytest

import flows.drift
import flows.patch_cycle
import flows.patch_wave
import flows.scan
from cli.main import main
from dbpatch.errors import ConfigError
from tasks.cycle import CycleState
from tests.models.corpus import INVENTORY, POLICY


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.setenv("DBPATCH_HOME", str(tmp_path / "home"))
    (tmp_path / "inventory.yaml").write_text(INVENTORY)
    (tmp_path / "policy.yaml").write_text(POLICY)
    return ["--inventory", str(tmp_path / "inventory.yaml"), "--policy", str(tmp_path / "policy.yaml")]


@pytest.fixture
def no_flows(monkeypatch):
    """Every flow the commands could start; a test fails if one is called."""
    called: list[str] = []
    for module, name in (
        (flows.scan, "inventory_scan"),
        (flows.drift, "drift_report"),
        (flows.patch_wave, "patch_wave"),
        (flows.patch_cycle, "patch_cycle"),
    ):
        monkeypatch.setattr(module, name, lambda *a, _n=name, **k: called.append(_n))
    return called


def run(argv: list[str], capsys) -> tuple[int, list[str]]:
    rc = main(argv)
    return rc, capsys.readouterr().err.splitlines()


CLI_CASES = {
    "scan unknown target": (
        ["scan", "--targets", "pg-orders-1", "pg-nope"],
        "parameters: targets: unknown target or cluster: pg-nope",
    ),
    "report unknown cluster": (
        ["report", "--targets", "pg-order"],
        "parameters: targets: unknown target or cluster: pg-order",
    ),
    "report empty targets": (
        ["report", "--targets"],
        "parameters: targets: name at least one target or cluster (omit --targets for all)",
    ),
    "patch unknown target": (
        ["patch", "--dry-run", "--targets", "../etc"],
        "parameters: targets: unknown target or cluster: ../etc",
    ),
    "patch empty targets": (
        ["patch", "--targets"],
        "parameters: targets: name at least one target or cluster (omit --targets for all)",
    ),
    "patch bad date": (
        ["patch", "--on", "2026-13-01"],
        "parameters: on: '2026-13-01' is not a calendar date",
    ),
    "patch epoch date": (["patch", "--on", "1799999999"], "parameters: on: must be a date (YYYY-MM-DD)"),
    "patch error budget over 100%": (
        ["patch", "--max-errors", "101%"],
        "parameters: max_errors: '101%': a percentage must be 0..100",
    ),
    "patch version with newline": (["patch", "--version", "15.20\n"], "parameters: version: …"),
    "cycle id is a path": (
        ["cycle", "--phase", "waves", "--cycle-id", "../../x/EVIL"],
        "parameters: cycle_id: '../../x/EVIL' is not a valid cycle id (letters, digits, . _ -; no '/')",
    ),
    "cycle id is absolute": (
        ["cycle", "--cycle-id", "/tmp/EVIL"],
        "parameters: cycle_id: '/tmp/EVIL' is not a valid cycle id (letters, digits, . _ -; no '/')",
    ),
    "cycle id dot-dot": (
        ["cycle", "--phase", "waves", "--cycle-id", ".."],
        "parameters: cycle_id: '..' is not a valid cycle id (letters, digits, . _ -; no '/')",
    ),
    "unknown cycle": (
        ["cycle", "--phase", "waves", "--cycle-id", "2026-12-19-abc123"],
        "parameters: cycle_id: no cycle '2026-12-19-abc123' in …",
    ),
    "waves without a cycle id": (
        ["cycle", "--phase", "waves"],
        "parameters: cycle_id: required with --phase waves",
    ),
}


@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_bad_parameters_are_one_line_and_exit_2_before_any_flow(files, no_flows, capsys, tmp_path, case):
    argv, expected = CLI_CASES[case]
    needs_policy = argv[0] != "scan"
    rc, err = run([*argv, *(files if needs_policy else files[:2])], capsys)
    assert rc == 2 and no_flows == []
    assert len(err) == 1, err
    if expected.endswith("…"):
        assert err[0].startswith(expected[:-1])
    else:
        assert err[0] == expected
    assert not (tmp_path / "x").exists() and not (tmp_path.parent / "x").exists()


def test_good_targets_reach_the_flow(files, no_flows, capsys, monkeypatch):
    monkeypatch.setattr(flows.scan, "inventory_scan", lambda *a, **k: no_flows.append("inventory_scan") or [])
    assert main(["scan", "--targets", "pg-orders", *files[:2]]) == 0
    assert no_flows == ["inventory_scan"]


@pytest.mark.parametrize(
    "bad", ["../../x/EVIL", "/etc/passwd", "a/b", "..", ".hidden", "", "x\n", "x" * 65, "é"]
)
def test_the_state_code_refuses_an_id_that_is_not_a_name(bad, tmp_path, monkeypatch):
    monkeypatch.setenv("DBPATCH_HOME", str(tmp_path))
    for attempt in (CycleState.path, CycleState.new, CycleState.load):
        with pytest.raises(ConfigError, match="parameters: cycle_id: .* is not a valid cycle id"):
            attempt(bad)
    assert list(tmp_path.rglob("*")) == []


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "[]",
        '{"cycle_id": "c1", "surprise": 1}',
        '{"cycle_id": "other", "started": "2026-12-01T00:00:00"}',
        '{"cycle_id": "c1", "started": "yesterday"}',
        "\xff\xfe",
    ],
)
def test_a_crafted_state_file_is_a_config_error(content, tmp_path, monkeypatch):
    monkeypatch.setenv("DBPATCH_HOME", str(tmp_path))
    path = CycleState.path("c1")
    path.parent.mkdir(parents=True)
    path.write_bytes(content.encode("latin-1"))
    with pytest.raises(ConfigError, match="not a valid cycle state"):
        CycleState.load("c1")


def test_a_saved_state_loads_back(tmp_path, monkeypatch):
    monkeypatch.setenv("DBPATCH_HOME", str(tmp_path))
    state = CycleState.new("2026-12-19-abc123")
    state.todo = ["pg-orders"]
    state.save()
    assert CycleState.load("2026-12-19-abc123").to_dict() == json.loads(json.dumps(state.to_dict()))


@pytest.mark.parametrize("phase", ["start", "waves"])
def test_a_flow_run_with_a_path_as_cycle_id_is_refused_before_anything(files, tmp_path, phase):
    """The deployment path: a UI parameter reaches the flow without the CLI's checks."""
    from flows.patch_cycle import patch_cycle

    with pytest.raises(ConfigError, match="is not a valid cycle id"):
        patch_cycle(files[1], files[3], phase=phase, cycle_id="../../x/EVIL", enforce_windows=False)
    assert not (tmp_path / "home").exists() or not list((tmp_path / "home").rglob("*.json"))
    assert not (tmp_path / "x").exists()


def test_a_flow_run_with_an_unknown_target_is_refused_before_anything(files):
    from flows.scan import inventory_scan

    with pytest.raises(ConfigError, match="unknown target or cluster: pg-nope"):
        inventory_scan(files[1], targets=["pg-nope"])
