"""Start gates: before window, cutoff, overrun, blackout; duration estimates; wave error budgets."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from dbpatch.models import Blackout, MaintenanceWindow
from tasks.schedule.calendar import window_instances
from tasks.schedule.gate import Verdict, error_budget, estimate_duration, max_errors_reached, may_start

BERLIN = ZoneInfo("Europe/Berlin")
MIN = dt.timedelta(minutes=1)
WINDOW = MaintenanceWindow(name="prod", environments=["prod"], timezone="Europe/Berlin")
# DEC: 2026-12-19 22:00 → 12-20 04:00 CET, cutoff 03:00; JAN: 2027-01-16.
DEC, JAN = window_instances(WINDOW, [], dt.datetime(2026, 11, 24, tzinfo=BERLIN), 2)


def at(day: int, hour: int, minute: int = 0, month: int = 12) -> dt.datetime:
    year = 2026 if month == 12 else 2027
    return dt.datetime(year, month, day, hour, minute, tzinfo=BERLIN)


def test_starts_inside_the_window_when_the_estimate_fits():
    d = may_start(DEC, at(19, 22, 5), 40 * MIN)
    assert d.verdict is Verdict.START and d.allowed
    assert d.sentence == "start: estimated 40 min fits before the window end 04:00 CET"


def test_before_window_waits():
    d = may_start(DEC, at(19, 21, 0), 40 * MIN, JAN)
    assert d.verdict is Verdict.BEFORE_WINDOW and not d.allowed
    assert d.sentence == "waiting: window prod opens 2026-12-19 22:00 CET, in 1 h"


def test_after_cutoff_never_starts_even_a_short_job():
    d = may_start(DEC, at(20, 3, 0), 1 * MIN, JAN)
    assert d.verdict is Verdict.AFTER_CUTOFF
    assert d.sentence.startswith("deferred to next window 2027-01-16 22:00 CET: past the cutoff 03:00 CET")
    assert may_start(DEC, at(20, 2, 59), 1 * MIN).verdict is Verdict.START


def test_after_window_end_is_after_cutoff():
    assert may_start(DEC, at(20, 5, 0), 1 * MIN).verdict is Verdict.AFTER_CUTOFF


def test_would_overrun_defers_with_the_next_window_named():
    d = may_start(DEC, at(20, 2, 30), 91 * MIN, JAN)
    assert d.verdict is Verdict.WOULD_OVERRUN
    assert d.sentence == (
        "deferred to next window 2027-01-16 22:00 CET: estimated 1 h 31 min would overrun the window end 04:00 CET"
    )
    assert may_start(DEC, at(20, 2, 30), 90 * MIN).verdict is Verdict.START  # ends exactly at 04:00


def test_overrun_uses_real_time_across_dst():
    weekly = MaintenanceWindow(
        name="w", rrule="FREQ=WEEKLY;BYDAY=SA", timezone="Europe/Berlin", cutoff_hours=0
    )
    (dst_night,) = window_instances(weekly, [], dt.datetime(2027, 3, 27, 12, tzinfo=BERLIN), 1)
    # From 01:30 CET to the 05:00 CEST end is 2.5 real hours, though the wall clock shows 3.5.
    now = dt.datetime(2027, 3, 28, 1, 30, tzinfo=BERLIN)
    assert may_start(dst_night, now, dt.timedelta(hours=2, minutes=30)).verdict is Verdict.START
    assert may_start(dst_night, now, dt.timedelta(hours=2, minutes=31)).verdict is Verdict.WOULD_OVERRUN


def test_blackout_instance_never_starts():
    freeze = Blackout(name="year-end freeze", start=dt.date(2026, 12, 20), end=dt.date(2027, 1, 5))
    skipped, nxt = window_instances(WINDOW, [freeze], dt.datetime(2026, 11, 24, tzinfo=BERLIN), 2)
    d = may_start(skipped, at(19, 22, 30), 10 * MIN, nxt)
    assert d.verdict is Verdict.BLACKOUT
    assert "year-end freeze" in d.sentence and "2027-01-16 22:00 CET" in d.sentence


def test_naive_now_is_refused():
    with pytest.raises(ValueError):
        may_start(DEC, dt.datetime(2026, 12, 19, 23), MIN)


def test_estimate_without_history_is_per_node_default():
    assert estimate_duration(1) == dt.timedelta(minutes=25)
    assert estimate_duration(3) == dt.timedelta(minutes=55)
    assert estimate_duration(3, []) == dt.timedelta(minutes=55)


def test_estimate_from_history_is_p90_times_safety_rounded_up():
    assert estimate_duration(3, [600, 1200, 900]) == dt.timedelta(minutes=30)  # max 20 min × 1.5
    ten_runs = [60.0 * m for m in (10, 10, 10, 10, 10, 10, 10, 10, 20, 100)]
    assert estimate_duration(3, ten_runs) == dt.timedelta(minutes=30)  # p90 = 20 min, the outlier ignored
    assert estimate_duration(1, [61]) == dt.timedelta(minutes=2)  # 91.5 s → 2 min


def test_estimate_refuses_empty_cluster():
    with pytest.raises(ValueError):
        estimate_duration(0)


@pytest.mark.parametrize(
    ("spec", "failed", "total", "reached"),
    [
        ("1", 0, 10, False),
        ("1", 1, 10, True),
        ("2", 1, 10, False),
        ("2", 2, 10, True),
        ("25%", 1, 4, True),  # 25 % of 4 = 1
        ("25%", 2, 10, False),  # 20 % < 25 %
        ("25%", 3, 10, True),  # ceil(2.5) = 3
        ("25%", 1, 2, True),  # ceil(0.5) = 1: never below one
        ("0", 1, 5, True),  # a zero budget still halts on the first failure, not before
        ("0", 0, 5, False),
        ("100%", 9, 10, False),
    ],
)
def test_max_errors(spec, failed, total, reached):
    assert max_errors_reached(spec, failed, total) is reached


def test_error_budget_refuses_nonsense():
    assert error_budget("50%", 7) == 4
    with pytest.raises(ValueError):
        error_budget("a lot", 10)
