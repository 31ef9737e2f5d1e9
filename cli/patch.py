"""``dbpatch patch``: run the patch_wave flow ad hoc (``--dry-run`` prints every step and changes nothing)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from pydantic import ValidationError

from dbpatch import paths
from dbpatch.errors import ConfigError
from dbpatch.models import format_validation_error, load_inventory, load_policy


def _env_flag(name: str) -> bool:
    """``DBPATCH_ASSUME_YES=1`` / ``DBPATCH_IGNORE_WINDOWS=1``: the flags, for pipelines and test harnesses
    that run ``dbpatch patch`` through a wrapper whose arguments they do not control."""
    return os.environ.get(name, "") == "1"


def parameters(args: argparse.Namespace):
    from flows.patch_wave import WaveParameters

    raw = {
        "inventory_path": args.inventory or str(paths.lab() / "inventory.yaml"),
        "policy_path": args.policy or str(paths.lab() / "policy.yaml"),
        "targets": args.targets or None,
        "dry_run": args.dry_run,
        "max_concurrency": args.max_concurrency,
        "max_errors": args.max_errors,
        "enforce_windows": not (args.ignore_windows or _env_flag("DBPATCH_IGNORE_WINDOWS")),
        "switch_back": args.switch_back,
        "write_probe": args.probe,
        "version": args.version,
        "on": args.on,
        "wave": args.wave,
    }
    try:
        params = WaveParameters.model_validate({k: v for k, v in raw.items() if v is not None})
    except ValidationError as exc:
        raise ConfigError(format_validation_error("parameters", exc)) from None
    inventory = load_inventory(params.inventory_path)
    policy = load_policy(params.policy_path)
    # the policy's limits apply unless a flag overrides them (windows: unless --ignore-windows)
    params = params.model_copy(
        update={
            "max_concurrency": policy.waves.max_concurrency
            if args.max_concurrency is None
            else params.max_concurrency,
            "max_errors": policy.waves.max_errors if args.max_errors is None else params.max_errors,
        }
    )
    selected = inventory.select(params.targets)
    if not params.dry_run:
        confirm_gated(selected, policy, args.yes or _env_flag("DBPATCH_ASSUME_YES"))
    return params


def confirm_gated(inventory, policy, yes: bool) -> None:
    """Before touching prod (or any environment the policy's waves need approval for): ask on a terminal;
    without one, ``--yes`` is required (refused with exit 2, nothing contacted)."""
    import sys

    gated = {"prod", *policy.waves.approval_required}
    clusters = sorted({t.cluster_name for t in inventory.targets if t.environment in gated})
    if not clusters or yes:
        return
    what = f"{len(clusters)} cluster(s) in {', '.join(sorted(gated))} ({', '.join(clusters)})"
    if not sys.stdin.isatty():
        raise ConfigError(f"parameters: yes: {what}: patching them needs --yes (no terminal to ask)")
    answer = input(f"patch {what}? [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise ConfigError(f"parameters: yes: not confirmed: {what} left alone")


def check_parameters(args: argparse.Namespace) -> None:
    """Parameters a flow would only refuse once it runs: refused here, before any flow starts (exit 2)."""
    from dbpatch import rules
    from tasks.cycle import CycleState

    problems = []
    if getattr(args, "targets", None) == []:
        problems.append("parameters: targets: name at least one target or cluster (omit --targets for all)")
    for name, check in (("on", rules.date), ("cycle_id", rules.cycle_id), ("max_errors", rules.max_errors)):
        value = getattr(args, name, None)
        try:
            if value is not None:
                check(value)
        except ValueError as exc:
            problems.append(f"parameters: {name}: {exc}")
    if problems:
        raise ConfigError(problems)
    if (
        getattr(args, "phase", None) == "waves"
        and args.cycle_id
        and not CycleState.path(args.cycle_id).is_file()
    ):
        raise ConfigError(
            f"parameters: cycle_id: no cycle {args.cycle_id!r} in {CycleState.path(args.cycle_id).parent}"
        )


def cmd_patch(args: argparse.Namespace) -> int:
    check_parameters(args)
    params = parameters(args)
    import datetime as dt

    from flows.patch_wave import patch_wave

    started = dt.datetime.now(dt.UTC)
    try:
        result = patch_wave(params)
    except KeyboardInterrupt:
        report_interrupted(params, started)
        raise
    for run in result.runs:
        if params.dry_run:
            print("\n".join(run.describe_plan()))
            for c in run.checks:
                print(f"      check {'ok  ' if c.ok else 'FAIL'} {c.name:<22} {c.sentence}")
        else:
            sim = " (simulated)" if run.simulated else ""
            probe = run.probe or {}
            extra = (
                (
                    f" [max write gap {probe['probe_max_write_gap_s']} s, failed writes {probe['probe_failed_writes']},"
                    f" lost writes {probe['probe_lost_writes']}]"
                )
                if probe
                else ""
            )
            print(f"  {run.cluster + sim:<28} {run.outcome.value:<12} {run.sentence}{extra}")
    if result.halted:
        print(f"wave halted after {result.failed} failed cluster(s)")
    print(f"report: {result.report}")
    from tasks.patching import exit_code

    return exit_code([run.outcome for run in result.runs])


def report_interrupted(params, started) -> None:
    """Ctrl-C: the run still leaves a report, marked interrupted, from what the journals say (exit 130)."""
    import sys

    from reports.interrupted import publish_interrupted

    try:
        html = publish_interrupted(
            params.inventory_path,
            params.policy_path,
            params.targets,
            params.wave,
            started,
            Path(params.reports_dir) if params.reports_dir else None,
        )
        print(f"interrupted; report: {html}", file=sys.stderr)
    except Exception as exc:  # noqa: BLE001 - the interrupt is what the operator must see
        print(f"interrupted; no report written: {type(exc).__name__}: {exc}", file=sys.stderr)


def register(sub) -> None:
    p = sub.add_parser("patch", help="run the patch_wave flow (minor patches to the approved versions)")
    p.add_argument("--inventory", default=None, help="inventory YAML (default: the lab's)")
    p.add_argument("--policy", default=None, help="policy YAML (default: the lab's)")
    p.add_argument("--targets", nargs="*", help="only these targets or clusters")
    p.add_argument("--dry-run", action="store_true", help="print the full plan; change nothing")
    p.add_argument(
        "--max-concurrency", type=int, default=None, help="clusters at once (default: the policy's waves)"
    )
    p.add_argument(
        "--max-errors",
        default=None,
        help="failed clusters that halt the wave: N or N%% (default: the policy's)",
    )
    p.add_argument(
        "--ignore-windows", action="store_true", help="start clusters outside their maintenance windows"
    )
    p.add_argument("--yes", action="store_true", help="do not ask before patching prod (pipelines)")
    p.add_argument(
        "--switch-back", action="store_true", help="switch back to the original primary afterwards"
    )
    p.add_argument("--probe", action="store_true", help="measure client downtime with a write probe")
    p.add_argument("--version", default=None, help="target version instead of the approved one")
    p.add_argument("--on", default=None, help="approved version as of this date (YYYY-MM-DD)")
    p.add_argument("--wave", default="ad-hoc")
    p.set_defaults(func=cmd_patch)
    register_cycle(sub)


def refuse_secret_parameter(url: str | None) -> None:
    """A webhook URL is never a parameter: flow-run parameters are stored in plain text in the Prefect
    database (UI, API), and webhook URLs carry tokens. Any URL is refused, not only ones that look secret."""
    if url:
        raise ConfigError(
            "parameters: webhook: a URL is not accepted (it would be stored with its token in the Prefect "
            "database); save it in a Secret block and pass --webhook-block NAME"
        )


def cmd_cycle(args: argparse.Namespace) -> int:
    if args.release_lock:
        return release_lock()
    refuse_secret_parameter(args.webhook)
    check_parameters(args)
    inventory = args.inventory or str(paths.lab() / "inventory.yaml")
    policy = args.policy or str(paths.lab() / "policy.yaml")
    load_inventory(inventory)
    load_policy(policy)
    if args.phase == "waves" and not args.cycle_id:
        raise ConfigError("parameters: cycle_id: required with --phase waves")
    from flows.patch_cycle import CycleNotApproved, patch_cycle

    bake = None if args.bake_seconds is None else args.bake_seconds / 3600
    refused = False
    try:
        state = patch_cycle(
            inventory,
            policy,
            phase=args.phase,
            cycle_id=args.cycle_id,
            bake_hours=bake,
            max_inline_bake_seconds=(args.bake_seconds + 60) if args.bake_seconds is not None else 0,
            enforce_windows=not args.ignore_windows,
            webhook_block=args.webhook_block,
            approval_timeout_seconds=args.approval_timeout,
            write_probe=args.probe,
        )
    except CycleNotApproved as exc:
        state, refused = exc.state, True
    for row in state["rows"]:
        print(f"  {row['wave']:<10} {row['cluster']:<28} {row['outcome']:<10} {row['detail']}")
    print(f"cycle {state['cycle_id']}: {state['result'] or 'baking until ' + str(state['bake_until'])}")
    if state.get("report"):
        print(f"report: {state['report']}")
    if state["failed"]:
        return 1
    return 3 if refused else 0


def release_lock() -> int:
    """``dbpatch cycle --release-lock``: free the fleet's cycle lock left by a cycle that was killed."""
    from dbpatch import locks

    held = locks.force_release()
    print(
        f"released {locks.CYCLE_LOCK}, held by {held.sentence()}" if held else f"{locks.CYCLE_LOCK}: not held"
    )
    return 0


def register_cycle(sub) -> None:
    p = sub.add_parser("cycle", help="run the patch_cycle flow: canary, bake, waves")
    p.add_argument("--inventory", default=None)
    p.add_argument("--policy", default=None)
    p.add_argument("--phase", choices=["start", "waves"], default="start")
    p.add_argument("--cycle-id", default=None, help="resume this cycle (with --phase waves)")
    p.add_argument("--bake-seconds", type=float, default=None, help="shorten the canary bake (lab: e.g. 5)")
    p.add_argument("--ignore-windows", action="store_true", help="ad-hoc run outside maintenance windows")
    p.add_argument("--webhook-block", default=None, help="POST JSON events to the URL in this Secret block")
    p.add_argument("--webhook", default=None, help=argparse.SUPPRESS)  # refused: see refuse_secret_parameter
    p.add_argument(
        "--probe", action="store_true", help="measure each cluster's client downtime (write probe)"
    )
    p.add_argument(
        "--approval-timeout", type=int, default=4 * 3600, help="seconds to wait for a wave approval"
    )
    p.add_argument(
        "--release-lock", action="store_true", help="free the cycle lock of a killed cycle (see the runbook)"
    )
    p.set_defaults(func=cmd_cycle)
