"""``dbpatch patch``: run the patch_wave flow ad hoc (``--dry-run`` prints every step and changes nothing)."""

from __future__ import annotations

import argparse

from pydantic import ValidationError

from dbpatch import paths
from dbpatch.errors import ConfigError
from dbpatch.models import format_validation_error, load_inventory, load_policy


def parameters(args: argparse.Namespace):
    from flows.patch_wave import WaveParameters

    raw = {
        "inventory_path": args.inventory or str(paths.home() / "lab" / "inventory.yaml"),
        "policy_path": args.policy or str(paths.home() / "lab" / "policy.yaml"),
        "targets": args.targets or None, "dry_run": args.dry_run, "max_concurrency": args.max_concurrency,
        "max_errors": args.max_errors, "switch_back": args.switch_back, "write_probe": args.probe,
        "version": args.version, "on": args.on, "wave": args.wave,
    }
    try:
        params = WaveParameters.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error("parameters", exc)) from None
    inventory = load_inventory(params.inventory_path)
    load_policy(params.policy_path)
    inventory.select(params.targets)
    return params


def cmd_patch(args: argparse.Namespace) -> int:
    params = parameters(args)
    from flows.patch_wave import patch_wave

    result = patch_wave(params)
    for run in result.runs:
        if params.dry_run:
            print("\n".join(run.describe_plan()))
            for c in run.checks:
                print(f"      check {'ok  ' if c.ok else 'FAIL'} {c.name:<22} {c.sentence}")
        else:
            sim = " (simulated)" if run.simulated else ""
            probe = run.probe or {}
            extra = (f" [max write gap {probe['probe_max_write_gap_s']} s, failed writes {probe['probe_failed_writes']},"
                     f" lost writes {probe['probe_lost_writes']}]") if probe else ""
            print(f"  {run.cluster + sim:<28} {run.outcome.value:<12} {run.sentence}{extra}")
    if result.halted:
        print(f"wave halted after {result.failed} failed cluster(s)")
    print(f"report: {result.report}")
    return 1 if result.failed else 0


def register(sub) -> None:
    p = sub.add_parser("patch", help="run the patch_wave flow (minor patches to the approved versions)")
    p.add_argument("--inventory", default=None, help="inventory YAML (default: the lab's)")
    p.add_argument("--policy", default=None, help="policy YAML (default: the lab's)")
    p.add_argument("--targets", nargs="*", help="only these targets or clusters")
    p.add_argument("--dry-run", action="store_true", help="print the full plan; change nothing")
    p.add_argument("--max-concurrency", type=int, default=2)
    p.add_argument("--max-errors", default="1", help="failed clusters that halt the wave: N or N%%")
    p.add_argument("--switch-back", action="store_true", help="switch back to the original primary afterwards")
    p.add_argument("--probe", action="store_true", help="measure client downtime with a write probe")
    p.add_argument("--version", default=None, help="target version instead of the approved one")
    p.add_argument("--on", default=None, help="approved version as of this date (YYYY-MM-DD)")
    p.add_argument("--wave", default="ad-hoc")
    p.set_defaults(func=cmd_patch)
