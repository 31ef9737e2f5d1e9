"""Maintenance-window calendar: the dates a patch cycle runs on, and the windows that apply to a cluster.

Pure functions: "now" is always a parameter and every datetime is timezone-aware. Real elapsed time (window
length, cutoff) is computed in UTC, because Python adds and compares two datetimes that share a ``tzinfo``
by wall clock, which is an hour off on a DST night.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo

from dbpatch import rules
from dbpatch.errors import ConfigError
from dbpatch.models import Blackout, MaintenanceWindow, Policy

UTC = dt.UTC
SATURDAY = 5  # date.weekday()
RRULE_ANCHOR = rules.RRULE_ANCHOR  # the anchor Prefect's RRuleSchedule uses, so INTERVAL>1 rules agree


def third_saturday(year: int, month: int) -> dt.date:
    """The third Saturday of a month: dbpatch's standard cycle day."""
    first = dt.date(year, month, 1)
    return first + dt.timedelta(days=(SATURDAY - first.weekday()) % 7 + 14)


def third_saturdays(after: dt.date, count: int) -> list[dt.date]:
    """The next ``count`` third Saturdays strictly after ``after``."""
    out: list[dt.date] = []
    year, month = after.year, after.month
    while len(out) < count:
        day = third_saturday(year, month)
        if day > after:
            out.append(day)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


@dataclass(frozen=True)
class WindowInstance:
    """One occurrence of a maintenance window, in the window's timezone.

    ``cutoff`` is the last moment a new cluster may start. ``skipped_by`` names the blackout that cancels
    this cycle; ``moved_from``/``moved_by`` say which rule date a blackout moved it from.
    """

    window: str
    start: dt.datetime
    end: dt.datetime
    cutoff: dt.datetime
    skipped_by: str | None = None
    moved_from: dt.date | None = None
    moved_by: str | None = None

    @property
    def skipped(self) -> bool:
        return self.skipped_by is not None

    @property
    def cycle_date(self) -> dt.date:
        """The rule date this cycle belongs to (stable when a blackout moves it)."""
        return self.moved_from or self.start.date()

    @property
    def key(self) -> str:
        """Stable identity of the cycle: window name and rule date (calendar UIDs, reminder dedup)."""
        return f"{self.window}-{self.cycle_date:%Y%m%d}"

    def contains(self, now: dt.datetime) -> bool:
        return _utc(self.start) <= _utc(now) < _utc(self.end)

    def describe(self) -> str:
        """One line: ``2026-12-19 Sat 22:00 CET → 04:00 CET (+1 d), cutoff 03:00 CET``."""
        days = (self.end.date() - self.start.date()).days
        plus = f" (+{days} d)" if days else ""
        line = f"{self.start:%Y-%m-%d %a} {clock(self.start)} → {clock(self.end)}{plus}, cutoff {clock(self.cutoff)}"
        if self.skipped_by:
            line += f"  SKIPPED (blackout: {self.skipped_by})"
        elif self.moved_from:
            line += f"  moved from {self.moved_from} (blackout: {self.moved_by})"
        return line


# --- formatting ----------------------------------------------------------------------------------------


def local_time(t: dt.datetime) -> str:
    """``2026-12-19 22:00 CET``."""
    return f"{t:%Y-%m-%d %H:%M} {t.tzname()}"


def clock(t: dt.datetime) -> str:
    """``04:00 CET``."""
    return f"{t:%H:%M} {t.tzname()}"


