"""The lab's simulated MongoDB replica set: a detached ``mongosim serve`` process with its state under the lab root.

Like the lab's PostgreSQL nodes it is idempotent (a second ``up`` reuses what runs; a restart keeps the versions
"installed" last time), stopped by ``lab down`` and listed by ``lab status``. Everything it shows says
"simulated": no real mongod runs here.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dbpatch.errors import PatchError
from lab.mongosim import request

SET_NAME = "mongo-catalog"
VERSION = "7.0.12"  # an old 7.0 patch, so the lab has something to patch
MEMBERS = 3
PORT_OFFSET = 10  # members listen on the lab's base port + 10, + 11, + 12
CREDENTIALS_BLOCK = "lab-mongodb"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0


@dataclass
class LabReplicaSet:
    root: Path  # the lab's root directory
    base_port: int
    name: str = SET_NAME
    version: str = VERSION
    members: int = MEMBERS
    environment: str = "test"

    @property
    def state_dir(self) -> Path:
        return self.root / "mongo" / self.name

    @property
    def ports(self) -> list[int]:
        return [self.base_port + PORT_OFFSET + i for i in range(self.members)]

    def member_name(self, index: int) -> str:
        return f"{self.name}-{index + 1}"

    # --- lifecycle ---------------------------------------------------------------------------------------

    def _status(self) -> list[dict[str, Any]] | None:
        try:
            reply = request(self.state_dir, {"cmd": "status"}, timeout=5)
        except (ConnectionError, OSError, ValueError):
            return None
        return reply.get("data") if reply.get("ok") else None

    def up(self) -> None:
        """Start the simulator unless it already serves the state directory."""
        running = self._status()
        if running:
            versions = ", ".join(sorted({m["version"] for m in running}))
            print(f"lab: {self.name} (simulated) already running on 127.0.0.1:{self.ports[0]}-{self.ports[-1]} ({versions})", flush=True)  # fmt: skip
            return
        started = time.monotonic()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        log = self.state_dir / "mongosim.log"
        argv = [sys.executable, "-m", "lab.mongosim", "serve", "--state", str(self.state_dir),
                "--set-name", self.name, "--members", str(self.members), "--version", self.version,
                "--base-port", str(self.ports[0])]  # fmt: skip
        with log.open("ab") as out:
            proc = subprocess.Popen(  # noqa: S603 - argument list, no shell
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=self.state_dir,
                start_new_session=True,  # detached: outlives `dbpatch lab up`
            )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT
        while not (running := self._status()):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
                if proc.poll() is None:
                    proc.terminate()
                raise PatchError(f"lab: simulated replica set {self.name} did not start: {tail[0]}")
            time.sleep(0.1)
        versions = ", ".join(sorted({m["version"] for m in running}))
        print(f"lab: {self.name} (simulated) started on 127.0.0.1:{self.ports[0]}-{self.ports[-1]} ({versions}) "
              f"in {time.monotonic() - started:.1f}s", flush=True)  # fmt: skip

    def pid(self) -> int | None:
        """The simulator's process id, when a simulator serving this state directory runs."""
        try:
            pid = int(json.loads((self.state_dir / "topology.json").read_text())["pid"])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, KeyError):
            return None
        ours = b"lab.mongosim" in cmdline and str(self.state_dir).encode() in cmdline
        return pid if ours else None

    def down(self, destroy: bool = False) -> None:
        """Stop the simulator (SIGTERM to the process this lab started); ``destroy`` removes its state too."""
        pid = self.pid()
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_TIMEOUT
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        if destroy:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def status(self) -> list[dict[str, Any]]:
        running = self._status()
        saved = self._saved_versions()
        rows = []
        for i, port in enumerate(self.ports):
            member = running[i] if running and i < len(running) else None
            rows.append({
                "node": f"{self.member_name(i)} (simulated)", "port": port,
                "installed": member["version"] if member else saved.get(i),
                "running": bool(member and member["running"]), "data": str(self.state_dir), "simulated": True,
            })  # fmt: skip
        return rows

    def _saved_versions(self) -> dict[int, str]:
        try:
            saved = json.loads((self.state_dir / "state.json").read_text())
        except (OSError, ValueError):
            return {}
        return {i: m.get("version") for i, m in enumerate(saved.get("members", []))}

    # --- inventory and blocks ----------------------------------------------------------------------------

    def targets(self) -> list[dict[str, Any]]:
        return [
            {"name": self.member_name(i), "engine": "mongodb", "environment": self.environment, "cluster": self.name,
             "host": "127.0.0.1", "port": port, "credentials": CREDENTIALS_BLOCK, "access": "local",
             "package_source": "lab", "data_directory": str(self.state_dir), "tags": ["lab", "simulated"]}
            for i, port in enumerate(self.ports)
        ]  # fmt: skip

    def save_block(self) -> None:
        """The credentials block: no username, since the simulator runs without authentication."""
        from blocks.mongodb import MongoCredentials

        MongoCredentials(connect_timeout=2).save(CREDENTIALS_BLOCK, overwrite=True)


def _alive(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)  # reaps it when this process started it
        if done:
            return False
    except ChildProcessError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"  # a zombie has exited already
