"""A cycle whose window instance a blackout skips is visible as such: a run in state "Skipped" with the
blackout's name, a report saying so, and nothing contacted."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import yaml

from dbpatch.models import Policy
from tasks.schedule.calendar import blackout_skip
from tests.models.corpus import INVENTORY, POLICY

BERLIN = ZoneInfo("Europe/Berlin")
IN_FREEZE = dt.datetime(2026, 12, 19, 22, 30, tzinfo=BERLIN)  # prod-weekend overlaps the year-end freeze


def test_blackout_skip_names_the_blackout_only_inside_a_skipped_instance():
    policy = Policy.model_validate(yaml.safe_load(POLICY))
    assert blackout_skip(policy, IN_FREEZE) == (
        "skipped: blackout year-end freeze (window prod-weekend, 2026-12-19 22:00 CET)"
    )
    assert blackout_skip(policy, dt.datetime(2026, 11, 21, 22, 30, tzinfo=BERLIN)) is None  # a normal night
    assert blackout_skip(policy, dt.datetime(2026, 12, 16, 12, 0, tzinfo=BERLIN)) is None  # no window open


def test_a_blacked_out_cycle_run_is_skipped_not_completed_as_usual(prefect_harness, tmp_path, monkeypatch):
    from flows.patch_cycle import patch_cycle

    monkeypatch.setenv("DBPATCH_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("DBPATCH_REPORTS", str(tmp_path / "reports"))
    (tmp_path / "inventory.yaml").write_text(INVENTORY)  # example.com hosts: a contacted target would fail
    (tmp_path / "policy.yaml").write_text(POLICY)
    run = patch_cycle(
        str(tmp_path / "inventory.yaml"), str(tmp_path / "policy.yaml"), now=IN_FREEZE, return_state=True
    )
    assert run.name == "Skipped" and run.is_completed()
    assert run.message == "skipped: blackout year-end freeze (window prod-weekend, 2026-12-19 22:00 CET)"
    state = run.result()
    assert state["result"] == run.message and state["rows"] == [] and state["todo"] == []
    assert run.message in open(state["report"], encoding="utf-8").read()
