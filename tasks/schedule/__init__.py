"""When patching may run: maintenance-window calendar, start gates, iCalendar export and webhook notices.

``calendar`` expands windows and blackouts into dated instances, ``gate`` decides whether a cluster may
start now, ``ics`` exports the calendar, ``notify`` posts events to a webhook. All logic takes ``now`` as a
parameter; nothing here reads the wall clock.
"""

from tasks.schedule.calendar import (
    WindowInstance,
    next_open,
    third_saturday,
    third_saturdays,
    wave_plan,
    window_for,
    window_instances,
)
from tasks.schedule.gate import (
    Decision,
    Verdict,
    error_budget,
    estimate_duration,
    max_errors_reached,
    may_start,
)
from tasks.schedule.ics import build_calendar, write_ics
from tasks.schedule.notify import NotifyEvent, notify, reminder_payload, reminders_due, scrub

__all__ = [
    "Decision",
    "NotifyEvent",
    "Verdict",
    "WindowInstance",
    "build_calendar",
    "error_budget",
    "estimate_duration",
    "max_errors_reached",
    "may_start",
    "next_open",
    "notify",
    "reminder_payload",
    "reminders_due",
    "scrub",
    "third_saturday",
    "third_saturdays",
    "wave_plan",
    "window_for",
    "window_instances",
    "write_ics",
]
