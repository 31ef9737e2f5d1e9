"""prefect.yaml: entrypoints, work pool, schedules valid for Prefect, the cycle on 3rd Saturdays at 22:00."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from dateutil.rrule import rrulestr
from prefect.client.schemas.schedules import CronSchedule, RRuleSchedule

from dbpatch.errors import ConfigError
from dbpatch.models import MaintenanceWindow
from deployments.schedules import cycle_deployment, window_schedule
from tasks.schedule.calendar import window_instances

ROOT = Path(__file__).resolve().parents[2]
EXPECTED = {
    "inventory-scan": "flows/scan.py:inventory_scan",
    "drift-report": "flows/drift.py:drift_report",
    "monthly-patch-cycle": "flows/patch_cycle.py:patch_cycle",
    "patch-wave": "flows/patch_wave.py:patch_wave",
    "refresh-catalog": "flows/catalog.py:refresh_catalog",
    "window-reminders": "flows/reminders.py:window_reminders",
}


@pytest.fixture(scope="module")
def deployments() -> dict[str, dict]:
    data = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    return {d["name"]: d for d in data["deployments"]}


def _prefect_schedule(entry: dict):
    entry = {k: v for k, v in entry.items() if k != "slug"}  # a deployment-schedule field, not the schedule's
    return RRuleSchedule(**entry) if "rrule" in entry else CronSchedule(**entry)


def test_entrypoints(deployments):
    assert {name: d["entrypoint"] for name, d in deployments.items()} == EXPECTED


def test_every_deployment_uses_the_process_pool(deployments):
    assert {d["work_pool"]["name"] for d in deployments.values()} == {"dbpatch-pool"}


def test_schedules_are_valid_prefect_schedules_with_a_timezone(deployments):
    for d in deployments.values():
        for entry in d["schedules"]:
            assert _prefect_schedule(entry).timezone == "Europe/Berlin"
            assert entry["slug"].endswith("-europe-berlin")  # the UI shows the slug, not an RRULE's timezone
    assert deployments["patch-wave"]["schedules"] == []
    assert deployments["inventory-scan"]["schedules"][0]["cron"] == "0 6 * * *"
    assert deployments["drift-report"]["schedules"][0]["cron"] == "30 6 * * *"


def test_cycle_parameters(deployments):
    assert set(deployments["monthly-patch-cycle"]["parameters"]) == {"inventory_path", "policy_path"}


def test_cycle_runs_on_third_saturdays_at_22_local(deployments):
    (entry,) = deployments["monthly-patch-cycle"]["schedules"]
    tz = ZoneInfo(entry["timezone"])
    rule = rrulestr(entry["rrule"], dtstart=dt.datetime(2026, 11, 24, tzinfo=tz))
    nxt = list(rule.xafter(dt.datetime(2026, 11, 24, tzinfo=tz), count=3))
    assert nxt == [
        dt.datetime(2026, 12, 19, 22, 0, tzinfo=tz),
        dt.datetime(2027, 1, 16, 22, 0, tzinfo=tz),
        dt.datetime(2027, 2, 20, 22, 0, tzinfo=tz),
    ]


def test_prefect_expands_the_cycle_like_the_calendar(deployments):
    (entry,) = deployments["monthly-patch-cycle"]["schedules"]
    prefect_rule = _prefect_schedule(entry).to_rrule()
    after = dt.datetime(2027, 2, 1, tzinfo=ZoneInfo("Europe/Berlin"))
    window = MaintenanceWindow(name="prod", timezone="Europe/Berlin")  # the policy's default window
    ours = [i.start for i in window_instances(window, [], after, 4)]  # crosses the March DST change
    theirs = list(prefect_rule.xafter(after, count=4))
    assert [t.astimezone(dt.UTC) for t in theirs] == [t.astimezone(dt.UTC) for t in ours]


def test_window_schedule_adds_the_start_time():
    w = MaintenanceWindow(
        name="us", rrule="FREQ=WEEKLY;BYDAY=TU", start=dt.time(19, 30), timezone="America/New_York"
    )
    assert window_schedule(w) == {
        "rrule": "FREQ=WEEKLY;BYDAY=TU;BYHOUR=19;BYMINUTE=30",
        "timezone": "America/New_York",
        "slug": "us-1930-america-new-york",
    }
    with pytest.raises(ConfigError, match="time of day"):
        window_schedule(w.model_copy(update={"rrule": "FREQ=DAILY;BYHOUR=3"}))


def test_cycle_deployment_per_window():
    w = MaintenanceWindow(
        name="us-prod", environments=["prod"], start=dt.time(20), timezone="America/New_York"
    )
    entry = cycle_deployment(w, "fleet/inventory.yaml", "fleet/policy.yaml")
    assert entry["name"] == "patch-cycle-us-prod"
    assert entry["entrypoint"] == EXPECTED["monthly-patch-cycle"]
    assert entry["parameters"] == {
        "inventory_path": "fleet/inventory.yaml",
        "policy_path": "fleet/policy.yaml",
    }
    schedule = _prefect_schedule(entry["schedules"][0])
    first = next(iter(schedule.to_rrule().xafter(dt.datetime(2026, 11, 24, tzinfo=dt.UTC))))
    assert (first.date(), first.hour, first.tzname()) == (dt.date(2026, 12, 19), 20, "EST")
