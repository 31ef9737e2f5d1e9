"""What the simulated replica set's outputs say: raise-fcv's exit code matches its checks, and the drift report
shows the set's health (a member down, a member lagging or recovering) with the reason."""

from __future__ import annotations

import argparse

import pytest

from lab.lab import Lab


def fault(lab: Lab, name: str, member: int, value: float | None = None) -> None:
    from lab.mongosim import request

    assert lab.mongo
    port = str(lab.mongo.ports[member])
    reply = request(lab.mongo.state_dir, {"cmd": "fault", "name": name, "member": port, "value": value})
    assert reply["ok"], reply


def stop(lab: Lab, member: int) -> None:
    from lab.mongosim import request

    assert lab.mongo
    assert request(lab.mongo.state_dir, {"cmd": "stop", "member": str(lab.mongo.ports[member])})["ok"]


def raise_fcv_cli(lab: Lab, *extra: str) -> int:
    from cli.mongodb import register

    parser = argparse.ArgumentParser(prog="dbpatch")
    register(parser.add_subparsers(dest="command", required=True))
    argv = ["mongodb", "raise-fcv", "mongo-catalog", "--inventory", str(lab.inventory_path), *extra]
    args = parser.parse_args(argv)
    return args.func(args)


def test_raise_fcv_exits_non_zero_when_a_check_fails(
    mongo_lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    # FCV already matches the binaries: nothing to raise, so no burn-in to check, and every shown check passed
    assert raise_fcv_cli(mongo_lab, "--dry-run") == 0
    out = capsys.readouterr().out
    assert "noop" in out and "FAIL" not in out and "burn_in" not in out
    # a member RECOVERING: the check fails, so the answer is refused and the exit status 1, even with nothing to do
    fault(mongo_lab, "recovering", 2)
    assert raise_fcv_cli(mongo_lab, "--dry-run") == 1
    out = capsys.readouterr().out
    assert "refused" in out and "noop" not in out
    assert "check FAIL member_states" in out and "is RECOVERING" in out


def test_drift_report_shows_the_simulated_sets_health(mongo_lab: Lab) -> None:
    from flows.drift import drift_report

    def health() -> tuple[str, str]:
        result = drift_report(str(mongo_lab.inventory_path), str(mongo_lab.policy_path))
        (value,) = {(r["health"], r["health_detail"]) for r in result.rows}
        return value

    status, detail = health()
    assert status == "healthy" and "all 3 members healthy" in detail
    fault(mongo_lab, "lag", 1, 120)
    status, detail = health()
    assert status == "unhealthy" and "is 120s behind the primary (limit 10s)" in detail
    stop(mongo_lab, 2)
    assert mongo_lab.mongo
    status, detail = health()
    assert status == "unhealthy" and "not healthy:" in detail and f":{mongo_lab.mongo.ports[2]} (" in detail
