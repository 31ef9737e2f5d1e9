"""``dbpatch calendar``: the next patch cycles per maintenance window, optionally as an .ics file.

``register(subparsers)`` adds the subcommand to the main CLI; ``main()`` runs it standalone. Bad input
(missing or invalid policy, bad date or count) prints one line per problem on stderr and exits 2.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from dbpatch import paths
from dbpatch.errors import ConfigError
from dbpatch.models import MaintenanceWindow, Policy, load_policy
from tasks.schedule.calendar import human_duration, upcoming, wave_plan
from tasks.schedule.ics import write_ics

MAX_COUNT = 120


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``calendar`` subcommand."""
    p = subparsers.add_parser(
        "calendar",
        help="show the next patch cycles per maintenance window",
        description="Show the next patch cycles per maintenance window: local start, end and cutoff, "
        "blackouts, and the wave plan. Optionally write them as an iCalendar file.",
    )
    p.add_argument(
        "--policy", type=Path, default=None, help="policy file (default: $DBPATCH_HOME/lab/policy.yaml)"
    )
    p.add_argument("--count", default="6", metavar="N", help=f"cycles per window, 1..{MAX_COUNT} (default 6)")
    p.add_argument(
        "--after", default=None, metavar="DATE", help="list cycles from this date, YYYY-MM-DD (default now)"
    )
    p.add_argument(
        "--ics", type=Path, default=None, metavar="FILE", help="also write the cycles to this .ics file"
    )
    p.set_defaults(func=run_calendar)


def run_calendar(args: argparse.Namespace) -> int:
    try:
        count = _count(args.count)
        after_day = _day(args.after) if args.after else None
        policy_path = args.policy or paths.lab() / "policy.yaml"
        policy = load_policy(policy_path)
        now = dt.datetime.now(dt.UTC)  # the CLI is where the wall clock is read
        text = render(policy, policy_path, count, after_day, now)
        if args.ics:
            events = write_ics(policy, args.ics, now, count, after_day)
            text += f"\nwrote {events} events to {args.ics}"
    except ConfigError as exc:
        for line in exc.problems:
            print(f"dbpatch calendar: {line}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"dbpatch calendar: cannot write {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2
    print(text)
    return 0


def render(
    policy: Policy, source: Path, count: int, after_day: dt.date | None, now: dt.datetime | None = None
) -> str:
    """The report as text: plan and blackouts, then each window with its next ``count`` instances (the same
    instances the ``.ics`` export holds: ``calendar.upcoming``)."""
    lines = [f"policy {source}: next {count} cycles per window", f"plan: {wave_plan(policy)}"]
    short = [w for w in policy.windows if policy.canary.bake_hours >= w.duration_hours - w.cutoff_hours]
    if policy.canary.count and short:
        names = ", ".join(f"{w.name} ({human_duration(_usable(w))})" for w in short)
        lines.append(
            f"note: the {policy.canary.bake_hours:g} h canary bake is longer than the time before the cutoff in "
            f"{names}: waves after a canary in the same window wait for its next instance"
        )
    for b in policy.blackouts:
        lines.append(f"blackout: {b.name} {b.start}..{b.end} ({b.action})")
    if not policy.windows:
        lines.append("no maintenance windows defined: nothing is patched automatically")
    for window, instances in upcoming(policy, after_day, now or dt.datetime.now(dt.UTC), count):
        lines += ["", _heading(window)]
        lines += [f"  {i.describe()}" for i in instances] or ["  (the rule has no further dates)"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point (``python -m cli.schedule calendar …``)."""
    parser = argparse.ArgumentParser(prog="dbpatch")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def _heading(window: MaintenanceWindow) -> str:
    scope = "; ".join(
        f"{label}: {', '.join(values)}"
        for label, values in (("environments", window.environments), ("groups", window.groups))
        if values
    )
    return (
        f"window {window.name} ({scope or 'no environments or groups'}): {window.rrule} at "
        f"{window.start:%H:%M} {window.timezone} for {window.duration_hours:g} h, "
        f"cutoff {window.cutoff_hours:g} h before the end"
    )


def _usable(window: MaintenanceWindow) -> dt.timedelta:
    return dt.timedelta(hours=max(0.0, window.duration_hours - window.cutoff_hours))


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--after: {text!r} is not a date (YYYY-MM-DD)") from None


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_COUNT:
        raise ConfigError(f"--count: {text!r} must be a whole number 1..{MAX_COUNT}")
    return value


if __name__ == "__main__":
    sys.exit(main())
