"""patch_cycle on real lab servers: canary, bake, health re-check, waves, approvals, windows, notifications."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import time
import uuid
from zoneinfo import ZoneInfo

import pytest
import yaml

from dbpatch import locks
from dbpatch.models import Engine
from flows.patch_cycle import CycleNotApproved, patch_cycle, schedule_waves
from flows.patch_wave import WaveParameters, patch_wave
from lab.lab import NodeSpec
from tasks.catalog import load_catalog
from tasks.cycle import CycleState
from tasks.patching import Outcome
from tasks.schedule.windows import record_duration

FLEET = (
    NodeSpec("cd", 0, "15.18", "dev"),
    NodeSpec("ct", 1, "15.18", "test"),
    NodeSpec("cp-1", 2, "15.18", "prod", cluster="cp"),
    NodeSpec("cp-2", 3, "15.18", "prod", cluster="cp", upstream="cp-1"),
)
BERLIN = ZoneInfo("Europe/Berlin")


def set_policy(lab, **waves) -> None:
    policy = yaml.safe_load(lab.policy_path.read_text())
    policy["waves"].update(waves)
    lab.policy_path.write_text(yaml.safe_dump(policy))


def outcomes(state) -> dict[tuple[str, str], str]:
    return {(r["wave"], r["cluster"]): r["outcome"] for r in state["rows"]}


@pytest.fixture
def hook_block(receiver) -> str:
    """The receiver's URL (it carries a token) in a Secret block: the only way a cycle gets a webhook."""
    from prefect.blocks.system import Secret

    name = f"test-hook-{uuid.uuid4().hex[:8]}"
    Secret(value=receiver.url).save(name)
    return name


def final_state_is_not_completed(state) -> bool:
    return state is not None and state.is_final() and not state.is_completed()


def prefect_database_dump() -> str:
    """Every flow run's parameters, every artifact and every log line the Prefect API holds, as one text."""
    from prefect import get_client

    async def dump():
        async with get_client() as client:
            runs = await client.read_flow_runs(limit=200)
            artifacts = await client.read_artifacts(limit=200)
            logs = await client.read_logs(limit=200)
            return json.dumps(
                {
                    "parameters": [r.parameters for r in runs],
                    "artifacts": [a.data for a in artifacts],
                    "logs": [entry.message for entry in logs],
                },
                default=str,
            )

    return asyncio.run(dump())


def test_full_cycle_canary_bake_health_waves(make_lab, receiver, hook_block):
    lab = make_lab(FLEET)
    state = patch_cycle(
        str(lab.inventory_path),
        str(lab.policy_path),
        bake_hours=2 / 3600,
        max_inline_bake_seconds=30,
        enforce_windows=False,
        webhook_block=hook_block,
        write_probe=True,
    )
    assert state["result"] == "cycle complete" and not state["failed"]
    # downtime per cluster, measured by the write probe; the lock is free again
    assert all(isinstance(r["max_write_gap_s"], int | float) and r["lost_writes"] == 0 for r in state["rows"])
    assert locks.holder() is None and state["lock"] is None
    # the webhook's token reached the receiver, and never the Prefect database
    assert receiver.bodies and "secret-path-token" in receiver.url
    dump = prefect_database_dump()
    assert hook_block in dump and "secret-path-token" not in dump
    assert state["canary"] == ["cd"]  # lowest environment
    assert outcomes(state) == {
        ("canary", "cd"): "patched",
        ("test", "ct"): "patched",
        ("prod", "cp"): "patched",
    }
    assert all(h["ok"] for h in state["health"]) and {h["check"] for h in state["health"]} >= {
        "version",
        "one_primary",
    }
    baked = dt.datetime.fromisoformat(state["bake_until"]) - dt.datetime.fromisoformat(
        state["canary_finished"]
    )
    assert baked == dt.timedelta(seconds=2)
    for node in ("cd", "ct", "cp-1", "cp-2"):
        assert lab.node(node).installed_version() == "15.20"
    events = [b["event"] for b in receiver.bodies]
    assert events == ["cycle_started", "canary_result", "wave_result", "wave_result"]
    assert receiver.bodies[1]["payload"]["ok"] is True
    assert load_catalog().canary_validated(Engine.POSTGRESQL, "15.20") is not None
    # run again: nothing left to patch
    again = patch_cycle(str(lab.inventory_path), str(lab.policy_path), enforce_windows=False)
    assert again["result"] == "nothing to patch: every cluster is at its approved version"


