"""``dbpatch``: ad-hoc runs of the flows, the lab, and the new-build gate.

Input is validated before any flow starts, so bad input is one line per problem on stderr and exit 2, never a
traceback, and nothing is contacted. Exit 1 means the run itself failed or found drift (``--fail-on-drift``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# Without PREFECT_API_URL every command starts Prefect's temporary server; on a busy 2-core host its default
# 20 s start-up budget runs out ("Timed out while attempting to connect to ephemeral Prefect API server").
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")

from dbpatch import paths  # noqa: E402
from dbpatch.errors import ConfigError, PatchError  # noqa: E402


def _default(name: str) -> str:
    return str(paths.lab() / name)


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def _add_files(p: argparse.ArgumentParser, policy: bool = True) -> None:
    p.add_argument("--inventory", default=None, help="inventory YAML (default: the lab's)")
    if policy:
        p.add_argument("--policy", default=None, help="policy YAML (default: the lab's)")


def _inputs(args: argparse.Namespace) -> tuple[str, str | None]:
    """Validate the files and the parameters of a command before any flow starts (bad input: exit 2)."""
    from dbpatch.models import load_inventory, load_policy

    inventory = args.inventory or _default("inventory.yaml")
    loaded = load_inventory(inventory)
    policy = None
    if hasattr(args, "policy"):  # commands that take a policy validate it too
        policy = args.policy or _default("policy.yaml")
        load_policy(policy)
    if getattr(args, "targets", None) is not None:
        check_targets(loaded, args.targets)
    return inventory, policy


def check_targets(inventory, names: list[str]) -> None:
    """``--targets``: at least one name, each a target or cluster of the inventory (else one line, exit 2)."""
    if not names:
        raise ConfigError("parameters: targets: name at least one target or cluster (omit --targets for all)")
    inventory.select(names)


# --- commands ----------------------------------------------------------------------------------------------


def cmd_lab(args: argparse.Namespace) -> int:
    from lab.lab import Lab

    lab = Lab(base_port=args.base_port)
    if args.action == "up":
        lab.up()
        _save_lab_blocks(lab)
    elif args.action == "down":
        lab.down(destroy=args.destroy)
    for row in lab.status():
        print(
            f"  {row['node']:<14} 127.0.0.1:{row['port']:<6} {row['installed'] or '-':<7} {'running' if row['running'] else 'stopped'}"
        )
    return 0


def _save_lab_blocks(lab) -> None:
    t0 = time.monotonic()
    lab.save_blocks()
    print(f"lab: credentials blocks saved ({time.monotonic() - t0:.1f}s)", flush=True)


def cmd_scan(args: argparse.Namespace) -> int:
    inventory, _ = _inputs(args)
    from flows.scan import inventory_scan

    facts = inventory_scan(inventory, targets=args.targets or None)
    for f in facts:
        state = f"{f.role.value:<9} {f.version}" if f.reachable else f.error
        sim = " (simulated)" if f.simulated else ""
        print(f"  {f.target + sim:<26} {state}")
    return 0


def _print_drift(rows: list[dict]) -> None:
    print(f"  {'target':<30} {'version':<10} {'approved':<10} {'status':<12} {'health':<13} detail")
    for r in rows:
        name = r["target"] + (" (simulated)" if r["simulated"] else "")
        health = r.get("health") or "-"
        detail = r["detail"] or ""
        if health not in ("healthy", "-") and r.get("health_detail"):
            detail = (
                f"{detail}; cluster: {r['health_detail']}" if detail else f"cluster: {r['health_detail']}"
            )
        print(
            f"  {name:<30} {r['version'] or '-':<10} {r['approved'] or '-':<10} {r['status']:<12} {health:<13} {detail}"
        )


def cmd_report(args: argparse.Namespace) -> int:
    inventory, policy = _inputs(args)
    assert policy is not None
    from flows.drift import drift_report

    result = drift_report(inventory, policy, on=args.on, targets=args.targets or None, fail_on_drift=False)
    _print_drift(result.rows)
    print(f"report: {result.html}\nreport: {result.csv}")
    return 1 if args.fail_on_drift and result.non_compliant else 0


def cmd_demo(args: argparse.Namespace) -> int:
    """The main job on the local lab: bring it up, scan, drift report, say where the report is."""
    started = time.monotonic()
    from lab.lab import Lab

    lab = Lab(base_port=args.base_port)
    lab.up()
    _save_lab_blocks(lab)
    from flows.drift import drift_report

    result = drift_report(str(lab.inventory_path), str(lab.policy_path))
    print()
    _print_drift(result.rows)
    print(f"\nreport: {result.html}\nreport: {result.csv}")
    print(f"elapsed: {time.monotonic() - started:.1f}s")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    inventory, policy = _inputs(args)
    assert policy is not None
    for line in _catalog_warnings(policy):
        print(line, file=sys.stderr)
    print(f"ok: {inventory}\nok: {policy}")
    return 0


def _catalog_warnings(policy_path: str) -> list[str]:
    """Approved or rejected versions the release catalog does not know (a typo, or newer than the catalog)."""
    from dbpatch.models import load_policy
    from tasks.catalog.catalog import load_catalog

    try:
        catalog = load_catalog()
    except ConfigError as exc:
        return [f"warning: catalog not checked: {exc.problems[0]}"]
    out = []
    for engine, majors in load_policy(policy_path).baselines.items():
        for major, baseline in majors.items():
            for field in ("approved", "rejected"):
                for i, version in enumerate(getattr(baseline, field)):
                    if catalog.release(engine, version) is None:
                        out.append(
                            f"warning: {Path(policy_path).name}: baselines.{engine.value}.{major}.{field}[{i}]: "
                            f"{version} is not in the release catalog (refresh it: dbpatch catalog refresh)"
                        )
    return out


def cmd_schema(args: argparse.Namespace) -> int:
    from dbpatch.models import json_schemas

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, schema in json_schemas().items():
        (out / f"{name}.schema.json").write_text(json.dumps(schema, indent=2) + "\n")
        print(out / f"{name}.schema.json")
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (``dbpatch: error: …``) and exit status 2, without the usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="dbpatch", description="Patch database fleets to an approved baseline.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "lab", help="the local lab: real PostgreSQL servers and a simulated MongoDB replica set"
    )
    p.add_argument("action", choices=["up", "down", "status"])
    p.add_argument("--base-port", type=int, default=None, help="first port of the lab (default 54320)")
    p.add_argument("--destroy", action="store_true", help="with down: delete the lab's data directories")
    p.set_defaults(func=cmd_lab)

    p = sub.add_parser("demo", help="main job on the lab: lab up, scan, drift report")
    p.add_argument("--base-port", type=int, default=None)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("scan", help="run the inventory_scan flow")
    _add_files(p, policy=False)
    p.add_argument("--targets", nargs="*", help="only these targets or clusters")
    p.set_defaults(func=cmd_scan)

    p = sub.add_parser("report", help="run the drift_report flow")
    _add_files(p)
    p.add_argument("--targets", nargs="*", help="only these targets or clusters")
    p.add_argument("--on", type=_date, default=None, help="assess the baseline as of this date")
    p.add_argument("--fail-on-drift", action="store_true", help="exit 1 when any target is not compliant")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("validate", help="check inventory and policy files only")
    _add_files(p)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("schema", help="write JSON Schemas of inventory and policy for editors")
    p.add_argument("--out", default="docs/schema")
    p.set_defaults(func=cmd_schema)

    from cli import catalog, mongodb, patch, schedule

    for module in (patch, catalog, schedule, mongodb):
        module.register(sub)
    __import__("cli.hosts").hosts.register(sub)  # `lab hosts up|down|status` (cli/hosts.py)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return 2
    except PatchError as exc:
        print(f"dbpatch: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("dbpatch: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
