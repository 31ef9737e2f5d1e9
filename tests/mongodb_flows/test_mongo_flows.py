"""The flows on the lab's simulated replica set: patch_wave (rolling minor, major step), raise_fcv, scan, drift, and
the lab itself. Everything runs under the Prefect test harness, through real pymongo and ``mongosim ctl``."""

from __future__ import annotations

import argparse
import datetime as dt
import json

import pymongo
import pytest

from cli.main import main
from flows.patch_wave import WaveParameters, patch_wave
from lab.lab import Lab
from tasks.mongodb import rollstate
from tasks.mongodb.fcv import FcvOutcome
from tasks.patching import Outcome, StepStatus

ON = dt.date(2026, 11, 24)  # the lab policy approves 7.0.40 (and, in these tests, 8.0.29) on this day
MEMBERS = ["mongo-catalog-1", "mongo-catalog-2", "mongo-catalog-3"]


def params(lab: Lab, **kw) -> WaveParameters:
    return WaveParameters(
        inventory_path=str(lab.inventory_path), policy_path=str(lab.policy_path), on=ON, **kw
    )


def members(lab: Lab) -> list[dict]:
    """What the simulated hosts report (``ctl status``): version, state, fcv per member."""
    assert lab.mongo
    from lab.mongosim import request

    return request(lab.mongo.state_dir, {"cmd": "status"})["data"]


def versions(lab: Lab) -> list[str]:
    return [m["version"] for m in members(lab)]


def test_rolling_patch_through_patch_wave(mongo_lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["patch", "--inventory", str(mongo_lab.inventory_path), "--policy", str(mongo_lab.policy_path),
                 "--dry-run", "--on", ON.isoformat()]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert (
        "mongo-catalog (mongodb, simulated, rolling → 7.0.40): would patch mongo-catalog-2, mongo-catalog-3"
        in out
    )
    assert "replSetStepDown" in out and f"ctl --state {mongo_lab.mongo.state_dir} install 7.0.40" in out
    assert versions(mongo_lab) == ["7.0.12"] * 3  # the dry run changed nothing

    result = patch_wave(params(mongo_lab))
    (run,) = result.runs
    assert run.outcome is Outcome.PATCHED, run.sentence
    assert run.simulated and run.engine == "mongodb"
    assert run.before == dict.fromkeys(MEMBERS, "7.0.12") and run.after == dict.fromkeys(MEMBERS, "7.0.40")
    assert versions(mongo_lab) == ["7.0.40"] * 3
    assert [m["state"] for m in members(mongo_lab)].count("PRIMARY") == 1
    assert members(mongo_lab)[0]["state"] == "SECONDARY"  # the old primary stepped down and was patched last
    assert [s.step.action for s in run.steps][10:12] == ["step-down", "wait-primary"]
    assert all(s.status is StepStatus.OK and s.ended >= s.started for s in run.steps)
    post = {c.name: c for c in run.checks if c.phase == "post"}
    assert all(c.ok for c in post.values()), [c.sentence for c in post.values() if not c.ok]
    assert {"version", "single_primary", "member_states", "lag", "fcv", "smoke_write"} <= set(post)
    assert post["fcv"].measured == "7.0"
    clusters = result.files["clusters"].read_text()
    assert "mongo-catalog" in clusters and ",True," in clusters  # the report's simulated column
    assert "mongo-catalog (simulated)" in result.report.read_text()

    (again,) = patch_wave(params(mongo_lab)).runs
    assert again.outcome is Outcome.NOOP and again.sentence == "already at 7.0.40 and healthy"


def test_major_step_holds_fcv_then_raise_fcv_after_the_burn_in(mongo_lab: Lab, capsys) -> None:
    from flows.mongodb_fcv import raise_fcv

    (run,) = patch_wave(params(mongo_lab, version="8.0.29")).runs
    assert run.outcome is Outcome.PATCHED, run.sentence
    assert "FCV 7.0 held" in run.sentence
    assert versions(mongo_lab) == ["8.0.29"] * 3 and {m["fcv"] for m in members(mongo_lab)} == {"7.0"}
    fcv = next(c for c in run.checks if c.phase == "post" and c.name == "fcv")
    assert (fcv.ok, fcv.measured) == (True, "7.0")
    record = rollstate.load("mongo-catalog")
    assert record and record.series == "8.0" and record.fcv_held == "7.0"

    early = record.rolled_at + dt.timedelta(hours=2)
    refused = raise_fcv(str(mongo_lab.inventory_path), "mongo-catalog", now=early)
    assert refused.outcome is FcvOutcome.REFUSED and refused.simulated
    assert [c.name for c in refused.checks if not c.ok] == ["burn_in"]
    assert {m["fcv"] for m in members(mongo_lab)} == {"7.0"}

    code = _cli(
        [
            "raise-fcv",
            "mongo-catalog",
            "--inventory",
            str(mongo_lab.inventory_path),
            "--now",
            early.isoformat(),
        ]
    )
    out = capsys.readouterr().out
    assert code == 1 and "mongo-catalog (simulated)" in out and "refused" in out

    done = raise_fcv(
        str(mongo_lab.inventory_path), "mongo-catalog", now=record.rolled_at + dt.timedelta(hours=168)
    )
    assert done.outcome is FcvOutcome.RAISED, done.sentence
    assert {m["fcv"] for m in members(mongo_lab)} == {"8.0"}
    with pymongo.MongoClient("127.0.0.1", mongo_lab.mongo.ports[1], directConnection=True,
                             serverSelectionTimeoutMS=3000) as client:  # fmt: skip
        doc = client.admin.command({"getParameter": 1, "featureCompatibilityVersion": 1})
    assert doc["featureCompatibilityVersion"]["version"] == "8.0"


def _cli(argv: list[str]) -> int:
    """``dbpatch mongodb …`` through ``cli_mongodb.register`` (the lead hooks it into cli/main.py)."""
    from cli.mongodb import register

    parser = argparse.ArgumentParser(prog="dbpatch")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["mongodb", *argv])
    return args.func(args)