def test_unhealthy_canary_stops_the_cycle(make_lab, receiver, hook_block):
    lab = make_lab(FLEET)
    started = patch_cycle(
        str(lab.inventory_path),
        str(lab.policy_path),
        bake_hours=1 / 3600,
        enforce_windows=False,
        webhook_block=hook_block,
    )
    assert started["result"] is None and started["canary"] == ["cd"]  # baking; waves not run yet
    # one cycle at a time: a second start during the bake is refused, and changes nothing
    with pytest.raises(locks.CycleLocked, match=f"cycle {started['cycle_id']} .* has not finished"):
        patch_cycle(str(lab.inventory_path), str(lab.policy_path), bake_hours=0, enforce_windows=False)
    assert locks.holder().cycle_id == started["cycle_id"]
    lab.node("cd").stop()  # the canary dies during the bake
    time.sleep(1.2)
    state = patch_cycle(
        str(lab.inventory_path),
        str(lab.policy_path),
        phase="waves",
        cycle_id=started["cycle_id"],
        enforce_windows=False,
        webhook_block=hook_block,
    )
    assert state["failed"] and state["result"].startswith("canary unhealthy after the bake: cd: unreachable")
    assert locks.holder() is None  # a finished cycle, failed or not, frees the fleet
    assert lab.node("ct").installed_version() == "15.18" and lab.node("cp-1").installed_version() == "15.18"
    assert [b["event"] for b in receiver.bodies][-1] == "failure"


def test_failed_canary_stops_before_any_wave(make_lab, broken_build):
    lab = make_lab(FLEET)
    policy = yaml.safe_load(lab.policy_path.read_text())
    policy["baselines"]["postgresql"]["15"]["approved"] = [broken_build]
    lab.policy_path.write_text(yaml.safe_dump(policy))
    state = patch_cycle(str(lab.inventory_path), str(lab.policy_path), bake_hours=0, enforce_windows=False)
    assert state["failed"] and state["result"].startswith("canary failed: cd: rolled_back")
    assert list(outcomes(state)) == [("canary", "cd")]
    assert lab.node("ct").installed_version() == "15.18"


def test_approval_timeout_skips_the_prod_wave_and_the_run_is_not_completed(make_lab):
    from prefect import get_client

    lab = make_lab(FLEET)
    set_policy(lab, approval_required=["prod"])
    cycle_id = f"timeout-{uuid.uuid4().hex[:6]}"
    with pytest.raises(CycleNotApproved, match="without approval for prod") as raised:
        patch_cycle(
            str(lab.inventory_path),
            str(lab.policy_path),
            cycle_id=cycle_id,
            bake_hours=0,
            enforce_windows=False,
            approval_timeout_seconds=2,
        )
    state = raised.value.state
    assert state == CycleState.load(cycle_id).to_dict()

    async def final_state():
        async with get_client() as client:
            return (await client.read_flow_run(uuid.UUID(state["flow_runs"][0]))).state

    assert final_state_is_not_completed(asyncio.run(final_state()))
    assert outcomes(state)[("prod", "cp")] == "skipped"
    assert "approval timed out after 2s" in next(r["detail"] for r in state["rows"] if r["wave"] == "prod")
    assert outcomes(state)[("test", "ct")] == "patched"
    assert state["result"].startswith("cycle ended without approval for prod: approval timed out after 2s")
    assert state["approvals"]["prod"]["approved"] is False and state["approvals"]["prod"]["at"]
    assert lab.node("cp-1").installed_version() == "15.18"
    assert locks.holder() is None


