"""Prefect schedules derived from the policy's maintenance windows, one cycle deployment per window.

``python -m deployments.schedules POLICY`` prints ``deployments:`` entries to paste into prefect.yaml, so
each window (environment or group) starts its cycle at its own local time. The window's RRULE gives the
day; BYHOUR/BYMINUTE from ``start`` give the time; ``timezone`` keeps it local across DST changes.
"""

from __future__ import annotations

import sys
from typing import Any

import yaml

from dbpatch.errors import ConfigError
from dbpatch.models import MaintenanceWindow, Policy, load_policy

CYCLE_ENTRYPOINT = "flows/patch_cycle.py:patch_cycle"
WORK_POOL = "dbpatch-pool"


def timezone_slug(timezone: str) -> str:
    """``Europe/Berlin`` → ``europe-berlin`` (schedule slugs: lowercase letters, digits and dashes)."""
    return timezone.lower().replace("/", "-").replace("_", "-")


def window_schedule(window: MaintenanceWindow) -> dict[str, str]:
    """A prefect.yaml schedule entry (``rrule`` + ``timezone``) that fires when ``window`` opens; its ``slug``
    names the start time and the timezone, which the UI does not show next to an RRULE."""
    parts = [p for p in window.rrule.removeprefix("RRULE:").split(";") if p]
    if any(p.upper().startswith(("BYHOUR=", "BYMINUTE=", "BYSECOND=")) for p in parts):
        raise ConfigError(f"window {window.name}: rrule sets the time of day; use the window's start instead")
    parts += [f"BYHOUR={window.start.hour}", f"BYMINUTE={window.start.minute}"]
    return {
        "rrule": ";".join(parts),
        "timezone": window.timezone,
        "slug": f"{window.name}-{window.start:%H%M}-{timezone_slug(window.timezone)}",
    }


def cycle_deployment(window: MaintenanceWindow, inventory_path: str, policy_path: str) -> dict[str, Any]:
    """A prefect.yaml deployment entry running the patch cycle when ``window`` opens."""
    scope = ", ".join(window.environments + window.groups) or "no environments or groups"
    return {
        "name": f"patch-cycle-{window.name}",
        "description": f"Patch cycle for window {window.name} ({scope}).",
        "entrypoint": CYCLE_ENTRYPOINT,
        "tags": ["dbpatch", "patch", f"window:{window.name}"],
        "work_pool": {"name": WORK_POOL, "work_queue_name": "default"},
        "concurrency_limit": 1,
        "parameters": {"inventory_path": inventory_path, "policy_path": policy_path},
        "schedules": [window_schedule(window)],
    }


def cycle_deployments(policy: Policy, inventory_path: str, policy_path: str) -> list[dict[str, Any]]:
    return [cycle_deployment(w, inventory_path, policy_path) for w in policy.windows]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (1, 2):
        print("usage: python -m deployments.schedules POLICY [INVENTORY]", file=sys.stderr)
        return 2
    policy_path, inventory_path = args[0], args[1] if len(args) == 2 else ".lab/inventory.yaml"
    try:
        entries = cycle_deployments(load_policy(policy_path), inventory_path, policy_path)
    except ConfigError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return 2
    print(yaml.safe_dump({"deployments": entries}, sort_keys=False, allow_unicode=True), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
