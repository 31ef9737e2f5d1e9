"""iCalendar export of the patch calendar, so DBAs and application owners see cycles in their calendars.

One VEVENT per window instance, with TZID-qualified times and a VTIMEZONE per zone. A UID is stable per
window and rule date, so re-importing a newer export updates events instead of duplicating them; a skipped
cycle stays in the file as ``STATUS:CANCELLED`` so calendars remove it.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from icalendar import Calendar, Event

from dbpatch.models import Policy
from tasks.schedule.calendar import WindowInstance, clock, upcoming, wave_plan

PRODID = "-//dbpatch//patch calendar//EN"
UID_DOMAIN = "dbpatch"
YEAR = dt.timedelta(days=366)


def build_calendar(
    policy: Policy,
    after: dt.datetime,
    count: int,
    stamp: dt.datetime | None = None,
    after_day: dt.date | None = None,
) -> Calendar:
    """A calendar with the next ``count`` instances of every window, the same ones ``dbpatch calendar`` lists
    (``calendar.upcoming``): from ``after``, or from midnight of ``after_day`` in each window's timezone.
    ``stamp`` (DTSTAMP) defaults to ``after``."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("x-wr-calname", "dbpatch patch cycles")
    stamp_utc = (stamp or after).astimezone(dt.UTC)
    plan = wave_plan(policy)
    first = last = after_day or after.date()
    for _, instances in upcoming(policy, after_day, after, count):
        for instance in instances:
            cal.add_component(_event(instance, plan, stamp_utc))
            first, last = min(first, instance.start.date()), max(last, instance.end.date())
    # VTIMEZONE rules only for the span the events cover (the default stops in 2038).
    cal.add_missing_timezones(first_date=first - YEAR, last_date=last + YEAR)
    return cal


def write_ics(
    policy: Policy, path: str | Path, after: dt.datetime, count: int, after_day: dt.date | None = None
) -> int:
    """Write the calendar to ``path`` (atomically) and return the number of events."""
    cal = build_calendar(policy, after, count, after_day=after_day)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_bytes(cal.to_ical())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return len(cal.walk("VEVENT"))


def _event(instance: WindowInstance, plan: str, stamp: dt.datetime) -> Event:
    summary = f"dbpatch patch cycle – {instance.window}"
    lines = [
        f"Window {instance.window}; no new cluster starts after {clock(instance.cutoff)}.",
        f"Plan: {plan}.",
    ]
    if instance.skipped_by:
        summary = f"SKIPPED (blackout: {instance.skipped_by}) {summary}"
        lines.insert(0, f"This cycle is skipped: blackout {instance.skipped_by}.")
    elif instance.moved_from:
        lines.insert(0, f"Moved from {instance.moved_from} by blackout {instance.moved_by}.")
    event = Event()
    event.add("uid", f"{instance.key}@{UID_DOMAIN}")
    event.add("dtstamp", stamp)
    event.add("dtstart", instance.start)
    event.add("dtend", instance.end)
    event.add("summary", summary)
    event.add("description", "\n".join(lines))
    event.add("status", "CANCELLED" if instance.skipped else "CONFIRMED")
    event.add("transp", "TRANSPARENT" if instance.skipped else "OPAQUE")
    event.add("categories", ["dbpatch", "maintenance"])
    return event
