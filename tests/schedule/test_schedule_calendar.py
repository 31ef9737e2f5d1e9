"""Calendar: third Saturdays, window instances across DST, blackouts (skip and move), window matching."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from dbpatch.errors import ConfigError
from dbpatch.models import Blackout, MaintenanceWindow, Policy
from tasks.schedule.calendar import next_open, third_saturday, third_saturdays, window_for, window_instances

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
TODAY = dt.datetime(2026, 11, 24, 9, 0, tzinfo=BERLIN)
FREEZE = dict(name="year-end freeze", start=dt.date(2026, 12, 20), end=dt.date(2027, 1, 5))


def _window(**kw) -> MaintenanceWindow:
    return MaintenanceWindow(**{"name": "prod", "environments": ["prod"], "timezone": "Europe/Berlin", **kw})


def _real(a: dt.datetime, b: dt.datetime) -> dt.timedelta:
    """Elapsed time; subtracting two datetimes with the same tzinfo would give wall-clock time."""
    return b.astimezone(dt.UTC) - a.astimezone(dt.UTC)


def test_third_saturday_known_dates():
    assert third_saturday(2026, 12) == dt.date(2026, 12, 19)
    assert third_saturday(2027, 1) == dt.date(2027, 1, 16)
    assert third_saturday(2027, 2) == dt.date(2027, 2, 20)
    assert third_saturday(2027, 3) == dt.date(2027, 3, 20)
    assert third_saturday(2026, 8) == dt.date(2026, 8, 15)  # month starting on a Saturday


def test_third_saturdays_are_strictly_after_and_cross_the_year():
    assert third_saturdays(dt.date(2026, 11, 24), 4) == [
        dt.date(2026, 12, 19),
        dt.date(2027, 1, 16),
        dt.date(2027, 2, 20),
        dt.date(2027, 3, 20),
    ]
    assert third_saturdays(dt.date(2026, 12, 19), 1) == [dt.date(2027, 1, 16)]


def test_default_window_is_third_saturday_22_local_with_cutoff():
    got = window_instances(_window(), [], TODAY, 4)
    assert [i.start.date() for i in got] == third_saturdays(TODAY.date(), 4)
    first = got[0]
    assert (first.start.hour, first.start.minute, first.start.tzname()) == (22, 0, "CET")
    assert first.end == dt.datetime(2026, 12, 20, 4, 0, tzinfo=BERLIN)
    assert first.cutoff == dt.datetime(2026, 12, 20, 3, 0, tzinfo=BERLIN)
    assert first.window == "prod" and first.skipped_by is None and first.moved_from is None
    assert first.key == "prod-20261219"


def test_window_open_at_after_is_included():
    during = dt.datetime(2026, 12, 20, 1, 0, tzinfo=BERLIN)
    assert window_instances(_window(), [], during, 1)[0].start.date() == dt.date(2026, 12, 19)
    after_end = dt.datetime(2026, 12, 20, 4, 0, tzinfo=BERLIN)
    assert window_instances(_window(), [], after_end, 1)[0].start.date() == dt.date(2027, 1, 16)


def test_berlin_spring_forward_keeps_local_start_and_real_duration():
    weekly = _window(rrule="FREQ=WEEKLY;BYDAY=SA")
    before, across, after = window_instances(weekly, [], dt.datetime(2027, 3, 15, tzinfo=BERLIN), 3)
    assert [i.start.hour for i in (before, across, after)] == [22, 22, 22]
    assert [i.start.tzname() for i in (before, across, after)] == ["CET", "CET", "CEST"]
    assert _real(before.start, after.start) == dt.timedelta(days=14, hours=-1)  # an hour lost on 28 March
    # 2027-03-27 22:00 CET + 6 real hours = 05:00 CEST (the clock jumps 02:00 → 03:00).
    assert _real(across.start, across.end) == dt.timedelta(hours=6)
    assert (across.end.hour, across.end.tzname()) == (5, "CEST")
    assert (across.cutoff.hour, across.cutoff.tzname()) == (4, "CEST")


def test_new_york_fall_back_keeps_local_start_and_real_duration():
    weekly = MaintenanceWindow(
        name="us", rrule="FREQ=WEEKLY;BYDAY=SA", start=dt.time(22), timezone="America/New_York"
    )
    across, after = window_instances(weekly, [], dt.datetime(2026, 10, 30, tzinfo=NEW_YORK), 2)
    assert (across.start.hour, across.start.tzname()) == (22, "EDT")
    assert (after.start.hour, after.start.tzname()) == (22, "EST")
    # 2026-10-31 22:00 EDT + 6 real hours = 03:00 EST (an hour repeats on 1 November).
    assert _real(across.start, across.end) == dt.timedelta(hours=6)
    assert (across.end.hour, across.end.tzname()) == (3, "EST")


def test_start_inside_the_spring_gap_moves_to_the_real_instant():
    w = _window(rrule="FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=28", start=dt.time(2, 30))
    (i,) = window_instances(w, [], dt.datetime(2027, 3, 1, tzinfo=BERLIN), 1)
    assert (i.start.hour, i.start.minute, i.start.tzname()) == (3, 30, "CEST")


def test_blackout_skip_reports_the_cycle_skipped():
    got = window_instances(_window(), [Blackout(**FREEZE)], TODAY, 3)
    # The 19 December window runs into 20 December, the freeze's first day.
    assert [(i.start.date(), i.skipped_by) for i in got] == [
        (dt.date(2026, 12, 19), "year-end freeze"),
        (dt.date(2027, 1, 16), None),
        (dt.date(2027, 2, 20), None),
    ]
    assert got[0].skipped and not got[1].skipped


def test_blackout_that_ends_before_the_window_does_not_touch_it():
    early = Blackout(name="early", start=dt.date(2026, 12, 1), end=dt.date(2026, 12, 19))
    late = Blackout(name="late", start=dt.date(2026, 12, 21), end=dt.date(2026, 12, 31))
    # 19 Dec 22:00 overlaps a blackout ending 19 Dec (whole day) but not one starting 21 Dec.
    assert window_instances(_window(), [early], TODAY, 1)[0].skipped_by == "early"
    assert window_instances(_window(), [late], TODAY, 1)[0].skipped_by is None


def test_blackout_move_goes_to_first_same_weekday_after_the_end():
    got = window_instances(_window(), [Blackout(**FREEZE, action="move")], TODAY, 2)
    moved, regular = got
    assert moved.start == dt.datetime(2027, 1, 9, 22, 0, tzinfo=BERLIN)  # first Saturday after 5 January
    assert moved.moved_from == dt.date(2026, 12, 19) and moved.moved_by == "year-end freeze"
    assert moved.skipped_by is None and moved.key == "prod-20261219"
    assert regular.start.date() == dt.date(2027, 1, 16) and regular.moved_from is None


def test_move_when_the_blackout_ends_on_the_window_weekday():
    ends_saturday = Blackout(
        name="audit", start=dt.date(2026, 12, 12), end=dt.date(2026, 12, 19), action="move"
    )
    (moved,) = window_instances(_window(), [ends_saturday], TODAY, 1)
    assert moved.start.date() == dt.date(2026, 12, 26)  # the next Saturday, not the blackout's last day


def test_move_through_a_chain_of_blackouts_is_still_found_late():
    chain = [
        Blackout(name="a", start=dt.date(2026, 12, 15), end=dt.date(2026, 12, 20), action="move"),
        Blackout(name="b", start=dt.date(2026, 12, 21), end=dt.date(2026, 12, 28), action="move"),
        Blackout(name="c", start=dt.date(2026, 12, 29), end=dt.date(2027, 1, 4), action="move"),
    ]
    # 19 Dec → 26 Dec (in b) → 2 Jan (in c) → 9 Jan; asked three weeks after the rule date, window open.
    late = dt.datetime(2027, 1, 10, 3, 0, tzinfo=BERLIN)
    moved = window_instances(_window(), chain, late, 1)[0]
    assert (moved.start.date(), moved.moved_from, moved.moved_by) == (
        dt.date(2027, 1, 9),
        dt.date(2026, 12, 19),
        "c",
    )


def test_moved_cycle_is_still_listed_after_its_rule_date():
    got = window_instances(
        _window(), [Blackout(**FREEZE, action="move")], dt.datetime(2027, 1, 7, tzinfo=BERLIN), 1
    )
    assert got[0].start.date() == dt.date(2027, 1, 9)


def test_move_that_reaches_the_next_cycle_becomes_a_skip():
    long = Blackout(name="migration", start=dt.date(2026, 12, 10), end=dt.date(2027, 1, 12), action="move")
    got = window_instances(_window(), [long], TODAY, 2)
    assert got[0].start.date() == dt.date(2026, 12, 19)
    assert got[0].skipped_by is not None and "migration" in got[0].skipped_by
    assert got[1].start.date() == dt.date(2027, 1, 16) and not got[1].skipped


def test_skip_wins_over_move_when_both_overlap():
    both = [
        Blackout(**FREEZE, action="move"),
        Blackout(name="audit", start=dt.date(2026, 12, 19), end=dt.date(2026, 12, 19)),
    ]
    assert window_instances(_window(), both, TODAY, 1)[0].skipped_by == "audit"


def test_next_open_skips_blacked_out_instances():
    got = window_instances(_window(), [Blackout(**FREEZE)], TODAY, 3)
    assert next_open(got, TODAY).start.date() == dt.date(2027, 1, 16)


def test_window_for_prefers_group_over_environment():
    env = _window(name="prod-env", environments=["prod"])
    grp = _window(name="payments", environments=[], groups=["payments"])
    policy = Policy(windows=[env, grp])
    assert window_for(policy, "prod", "payments").name == "payments"
    assert window_for(policy, "prod", "other").name == "prod-env"
    assert window_for(policy, "prod").name == "prod-env"
    assert window_for(policy, "dev", None) is None


def test_bad_rrule_is_refused_when_the_window_is_built():
    with pytest.raises(ValidationError, match="invalid 'FREQ': SOMETIMES"):
        _window(rrule="FREQ=SOMETIMES")
    with pytest.raises(ValidationError, match="DTSTART"):
        _window(rrule="DTSTART:20260101T000000\nRRULE:FREQ=DAILY")


def test_bad_rrule_in_an_unvalidated_window_is_a_config_error_naming_the_window():
    base = _window().model_dump()
    with pytest.raises(ConfigError, match="window prod: rrule: 'FREQ=SOMETIMES'"):
        window_instances(
            MaintenanceWindow.model_construct(**{**base, "rrule": "FREQ=SOMETIMES"}), [], TODAY, 1
        )
    with pytest.raises(ConfigError, match="DTSTART"):
        bad = {**base, "rrule": "DTSTART:20260101T000000\nRRULE:FREQ=DAILY"}
        window_instances(MaintenanceWindow.model_construct(**bad), [], TODAY, 1)


def test_naive_after_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        window_instances(_window(), [], dt.datetime(2026, 11, 24), 1)
