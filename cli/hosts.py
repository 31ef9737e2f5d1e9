"""``dbpatch lab hosts up|down|status``: the host lab of real Debian 12 hosts (``lab.hosts``).

Registered onto the ``lab`` command: ``lab``'s action gains the choice ``hosts``, followed by the host lab's own
action. ``dbpatch lab up|down|status`` is unchanged.
"""

from __future__ import annotations

import argparse
import time

HOSTS_ACTIONS = ("up", "down", "status")


def cmd_hosts(args: argparse.Namespace) -> int:
    from lab.hosts import HostLab

    action = args.hosts_action or "status"
    lab = HostLab(net=args.net, root_login=True if args.root_login else None)
    if action == "up":
        lab.up()
        t0 = time.monotonic()
        lab.save_blocks()
        print(f"hosts: SSH and credentials blocks saved ({time.monotonic() - t0:.1f}s)", flush=True)
        print(
            f"hosts: patch them with: dbpatch patch --inventory {lab.inventory_path} --policy {lab.policy_path}"
        )
    elif action == "down":
        lab.down(destroy=args.destroy)
    for row in lab.status():
        state = "running" if row["running"] else "stopped"
        print(
            f"  {row['host']:<12} {row['address']:<12} {row['installed'] or '-':<17} {state:<8} postgres {row['postgres']}"
        )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    lab = sub.choices["lab"]
    for action in lab._actions:
        if action.dest == "action" and action.choices is not None:
            action.choices = [*action.choices, "hosts"]
    lab.add_argument(
        "hosts_action",
        nargs="?",
        choices=HOSTS_ACTIONS,
        help="with 'hosts': up, down or status of the host lab",
    )
    lab.add_argument(
        "--net", default=None, help="with 'hosts': the hosts' 127.0.N network (default 127.0.10)"
    )
    lab.add_argument(
        "--root-login",
        action="store_true",
        help="with 'hosts up': the inventory logs in as root, not dbpatch",
    )
    loopback_lab = lab.get_default("func")

    def dispatch(args: argparse.Namespace) -> int:
        if args.action == "hosts":
            return cmd_hosts(args)
        if args.hosts_action:
            lab.error(
                f"unexpected argument {args.hosts_action!r} (did you mean 'lab hosts {args.hosts_action}'?)"
            )
        return loopback_lab(args)

    lab.set_defaults(func=dispatch)
