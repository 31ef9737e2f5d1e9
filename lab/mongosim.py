"""Simulated MongoDB replica set for the lab: real wire protocol (mockupdb), driven like a real host.

No MongoDB server can be installed here, so lab MongoDB targets are members of this simulator. pymongo talks to
them as to any mongod; stop / install / start go through ``ctl``, the simulated host's systemctl and package
manager. Everything it prints says "simulated".

    python -m lab.mongosim serve --state DIR --set-name mongo-catalog --members 3 --version 7.0.12 --base-port P
    python -m lab.mongosim ctl --state DIR status [MEMBER] [--json]
    python -m lab.mongosim ctl --state DIR {stop|start} MEMBER
    python -m lab.mongosim ctl --state DIR install VERSION MEMBER
    python -m lab.mongosim ctl --state DIR versions [SERIES]
    python -m lab.mongosim ctl --state DIR fault NAME [MEMBER] [--value X]

MEMBER is a port or ``127.0.0.1:port``. ctl exits 0 on success, 1 when refused (e.g. install while running),
2 on bad usage, 3 for ``status`` of a stopped member (as ``systemctl status``), 4 when nothing serves DIR.
Faults: recovering, rollback, initial-sync, never-catches-up (member; the member must be a secondary),
lag --value SECONDS, oplog-window --value HOURS (member), crash-on-start (member: a start under any version
but the one it runs now fails, as a bad build would), no-electable, fcv-mismatch (set-wide), clear [MEMBER].
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import Any

EXIT_REFUSED, EXIT_STOPPED, EXIT_NOT_SERVING = 1, 3, 4
FAULT_NAMES = ("recovering", "rollback", "lag", "initial-sync", "never-catches-up", "oplog-window", "no-electable",
               "fcv-mismatch", "crash-on-start", "clear")  # fmt: skip


def request(state_dir: str | Path, payload: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
    """Send one request to the simulator serving ``state_dir``; ``ConnectionError`` when none does."""
    path = Path(state_dir) / "ctl.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise ConnectionError(
                f"no simulated replica set serves {state_dir} (start `mongosim serve`)"
            ) from exc
        sock.sendall(json.dumps(payload).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return json.loads(data or b'{"ok": false, "message": "no answer"}')


def _serve(args: argparse.Namespace) -> int:
    from lab.mongo_replset import SimConfig
    from lab.mongo_server import Simulator, load_repository

    config = SimConfig(
        set_name=args.set_name, members=args.members, version=args.version, fcv=args.fcv, lag_seconds=args.lag,
        startup_seconds=args.startup_seconds, catchup_seconds=args.catchup_seconds,
        election_seconds=args.election_seconds, failover_seconds=args.failover_seconds, oplog_hours=args.oplog_hours,
    )  # fmt: skip
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    sim = Simulator(config, args.state, base_port=args.base_port, repository=load_repository(args.repository))
    try:
        sim.start()
    except OSError as exc:
        print(f"mongosim: cannot start simulated replica set: {exc}", file=sys.stderr)
        sim.close()
        return 1
    print(f"simulated replica set {config.set_name} ready: {sim.uri}", flush=True)
    try:
        stop.wait()
    finally:
        sim.close()
    return 0


def _ctl(args: argparse.Namespace) -> int:
    payload: dict[str, Any] = {"cmd": args.action}
    if args.action == "install":
        payload.update(version=args.version, member=args.member)
    elif args.action == "versions":
        payload["series"] = args.series
    elif args.action == "fault":
        payload.update(name=args.name, member=args.member, value=args.value)
    else:
        payload["member"] = args.member
    try:
        reply = request(args.state, payload)
    except ConnectionError as exc:
        print(f"mongosim: {exc}", file=sys.stderr)
        return EXIT_NOT_SERVING
    if not reply.get("ok"):
        print(f"mongosim (simulated): {reply.get('message')}", file=sys.stderr)
        return EXIT_REFUSED
    if args.action == "status" and getattr(args, "json", False):
        print(json.dumps(reply.get("data"), indent=1))
    elif args.action in ("versions", "status"):
        print(reply.get("message", ""))
    else:
        print(f"{reply.get('message')} (simulated)")
    if args.action == "status" and args.member and not reply["data"][0]["running"]:
        return EXIT_STOPPED
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mongosim", description="Simulated MongoDB replica set (mockupdb).")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run a simulated replica set until SIGTERM")
    s.add_argument("--state", required=True, help="state directory (control socket, topology.json)")
    s.add_argument("--set-name", default="rs0")
    s.add_argument("--members", type=int, default=3, choices=range(1, 8), metavar="N")
    s.add_argument("--version", default="7.0.12", help="mongod version every member starts with")
    s.add_argument("--fcv", default=None, help="featureCompatibilityVersion (default: the version's series)")
    s.add_argument("--base-port", type=int, default=0, help="first member's port (0: pick free ports)")
    s.add_argument("--lag", type=float, default=0.0, help="steady-state lag of secondaries, seconds")
    s.add_argument("--startup-seconds", type=float, default=1.0, help="time in STARTUP2 after a start")
    s.add_argument(
        "--catchup-seconds", type=float, default=1.5, help="time a restarted member takes to catch up"
    )
    s.add_argument("--election-seconds", type=float, default=0.5, help="election delay after a stepDown")
    s.add_argument(
        "--failover-seconds", type=float, default=10.0, help="election delay after losing a primary"
    )
    s.add_argument("--oplog-hours", type=float, default=48.0, help="oplog window of every member")
    s.add_argument("--repository", default=None, help="releases JSON listing installable versions")
    c = sub.add_parser("ctl", help="control a running simulator (systemctl / package manager of the host)")
    c.add_argument("--state", required=True, help="state directory of the simulator")
    actions = c.add_subparsers(dest="action", required=True)
    st = actions.add_parser("status")
    st.add_argument("member", nargs="?")
    st.add_argument("--json", action="store_true")
    for name in ("stop", "start"):
        actions.add_parser(name).add_argument("member")
    i = actions.add_parser("install")
    i.add_argument("version")
    i.add_argument("member")
    actions.add_parser("versions").add_argument("series", nargs="?")
    f = actions.add_parser("fault")
    f.add_argument("name", choices=FAULT_NAMES)
    f.add_argument("member", nargs="?")
    f.add_argument("--value", type=float, default=None)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return _serve(args) if args.command == "serve" else _ctl(args)


if __name__ == "__main__":
    sys.exit(main())
