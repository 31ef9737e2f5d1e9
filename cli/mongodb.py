"""``dbpatch mongodb raise-fcv CLUSTER``: raise a replica set's featureCompatibilityVersion after the burn-in."""

from __future__ import annotations

import argparse
import datetime as dt

from dbpatch import paths
from dbpatch.models import load_inventory


def _moment(value: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date-time (YYYY-MM-DDTHH:MM[+00:00])") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _hours(value: str) -> float:
    try:
        hours = float(value)
    except ValueError:
        hours = -1.0
    if not 0 <= hours <= 8760:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of hours (0..8760)")
    return hours


def cmd_raise_fcv(args: argparse.Namespace) -> int:
    inventory = args.inventory or str(paths.lab() / "inventory.yaml")
    load_inventory(inventory).select([args.cluster])  # bad input fails here, before anything is contacted
    from flows.mongodb_fcv import raise_fcv

    run = raise_fcv(
        inventory, args.cluster, burn_in_hours=args.burn_in_hours, now=args.now, dry_run=args.dry_run
    )
    sim = " (simulated)" if run.simulated else ""
    print(f"  {run.cluster + sim:<28} {run.outcome.value:<9} {run.sentence}")
    for c in run.checks:
        print(f"      check {'ok  ' if c.ok else 'FAIL'} {c.name:<22} {c.sentence}")
    return 0 if run.ok else 1  # a failed or blocking check is never exit 0


def register(sub) -> None:
    p = sub.add_parser("mongodb", help="MongoDB operations outside a patch wave")
    ops = p.add_subparsers(dest="mongodb_command", required=True)
    f = ops.add_parser(
        "raise-fcv", help="raise featureCompatibilityVersion after a major roll and its burn-in"
    )
    f.add_argument("cluster", help="replica set (cluster name in the inventory)")
    f.add_argument("--inventory", default=None, help="inventory YAML (default: the lab's)")
    f.add_argument("--burn-in-hours", type=_hours, default=168.0, help="hours since the roll (default 168)")
    f.add_argument("--now", type=_moment, default=None, help="judge the burn-in as of this moment (ISO 8601)")
    f.add_argument("--dry-run", action="store_true", help="say what would run; change nothing")
    f.set_defaults(func=cmd_raise_fcv)
