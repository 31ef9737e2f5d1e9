"""Crash safety of the MongoDB rolling procedure (simulated replica set, real pymongo): a real ``dbpatch patch``
process SIGKILLed at every step boundary, then the same command again: one PRIMARY, the other members
SECONDARY, all at the target, and the rerun exits 0."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL

from lab import crash
from lab.lab import Lab
from tests.mongodb_flows.test_mongo_flows import ON, members
from tests.patching.test_crash import resumed, same_command_in_process

TARGET = "7.0.40"
BOUNDARIES = (
    18  # 2 secondaries × 5 steps, stepDown + election, the old primary's 5 steps, before the post-checks
)


def _argv(lab: Lab) -> list[str]:
    return [*crash.command(lab.inventory_path, lab.policy_path, "mongo-catalog"), "--on", ON.isoformat()]


def _problems(lab: Lab) -> list[str]:
    found = members(lab)
    states = [m["state"] for m in found]
    problems = [] if states.count("PRIMARY") == 1 else [f"states {states}"]
    problems += [
        f"{m['state']} member not SECONDARY" for m in found if m["state"] not in ("PRIMARY", "SECONDARY")
    ]
    problems += [f"a member runs {m['version']}" for m in found if m["version"] != TARGET]
    return problems


@pytest.mark.parametrize("k", range(1, BOUNDARIES + 1))
def test_kill_at_every_step_boundary_then_rerun_is_clean(mongo_lab: Lab, k: int) -> None:
    killed, rerun = crash.kill_and_rerun(_argv(mongo_lab), crash.env_for(PREFECT_API_URL.value()), kill_at=k,
                                         rerun=same_command_in_process)  # fmt: skip
    assert killed == -9, f"the first run was not killed (exit {killed})"
    assert rerun.returncode == 0, crash.output_tail(rerun.stdout)
    assert _problems(mongo_lab) == [], crash.output_tail(rerun.stdout)
    assert resumed(str(Path(os.environ["DBPATCH_HOME"]) / "state"), "mongo-catalog")


@pytest.mark.parametrize("delay", [3.5, 5.0, 6.5])
def test_kill_at_a_random_moment_then_rerun_is_clean(mongo_lab: Lab, delay: float) -> None:
    _, rerun = crash.kill_and_rerun(
        _argv(mongo_lab), crash.env_for(PREFECT_API_URL.value()), kill_after=delay
    )
    assert rerun.returncode == 0, rerun.stdout[-2000:] + rerun.stderr[-2000:]
    assert _problems(mongo_lab) == []