def human_duration(span: dt.timedelta) -> str:
    """``40 min``, ``1 h 5 min``, ``12 h``, ``2 d 3 h`` (rounded down to the minute)."""
    minutes = max(0, int(span.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [f"{days} d"] if days else []
    parts += [f"{hours} h"] if hours else []
    parts += [f"{mins} min"] if mins or not parts else []
    return " ".join(parts[:2])


def wave_plan(policy: Policy) -> str:
    """The cycle's order in one line: canary → bake → waves, with concurrency, error budget and approvals."""
    canary, waves = policy.canary, policy.waves
    steps = []
    if canary.count:
        steps.append(f"canary {canary.count} (tag '{canary.tag}')")
        steps.append(f"bake {canary.bake_hours:g} h")
    steps += waves.order
    approval = ", ".join(waves.approval_required) or "none"
    return (
        f"{' → '.join(steps)}; up to {waves.max_concurrency} clusters at once, "
        f"halt a wave at {waves.max_errors} failed; approval needed: {approval}"
    )


# --- windows -------------------------------------------------------------------------------------------


def window_for(policy: Policy, environment: str, group: str | None = None) -> MaintenanceWindow | None:
    """The window that applies to a cluster: the first matching its group, else the first matching its
    environment, else None (no window: the cluster is never patched automatically)."""
    if group:
        for window in policy.windows:
            if group in window.groups:
                return window
    for window in policy.windows:
        if environment in window.environments:
            return window
    return None


def window_instances(
    window: MaintenanceWindow, blackouts: list[Blackout], after: dt.datetime, count: int
) -> list[WindowInstance]:
    """The next ``count`` instances of ``window`` that have not ended at ``after`` (an open one included).

    The RRULE gives the day, ``window.start`` the local wall time, so a 22:00 window stays 22:00 local on
    both sides of a DST change; ``duration_hours`` and ``cutoff_hours`` are real hours. A start time that
    does not exist on a spring-forward night moves forward by the gap (02:30 → 03:30).

    A blackout covers whole local days ``start``..``end`` in the window's timezone; an instance that
    overlaps it at all is affected. If any overlapping blackout says ``skip``, the instance is reported
    with ``skipped_by``. ``move`` moves it to the first day after the blackout's end with the same
    weekday, same start time (``moved_from`` keeps the rule date); if that lands in another blackout, that
    one applies in turn, and if it would start on or after the next regular date, the cycle is skipped
    instead (it has merged into the next one). Skipped instances count towards ``count``.
    """
    _require_aware(after, "after")
    if count <= 0:
        return []
    tz = ZoneInfo(window.timezone)
    # Far enough back to catch a rule date that moves (even through a chain of blackouts) past ``after``.
    moves = sum((b.end - b.start + dt.timedelta(days=9) for b in blackouts), dt.timedelta(0))
    lookback = dt.timedelta(hours=window.duration_hours, days=1) + moves
    days = _rule_days(window, (after.astimezone(tz) - lookback).replace(tzinfo=None))
    out: list[WindowInstance] = []
    current = next(days, None)
    while current is not None and len(out) < count:
        following = next(days, None)
        instance = _place(window, tz, current, following, blackouts)
        if _utc(instance.end) > _utc(after):
            out.append(instance)
        current = following
    return out


def upcoming(
    policy: Policy, after_day: dt.date | None, now: dt.datetime, count: int
) -> list[tuple[MaintenanceWindow, list[WindowInstance]]]:
    """Every window with its next ``count`` instances, as the calendar text and the ``.ics`` both list them:
    from midnight of ``after_day`` in each window's own timezone, or from ``now``."""
    _require_aware(now, "now")
    out = []
    for window in policy.windows:
        tz = ZoneInfo(window.timezone)
        start = now if after_day is None else dt.datetime.combine(after_day, dt.time(), tzinfo=tz)
        out.append((window, window_instances(window, policy.blackouts, start, count)))
    return out


def next_open(instances: Iterable[WindowInstance], now: dt.datetime) -> WindowInstance | None:
    """The first instance that is not skipped and starts after ``now`` (where deferred work goes)."""
    return next((i for i in instances if not i.skipped and _utc(i.start) > _utc(now)), None)


def _place(
    window: MaintenanceWindow,
    tz: ZoneInfo,
    day: dt.date,
    following: dt.date | None,
    blackouts: list[Blackout],
) -> WindowInstance:
    original = instance = _instance(window, tz, day)
    # A move lands after the latest end among the blackouts it hit, so no blackout is hit twice and the
    # loop returns within len(blackouts) + 1 rounds.
    for _ in range(len(blackouts) + 1):
        hits = [b for b in blackouts if _overlaps(instance, b, tz)]
        if not hits:
            return instance
        skip = next((b for b in hits if b.action == "skip"), None)
        if skip is not None:
            return replace(original, skipped_by=skip.name)
        last = max(hits, key=lambda b: b.end)
        new_day = _same_weekday_after(last.end, day.weekday())
        if following is not None and new_day >= following:
            return replace(original, skipped_by=f"{last.name}, no day left before the next cycle")
        instance = _instance(window, tz, new_day, moved_from=day, moved_by=last.name)
    raise AssertionError(
        f"window {window.name}: blackouts did not settle for {day}"
    )  # unreachable, see above


def _instance(
    window: MaintenanceWindow,
    tz: ZoneInfo,
    day: dt.date,
    moved_from: dt.date | None = None,
    moved_by: str | None = None,
) -> WindowInstance:
    start = _localize(dt.datetime.combine(day, window.start.replace(tzinfo=None)), tz)
    end = _shift(start, dt.timedelta(hours=window.duration_hours))
    cutoff = _shift(end, -dt.timedelta(hours=window.cutoff_hours))
    return WindowInstance(window.name, start, end, cutoff, moved_from=moved_from, moved_by=moved_by)


def _rule_days(window: MaintenanceWindow, since: dt.datetime) -> Iterator[dt.date]:
    """Distinct local dates the window's RRULE yields on or after the naive local ``since``."""
    try:  # the model refuses a bad rule at load; this guards windows built without validation
        rule = rules.parse_rrule(window.rrule, window.start)
    except ValueError as exc:
        raise ConfigError(f"window {window.name}: rrule: {exc}") from None
    last: dt.date | None = None
    for occurrence in rule.xafter(since, inc=True):
        if occurrence.date() != last:
            last = occurrence.date()
            yield last


def _overlaps(instance: WindowInstance, blackout: Blackout, tz: ZoneInfo) -> bool:
    b_start = _localize(dt.datetime.combine(blackout.start, dt.time()), tz)
    b_end = _localize(dt.datetime.combine(blackout.end + dt.timedelta(days=1), dt.time()), tz)
    return _utc(instance.start) < _utc(b_end) and _utc(b_start) < _utc(instance.end)


def _same_weekday_after(day: dt.date, weekday: int) -> dt.date:
    nxt = day + dt.timedelta(days=1)
    return nxt + dt.timedelta(days=(weekday - nxt.weekday()) % 7)


def _localize(naive: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """Attach ``tz``; a wall time inside a spring-forward gap is normalised to the real instant after it."""
    return naive.replace(tzinfo=tz).astimezone(UTC).astimezone(tz)


def _shift(t: dt.datetime, by: dt.timedelta) -> dt.datetime:
    """``t + by`` in real elapsed time, expressed in ``t``'s timezone."""
    return (t.astimezone(UTC) + by).astimezone(t.tzinfo)


def _utc(t: dt.datetime) -> dt.datetime:
    return t.astimezone(UTC)


def _require_aware(t: dt.datetime, what: str) -> None:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {t.isoformat()}")


def blackout_skip(policy: Policy, now: dt.datetime) -> str | None:
    """Why a cycle started at ``now`` does nothing: every window open at ``now`` is an instance a blackout
    skips. None when a window is open and not skipped, or none is open (then the gate defers per cluster)."""
    _require_aware(now, "now")
    current = [
        i
        for w in policy.windows
        for i in window_instances(w, policy.blackouts, now, 1)
        if i.contains(now)  # a skipped instance keeps its regular start and end
    ]
    if not current or not all(i.skipped for i in current):
        return None
    return "skipped: blackout " + "; ".join(
        f"{i.skipped_by} (window {i.window}, {local_time(i.start)})" for i in current
    )
