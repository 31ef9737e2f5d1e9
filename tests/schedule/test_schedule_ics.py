"""iCalendar export: parses with icalendar, one event per instance, TZID times, stable UIDs, skips cancelled."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from icalendar import Calendar

from dbpatch.models import Blackout, Canary, MaintenanceWindow, Policy, Waves
from tasks.schedule.ics import write_ics

BERLIN = ZoneInfo("Europe/Berlin")
AFTER = dt.datetime(2026, 11, 24, 9, 0, tzinfo=BERLIN)
POLICY = Policy(
    windows=[
        MaintenanceWindow(name="prod", environments=["prod"], timezone="Europe/Berlin"),
        MaintenanceWindow(
            name="dev",
            environments=["dev"],
            rrule="FREQ=WEEKLY;BYDAY=TU",
            start=dt.time(19),
            duration_hours=3,
            timezone="America/New_York",
        ),
    ],
    blackouts=[Blackout(name="year-end freeze", start=dt.date(2026, 12, 20), end=dt.date(2027, 1, 5))],
    canary=Canary(count=1, bake_hours=12),
    waves=Waves(order=["dev", "test", "prod"]),
)


def _events(path):
    cal = Calendar.from_ical(path.read_bytes())
    return {str(e["uid"]): e for e in cal.walk("VEVENT")}, cal


def test_ics_parses_with_one_event_per_instance(tmp_path):
    path = tmp_path / "sub" / "dbpatch.ics"
    assert write_ics(POLICY, path, AFTER, 4) == 8
    events, cal = _events(path)
    assert len(events) == 8
    assert {tz.tz_name for tz in cal.timezones} == {"Europe/Berlin", "America/New_York"}


def test_event_times_carry_tzid_and_local_wall_time(tmp_path):
    write_ics(POLICY, tmp_path / "c.ics", AFTER, 4)
    events, _ = _events(tmp_path / "c.ics")
    jan = events["prod-20270116@dbpatch"]
    assert jan["dtstart"].params["TZID"] == "Europe/Berlin"
    assert jan.decoded("dtstart") == dt.datetime(2027, 1, 16, 22, 0, tzinfo=BERLIN)
    assert jan.decoded("dtend") == dt.datetime(2027, 1, 17, 4, 0, tzinfo=BERLIN)
    assert str(jan["summary"]) == "dbpatch patch cycle – prod"
    assert str(jan["status"]) == "CONFIRMED"
    description = str(jan["description"])
    assert "canary 1" in description and "bake 12 h" in description and "dev → test → prod" in description
    assert events["dev-20261124@dbpatch"]["dtstart"].params["TZID"] == "America/New_York"


def test_skipped_cycle_is_cancelled_and_says_why(tmp_path):
    write_ics(POLICY, tmp_path / "c.ics", AFTER, 4)
    events, _ = _events(tmp_path / "c.ics")
    dec = events["prod-20261219@dbpatch"]
    assert str(dec["status"]) == "CANCELLED"
    assert str(dec["summary"]).startswith("SKIPPED (blackout: year-end freeze)")


def test_uids_are_stable_between_exports(tmp_path):
    write_ics(POLICY, tmp_path / "a.ics", AFTER, 4)
    write_ics(POLICY, tmp_path / "b.ics", AFTER + dt.timedelta(days=2), 4)
    a, _ = _events(tmp_path / "a.ics")
    b, _ = _events(tmp_path / "b.ics")
    assert "prod-20270116@dbpatch" in a and "prod-20270116@dbpatch" in b
    assert a["prod-20270116@dbpatch"].decoded("dtstart") == b["prod-20270116@dbpatch"].decoded("dtstart")


def test_moved_cycle_keeps_its_uid(tmp_path):
    moved = POLICY.model_copy(
        update={"blackouts": [POLICY.blackouts[0].model_copy(update={"action": "move"})]}
    )
    write_ics(moved, tmp_path / "c.ics", AFTER, 2)
    events, _ = _events(tmp_path / "c.ics")
    event = events["prod-20261219@dbpatch"]
    assert event.decoded("dtstart") == dt.datetime(2027, 1, 9, 22, 0, tzinfo=BERLIN)
    assert "Moved from 2026-12-19" in str(event["description"])