def test_scan_and_drift_show_the_simulated_set(mongo_lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    from flows.drift import drift_report
    from flows.scan import inventory_scan

    facts = {f.target: f for f in inventory_scan(str(mongo_lab.inventory_path))}
    assert set(facts) == set(MEMBERS)
    assert [facts[m].role.value for m in MEMBERS] == ["primary", "secondary", "secondary"]
    one = facts["mongo-catalog-2"]
    assert one.simulated and one.reachable and one.version == "7.0.12" and one.lag_seconds is not None
    assert (one.extra["fcv"], one.extra["set_name"], one.extra["member_state"]) == (
        "7.0",
        "mongo-catalog",
        "SECONDARY",
    )
    assert one.extra["oplog_window_hours"] > 0

    result = drift_report(str(mongo_lab.inventory_path), str(mongo_lab.policy_path), on=ON)
    rows = {r["target"]: r for r in result.rows}
    assert rows["mongo-catalog-1"]["simulated"] and rows["mongo-catalog-1"]["approved"] == "7.0.40"
    assert result.non_compliant == 3

    assert main(["scan", "--inventory", str(mongo_lab.inventory_path)]) == 0
    assert "mongo-catalog-1 (simulated)" in capsys.readouterr().out
    assert main(["report", "--inventory", str(mongo_lab.inventory_path), "--policy", str(mongo_lab.policy_path),
                 "--on", ON.isoformat()]) == 0  # fmt: skip
    assert "mongo-catalog-3 (simulated)" in capsys.readouterr().out


def test_lab_up_reuses_the_simulator_and_down_stops_it(mongo_lab: Lab) -> None:
    assert mongo_lab.mongo
    pid = mongo_lab.mongo.pid()
    assert pid is not None
    mongo_lab.up()  # idempotent: the running simulator is reused
    assert mongo_lab.mongo.pid() == pid
    rows = [r for r in mongo_lab.status() if r.get("simulated")]
    assert [r["node"] for r in rows] == [f"{m} (simulated)" for m in MEMBERS]
    assert all(r["running"] and r["installed"] == "7.0.12" for r in rows)
    inventory = {t["name"]: t for t in mongo_lab.inventory()["targets"]}
    assert inventory["mongo-catalog-1"]["tags"] == ["lab", "simulated"]
    assert inventory["mongo-catalog-1"]["port"] == mongo_lab.base_port + 10
    assert json.loads((mongo_lab.mongo.state_dir / "topology.json").read_text())["simulated"] is True

    mongo_lab.down()
    assert mongo_lab.mongo.pid() is None and not (mongo_lab.mongo.state_dir / "ctl.sock").exists()
    assert [r["running"] for r in mongo_lab.status()] == [False] * 3
    mongo_lab.up()  # started again, with what was installed
    assert mongo_lab.mongo.pid() not in (None, pid)
    assert [r["running"] for r in mongo_lab.status()] == [True] * 3


def test_postgres_only_labs_leave_mongo_out(tmp_path) -> None:
    assert Lab(root=tmp_path, topology=()).mongo is None
    assert Lab(root=tmp_path).mongo is not None  # the default lab includes the simulated set