def test_canary_from_prod_waits_for_approval_and_a_refusal_fails_the_run(make_lab):
    """Only prod is behind and prod needs approval: the canary is a prod cluster, so it waits for a person.
    While it waits, a second cycle is refused; the refusal (who, when, why) ends the run Failed."""
    from prefect import get_client
    from prefect.flow_runs import resume_flow_run

    lab = make_lab(FLEET[2:])
    set_policy(lab, approval_required=["prod"])
    inv, pol = str(lab.inventory_path), str(lab.policy_path)
    out: dict = {}
    thread = threading.Thread(
        target=lambda: out.update(
            run=patch_cycle(inv, pol, bake_hours=0, enforce_windows=False, return_state=True)
        )
    )
    thread.start()

    async def paused():
        async with get_client() as client:
            return [r for r in await client.read_flow_runs(limit=200) if r.state and r.state.is_paused()]

    deadline = time.monotonic() + 120
    while not (runs := asyncio.run(paused())) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert len(runs) == 1, "the canary did not wait for approval"
    assert lab.node("cp-1").installed_version() == "15.18"
    with pytest.raises(locks.CycleLocked):
        patch_cycle(inv, pol, bake_hours=0, enforce_windows=False)
    resume_flow_run(runs[0].id, run_input={"approve": False, "approver": "alice", "comment": "not tonight"})
    thread.join(120)
    run = out["run"]
    assert run.is_failed()
    state = run.result(raise_on_failure=False).state
    assert state["approvals"]["canary"]["approver"] == "alice"
    assert state["approvals"]["canary"]["comment"] == "refused: not tonight"
    assert state["result"].startswith(
        "canary not approved (prod needs approval): canary: refused: not tonight by alice"
    )
    assert outcomes(state) == {("canary", "cp"): "skipped"}
    assert lab.node("cp-1").installed_version() == "15.18" and lab.node("cp-2").installed_version() == "15.18"
    report = open(state["report"], encoding="utf-8").read()
    assert "alice" in report and "not tonight" in report and "<td>no</td>" in report


def test_canary_prefers_environments_that_need_no_approval():
    from dbpatch.models import Inventory, Policy
    from tasks.cycle import canary_clusters, gated_environments
    from tests.models.corpus import INVENTORY

    inventory = Inventory.model_validate(yaml.safe_load(INVENTORY))
    policy = Policy.model_validate({"waves": {"approval_required": ["prod"]}})
    # pg-orders is tagged canary but prod: mongo-cat (test) is the canary
    assert canary_clusters(inventory, policy, {"pg-orders", "mongo-cat"}) == ["mongo-cat"]
    assert canary_clusters(inventory, policy, {"pg-orders"}) == ["pg-orders"]
    assert gated_environments(inventory, policy, ["pg-orders"]) == ["prod"]
    assert gated_environments(inventory, policy, ["mongo-cat"]) == []


def test_windows_defer_clusters_that_cannot_start(make_lab):
    lab = make_lab(FLEET[:2])
    inv, pol = str(lab.inventory_path), str(lab.policy_path)
    # the lab window: 3rd Saturday 22:00 Europe/Berlin, 6 h, cutoff 1 h (2026-11-21 → 2026-11-22 04:00)
    tuesday = dt.datetime(2026, 11, 24, 12, 0, tzinfo=BERLIN)
    (run, _) = patch_wave(
        WaveParameters(inventory_path=inv, policy_path=pol, enforce_windows=True, now=tuesday)
    ).runs
    assert run.outcome is Outcome.DEFERRED and run.sentence.startswith("waiting: window lab-monthly opens")
    past_cutoff = dt.datetime(2026, 11, 22, 3, 10, tzinfo=BERLIN)
    (run, _) = patch_wave(
        WaveParameters(inventory_path=inv, policy_path=pol, enforce_windows=True, now=past_cutoff)
    ).runs
    assert run.outcome is Outcome.DEFERRED and "past the cutoff" in run.sentence
    blackout = dt.datetime(2026, 12, 19, 22, 30, tzinfo=BERLIN)  # year-end freeze 20 Dec – 5 Jan overlaps
    (run, _) = patch_wave(
        WaveParameters(inventory_path=inv, policy_path=pol, enforce_windows=True, now=blackout)
    ).runs
    assert run.outcome is Outcome.DEFERRED and "blackout: year-end freeze" in run.sentence
    for _ in range(3):
        record_duration("ct", 3 * 3600)  # earlier runs of ct took 3 h: it cannot fit before 04:00
    late = dt.datetime(2026, 11, 22, 1, 30, tzinfo=BERLIN)
    cd, ct = patch_wave(
        WaveParameters(inventory_path=inv, policy_path=pol, enforce_windows=True, now=late)
    ).runs
    assert ct.outcome is Outcome.DEFERRED and "would overrun the window end" in ct.sentence
    assert cd.outcome is Outcome.PATCHED  # 25 min estimate fits
    assert lab.node("ct").installed_version() == "15.18" and lab.node("cd").installed_version() == "15.20"


