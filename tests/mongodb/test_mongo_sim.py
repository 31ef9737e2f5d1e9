"""The simulator through real pymongo: facts, faults that make each pre-check fail, stepDown, stop/install/start."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pymongo
import pytest
from pymongo import errors

from dbpatch.errors import CommandFailed, TargetUnreachable
from dbpatch.models import Thresholds
from tasks.mongodb import checks
from tasks.mongodb.client import MongoCommandError, connect
from tasks.mongodb.facts import MemberState, read_facts
from tasks.mongodb.packages import LabMongo
from tests.mongodb.helpers import TIMEOUT, MongoLab, wait_for


def _node(lab: MongoLab, index: int):
    t = lab.targets[index]
    return connect(t.name, t.host, t.port, timeout=TIMEOUT)


def test_facts_report_version_states_fcv_lag_and_oplog(mongo_lab: MongoLab) -> None:
    facts = mongo_lab.facts()
    assert [f.version for f in facts] == ["7.0.12"] * 3
    assert [f.state for f in facts] == [MemberState.PRIMARY, MemberState.SECONDARY, MemberState.SECONDARY]
    assert {f.set_name for f in facts} == {"rs-test"}
    assert {f.fcv for f in facts} == {"7.0"}
    assert facts[0].me == f"127.0.0.1:{mongo_lab.targets[0].port}"
    assert [m.lag_seconds for m in facts[0].members] == [0.0, 0.0, 0.0]
    assert facts[1].members[1].sync_source == facts[0].me
    assert facts[0].oplog_window_hours == pytest.approx(48.0, abs=0.01)
    results = checks.run_prechecks(facts, Thresholds(), expected_patch_hours=2)
    assert [r.name for r in results if not r.ok] == []
    assert len(results) == 8


def test_replica_set_client_discovers_the_set_and_writes(mongo_lab: MongoLab) -> None:
    with pymongo.MongoClient(mongo_lab.sim.uri, serverSelectionTimeoutMS=3000) as client:
        client.test.smoke.insert_one({"x": 1})
        assert client.test.smoke.find_one({"x": 1})["x"] == 1
        assert client.primary == ("127.0.0.1", mongo_lab.targets[0].port)
        assert len(client.secondaries) == 2
        assert client.admin.command("hello")["maxWireVersion"] == 21


def test_recovering_member_fails_the_state_check(mongo_lab: MongoLab) -> None:
    mongo_lab.ctl("fault", "recovering", str(mongo_lab.targets[2].port))
    facts = mongo_lab.facts()
    assert facts[2].state is MemberState.RECOVERING
    result = checks.check_member_states(facts)
    assert not result.ok
    assert f"127.0.0.1:{mongo_lab.targets[2].port} is RECOVERING" in result.sentence
    mongo_lab.ctl("fault", "clear")
    assert checks.check_member_states(mongo_lab.facts()).ok


def test_lag_above_threshold_fails_the_lag_check(mongo_lab: MongoLab) -> None:
    mongo_lab.ctl("fault", "lag", str(mongo_lab.targets[1].port), "--value", "30")
    result = checks.check_lag(mongo_lab.facts(), Thresholds().max_lag_seconds)
    assert not result.ok
    assert 29 <= result.measured <= 31
    assert result.threshold == 10.0
    assert checks.check_lag(mongo_lab.facts(), 60).ok


def test_fcv_mismatch_fails_the_fcv_check(mongo_lab: MongoLab) -> None:
    mongo_lab.ctl("fault", "fcv-mismatch")
    result = checks.check_fcv(mongo_lab.facts())
    assert (result.ok, result.measured, result.threshold) == (False, "6.0", "7.0")
    assert "setFeatureCompatibilityVersion" in result.sentence


def test_initial_sync_fails_the_initial_sync_check(mongo_lab: MongoLab) -> None:
    mongo_lab.ctl("fault", "initial-sync", str(mongo_lab.targets[2].port))
    facts = mongo_lab.facts()
    assert facts[2].initial_sync and facts[2].state is MemberState.STARTUP2
    assert facts[2].oplog_window_hours is None
    result = checks.check_no_initial_sync(facts)
    assert not result.ok and result.measured == facts[2].me
    assert not checks.check_member_states(facts).ok


def test_short_oplog_window_fails_the_oplog_check(mongo_lab: MongoLab) -> None:
    mongo_lab.ctl("fault", "oplog-window", str(mongo_lab.targets[1].port), "--value", "0.5")
    result = checks.check_oplog_window(mongo_lab.facts(), expected_patch_hours=1.0)
    assert not result.ok and result.measured == pytest.approx(0.5, abs=0.01)


def test_stepdown_refused_without_an_electable_secondary(mongo_lab: MongoLab) -> None:
    mongo_lab.ctl("fault", "no-electable")
    assert not checks.check_electable_secondary(mongo_lab.facts()).ok
    with _node(mongo_lab, 0) as node, pytest.raises(MongoCommandError) as caught:
        node.command({"replSetStepDown": 60, "secondaryCatchUpPeriodSecs": 5})
    assert caught.value.code == 262 and "No electable secondaries caught up" in str(caught.value)
    time.sleep(0.5)  # longer than an election would take
    assert mongo_lab.node(0).state is MemberState.PRIMARY
    assert checks.check_single_primary(mongo_lab.facts()).ok


def test_stepdown_elects_a_caught_up_secondary(mongo_lab: MongoLab) -> None:
    with _node(mongo_lab, 0) as node:
        assert node.command({"replSetStepDown": 60, "secondaryCatchUpPeriodSecs": 10})["ok"] == 1.0
        assert node.command("hello")["secondary"] is True
        with pytest.raises(MongoCommandError) as caught:
            node.insert_one("test", "smoke", {"x": 1})
    assert caught.value.code == 10107 and caught.value.code_name == "NotWritablePrimary"
    new = wait_for(mongo_lab.primary_index, "a new primary")
    assert new in (1, 2)
    facts = mongo_lab.facts()
    assert checks.check_single_primary(facts).ok
    assert facts[0].state is MemberState.SECONDARY
    with _node(mongo_lab, new) as node:
        node.insert_one("test", "smoke", {"x": 2})


def test_stopped_member_is_unreachable(mongo_lab: MongoLab) -> None:
    source = LabMongo(mongo_lab.targets[2])
    assert "simulated" in source.stop("7.0")[0].description
    mongo_lab.run(source.stop("7.0"))
    with pytest.raises(TargetUnreachable) as caught:
        read_facts(mongo_lab.targets[2], timeout=TIMEOUT)
    assert caught.value.reason == "connection refused"
    assert str(caught.value) == "mongo-test-3: unreachable: connection refused"
    assert mongo_lab.run([source.status()], check=False)[0].returncode == 3
    view = mongo_lab.node(0).members[2]
    assert (view.state, view.health, view.lag_seconds) == (MemberState.DOWN, False, None)


def test_shutdown_command_stops_the_member(mongo_lab: MongoLab) -> None:
    with _node(mongo_lab, 1) as node:
        assert node.command("shutdown", expect_disconnect=True)["ok"] == 1.0
    with pytest.raises(TargetUnreachable):
        mongo_lab.node(1)


def test_install_refused_while_running_then_restart_catches_up(mongo_lab: MongoLab) -> None:
    source = LabMongo(mongo_lab.targets[2])
    with pytest.raises(CommandFailed) as caught:
        mongo_lab.run(source.install("7.0", "7.0.14"))
    assert "while it is running" in caught.value.stderr
    mongo_lab.run(source.stop("7.0"))
    time.sleep(1.2)  # the set moves on while the member is down
    mongo_lab.run(source.install("7.0", "7.0.14"))
    mongo_lab.run(source.start("7.0"))
    starting = mongo_lab.node(2)
    assert starting.version == "7.0.14" and starting.state is MemberState.STARTUP2
    behind = mongo_lab.node(0).members[2]
    assert behind.state is MemberState.STARTUP2 and behind.lag_seconds >= 1
    wait_for(lambda: mongo_lab.node(2).state is MemberState.SECONDARY, "SECONDARY after STARTUP2")
    wait_for(lambda: mongo_lab.node(0).members[2].lag_seconds == 0, "the restarted member to catch up")
    assert checks.check_lag(mongo_lab.facts(), 1).ok


def test_member_that_never_catches_up_fails_the_lag_check(mongo_lab: MongoLab) -> None:
    port = str(mongo_lab.targets[1].port)
    mongo_lab.ctl("fault", "never-catches-up", port)
    mongo_lab.ctl("stop", port)
    mongo_lab.ctl("start", port)
    wait_for(lambda: mongo_lab.node(1).state is MemberState.SECONDARY, "SECONDARY after STARTUP2")
    time.sleep(1.1)
    result = checks.check_lag(mongo_lab.facts(), 0.5)
    assert not result.ok and result.measured >= 1


def test_fcv_upgrade_rules(mongo_lab: MongoLab) -> None:
    def set_fcv(doc: dict) -> None:
        with _node(mongo_lab, 0) as node:
            node.command(doc)

    with pytest.raises(MongoCommandError, match="binary|expected one of"):
        set_fcv({"setFeatureCompatibilityVersion": "8.0", "confirm": True})  # 7.0 binaries
    for i in (2, 1):
        port = str(mongo_lab.targets[i].port)
        mongo_lab.ctl("stop", port)
        mongo_lab.ctl("install", "8.0.4", port)
        mongo_lab.ctl("start", port)
    wait_for(
        lambda: all(f.state is MemberState.SECONDARY for f in mongo_lab.facts()[1:]), "upgraded secondaries"
    )
    assert not checks.check_fcv(mongo_lab.facts()).ok  # mixed binaries
    with _node(mongo_lab, 0) as node:
        node.command({"replSetStepDown": 60, "secondaryCatchUpPeriodSecs": 10})
    new = wait_for(mongo_lab.primary_index, "a primary on 8.0")
    with _node(mongo_lab, new) as node:
        with pytest.raises(MongoCommandError) as caught:
            node.command({"setFeatureCompatibilityVersion": "8.0"})
        assert "confirm: true" in str(caught.value)
        with pytest.raises(MongoCommandError) as caught:
            node.command({"setFeatureCompatibilityVersion": "8.0", "confirm": True})
        assert "runs mongod 7.0.12" in str(caught.value)  # member 0 is still on 7.0
    port = str(mongo_lab.targets[0].port)
    mongo_lab.ctl("stop", port)
    mongo_lab.ctl("install", "8.0.4", port)
    mongo_lab.ctl("start", port)
    with _node(mongo_lab, new) as node:
        node.command({"setFeatureCompatibilityVersion": "8.0", "confirm": True})
    assert {f.fcv for f in mongo_lab.facts()} == {"8.0"}
    mongo_lab.ctl("stop", port)
    mongo_lab.ctl("install", "7.0.14", port)
    refused = mongo_lab.ctl("start", port, check=False)
    assert refused.returncode == 1 and "featureCompatibilityVersion 8.0 is not supported" in refused.stderr


def test_ctl_versions_status_and_lab_available_versions(mongo_lab: MongoLab) -> None:
    versions = LabMongo(mongo_lab.targets[0]).available_versions(mongo_lab.transport, "7.0")
    assert versions[0] == "7.0.0" and versions[-1] == "7.0.40" and "7.0.33" not in versions
    status = json.loads(mongo_lab.ctl("status", "--json").stdout)
    assert [s["state"] for s in status] == ["PRIMARY", "SECONDARY", "SECONDARY"]
    assert "(simulated)" in mongo_lab.ctl("status").stdout


def test_serve_and_ctl_as_processes(tmp_path_factory: pytest.TempPathFactory) -> None:
    state = tmp_path_factory.mktemp("srv")
    cmd = [sys.executable, "-m", "lab.mongosim", "serve", "--state", str(state), "--set-name", "mongo-catalog",
           "--members", "3", "--version", "7.0.12", "--base-port", "0", "--startup-seconds", "0.2"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # noqa: S603
    try:
        topology = wait_for(lambda: (state / "topology.json").exists(), "topology.json", timeout=15)
        topology = json.loads((state / "topology.json").read_text())
        assert topology["simulated"] is True and len(topology["members"]) == 3
        port = topology["members"][1]["port"]
        ctl = [sys.executable, "-m", "lab.mongosim", "ctl", "--state", str(state)]
        out = subprocess.run([*ctl, "status", str(port)], capture_output=True, text=True, check=True)  # noqa: S603
        assert "SECONDARY" in out.stdout and "simulated" in out.stdout
        with pymongo.MongoClient(
            "127.0.0.1", port, directConnection=True, serverSelectionTimeoutMS=2000
        ) as c:
            assert c.admin.command("replSetGetStatus")["set"] == "mongo-catalog"
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
    assert not (state / "ctl.sock").exists()
    gone = subprocess.run([*ctl, "status"], capture_output=True, text=True)  # noqa: S603
    assert gone.returncode == 4


def test_pymongo_errors_are_translated(mongo_lab: MongoLab, monkeypatch: pytest.MonkeyPatch) -> None:
    """The client module is the one name to patch: a driver error surfaces as TargetUnreachable."""
    from tasks.mongodb import client

    def refuse(*args, **kwargs):
        raise errors.ServerSelectionTimeoutError("127.0.0.1:1: [Errno 111] Connection refused")

    monkeypatch.setattr(client.pymongo, "MongoClient", refuse)
    with pytest.raises(TargetUnreachable, match="connection refused"):
        mongo_lab.node(0)