def test_the_bake_is_a_scheduled_flow_run_not_a_held_worker(prefect_harness):
    from prefect import get_client

    deployment_id = patch_cycle.to_deployment(name="monthly-patch-cycle").apply()
    assert deployment_id
    when = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=12)).replace(microsecond=0)
    params = {
        "inventory_path": "/srv/inv.yaml",
        "policy_path": "/srv/policy.yaml",
        "phase": "waves",
        "cycle_id": "c1",
    }
    run_id = schedule_waves("patch-cycle/monthly-patch-cycle", params, when)

    async def read():
        async with get_client() as client:
            return await client.read_flow_run(run_id)

    import asyncio

    run = asyncio.run(read())
    assert run.state.is_scheduled() and run.expected_start_time == when
    assert run.parameters["phase"] == "waves" and run.parameters["cycle_id"] == "c1"


def test_window_reminder_is_sent_once(prefect_harness, receiver, hook_block, tmp_path):
    from flows.reminders import window_reminders

    policy = tmp_path / "policy.yaml"
    policy.write_text(
        yaml.safe_dump(
            {
                "windows": [
                    {
                        "name": "prod",
                        "environments": ["prod"],
                        "start": "22:00",
                        "timezone": "Europe/Berlin",
                        "duration_hours": 6,
                    }
                ]
            }
        )
    )
    early = dt.datetime(2027, 1, 14, 12, 0, tzinfo=BERLIN)  # more than 24 h before
    assert window_reminders(str(policy), hook_block, hours_before=24, now=early) == []
    friday = dt.datetime(2027, 1, 15, 23, 0, tzinfo=BERLIN)  # window opens 2027-01-16 22:00
    assert window_reminders(str(policy), hook_block, hours_before=24, now=friday) == ["prod-20270116"]
    assert (
        window_reminders(str(policy), hook_block, hours_before=24, now=friday + dt.timedelta(hours=1)) == []
    )
    (body,) = receiver.bodies
    assert body["event"] == "window_reminder" and body["payload"]["start"] == "2027-01-16T22:00:00+01:00"


def test_deferred_clusters_resume_in_the_next_window(make_lab):
    lab = make_lab(FLEET[:2])
    for _ in range(3):
        record_duration("ct", 3 * 3600)  # ct's earlier runs took 3 h: 4.5 h estimate
    late = dt.datetime(2026, 11, 22, 1, 30, tzinfo=BERLIN)  # in the 2026-11-21 window, 2.5 h before it ends
    state = patch_cycle(str(lab.inventory_path), str(lab.policy_path), bake_hours=0, now=late)
    assert outcomes(state) == {("canary", "cd"): "patched", ("test", "ct"): "deferred"}
    assert state["result"].startswith("1 cluster(s) deferred by their maintenance window: ct:")
    assert state["deferred"] == ["ct"]
    assert (
        locks.holder() is None
    )  # only deferred clusters wait: a new cycle may start (and supersede this one)
    # 2026-12-19 is skipped by the year-end freeze: the next window is 2027-01-16 22:00 Berlin
    assert dt.datetime.fromisoformat(state["resume_at"]) == dt.datetime(2027, 1, 16, 22, 0, tzinfo=BERLIN)
    assert lab.node("ct").installed_version() == "15.18"
    resumed = patch_cycle(
        str(lab.inventory_path),
        str(lab.policy_path),
        phase="waves",
        cycle_id=state["cycle_id"],
        now=dt.datetime(2027, 1, 16, 22, 5, tzinfo=BERLIN),
    )
    assert resumed["result"] == "cycle complete" and resumed["deferred"] == []
    assert outcomes(resumed)[("test", "ct")] == "patched"
    assert lab.node("ct").installed_version() == "15.20"


def test_no_canary_means_no_bake_and_never_everything_at_once(make_lab):
    lab = make_lab(FLEET[:2])
    policy = yaml.safe_load(lab.policy_path.read_text())
    policy["canary"]["count"] = 0
    lab.policy_path.write_text(yaml.safe_dump(policy))
    state = patch_cycle(str(lab.inventory_path), str(lab.policy_path), enforce_windows=False)
    assert state["canary"] == [] and state["result"] == "cycle complete"
    assert [r["wave"] for r in state["rows"]] == ["dev", "test"]  # wave by wave, in order
