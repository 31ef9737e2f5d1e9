"""The running simulator: one mockupdb server per member on 127.0.0.1, plus a control socket in the state
directory that ``mongosim ctl`` talks to (like systemctl and the package manager of a real host).

State directory layout: ``ctl.sock`` (control socket, mode 0600), ``topology.json`` (written once every member
listens: set name, members, pid), ``state.json`` (installed versions and FCV, so a restarted ``serve`` keeps
what was "installed").
"""

from __future__ import annotations

import functools
import json
import os
import select
import socket
import socketserver
import threading
from pathlib import Path
from typing import Any

from mockupdb import MockupDB

from lab.mongo_replset import FAULTS, Member, ReplicaSet, SimConfig, SimError, State, series_of
from lab.mongo_wire import WireHandler

# The simulator's "package repository": every 6.0, 7.0 and 8.0 patch release in dbpatch's MongoDB catalog
# (mongodb-releases.json, endoflife.date data up to 2026-08), without the patch numbers missing there.
_REPOSITORY = {"6.0": (29, ()), "7.0": (40, (33, 38)), "8.0": (29, (22, 27))}
DEFAULT_REPOSITORY = [
    f"{s}.{p}" for s, (last, gaps) in _REPOSITORY.items() for p in range(last + 1) if p not in gaps
]


def load_repository(path: str | Path | None) -> list[str]:
    """Versions the simulator can install: a releases JSON (``{"versions": [{"version": …}]}``) or a list."""
    if not path:
        return list(DEFAULT_REPOSITORY)
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    items = data.get("versions", []) if isinstance(data, dict) else data
    return [v["version"] if isinstance(v, dict) else str(v) for v in items]


class _Server(MockupDB):
    """mockupdb server that lets go of its port at once on stop(), so a member restarts on the same port.

    mockupdb 1.8 polls accept() with a 1 s select() and joins every thread for up to 10 s on stop(); while its
    accept thread sits in select(), the closed listening socket keeps the port in LISTEN. Here the accept loop
    polls every 50 ms and stop() waits for it before closing the socket.
    """

    def _accept_loop(self) -> None:
        listener = self._listening_sock
        listener.setblocking(False)
        while not self._stopped:
            try:
                ready, _, _ = select.select([listener], [], [], 0.05)
                if not ready:
                    continue
                client, address = listener.accept()
            except (OSError, ValueError):
                if self._stopped:
                    break
                continue
            client.setblocking(True)
            thread = threading.Thread(
                target=functools.partial(self._server_loop, client, address), daemon=True
            )
            self._server_threads[thread] = None
            self._server_socks[client] = None
            thread.start()

    def stop(self) -> None:
        self._stopped = True
        if self._accept_thread and self._accept_thread is not threading.current_thread():
            self._accept_thread.join(2)
        self._listening_sock.close()
        for sock in list(self._server_socks.keys()):
            try:
                sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            except OSError:
                pass


class _Route:
    """Autoresponder registered before a server listens; forwards to the member's WireHandler once it exists."""

    def __init__(self, sim: Simulator, index: int):
        self.sim, self.index = sim, index

    def handle(self, request: Any) -> bool:
        wire = self.sim.wires.get(self.index)
        return wire.handle(request) if wire else request.hangup()


class Simulator:
    """A replica set of simulated mongod members, controlled in-process or through ``ctl.sock``."""

    def __init__(
        self,
        config: SimConfig,
        state_dir: str | Path,
        base_port: int = 0,
        repository: list[str] | None = None,
    ):
        self.config = config
        self.state_dir = Path(state_dir).resolve()
        self.repository = repository or list(DEFAULT_REPOSITORY)
        self.base_port = base_port
        self.servers: dict[int, _Server] = {}
        self.wires: dict[int, WireHandler] = {}
        self.rs: ReplicaSet | None = None
        self._control: socketserver.ThreadingUnixStreamServer | None = None

    # --- lifecycle --------------------------------------------------------------------------------------------

    def start(self) -> Simulator:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / "topology.json").unlink(missing_ok=True)
        saved = self._load_state()
        ports = [self.base_port + i if self.base_port else 0 for i in range(self.config.members)]
        if saved and not self.base_port:
            ports = [m["port"] for m in saved["members"]]
        for index, port in enumerate(ports):
            try:
                self.servers[index] = self._listen(index, port)
            except OSError:
                if self.base_port:
                    raise
                self.servers[index] = self._listen(index, 0)  # the port saved last time is taken now
        self.rs = ReplicaSet(self.config, [self.servers[i].port for i in range(self.config.members)])
        if saved:
            self.rs.fcv = saved["fcv"]
            for m, entry in zip(self.rs.members, saved["members"], strict=True):
                m.version = entry["version"]
        for m in self.rs.members:
            self.wires[m.index] = WireHandler(self.rs, m, self._on_event)
        self._start_control()
        self._save_state()
        topology = {
            "set_name": self.config.set_name,
            "pid": os.getpid(),
            "members": [{"name": m.name, "host": "127.0.0.1", "port": m.port} for m in self.rs.members],
            "simulated": True,
        }
        _write_json(self.state_dir / "topology.json", topology)
        return self

    def close(self) -> None:
        if self._control:
            self._control.shutdown()
            self._control.server_close()
            self._control = None
        (self.state_dir / "ctl.sock").unlink(missing_ok=True)
        (self.state_dir / "topology.json").unlink(missing_ok=True)
        for server in list(self.servers.values()):
            server.stop()
        self.servers.clear()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def uri(self) -> str:
        assert self.rs
        hosts = ",".join(m.name for m in self.rs.members)
        return f"mongodb://{hosts}/?replicaSet={self.config.set_name}"

    def _listen(self, index: int, port: int) -> _Server:
        server = _Server(port=port or None, request_timeout=int(1e6))
        server.autoresponds(_Route(self, index).handle)
        server.run()
        return server

    def _on_event(self, kind: str, m: Member) -> None:
        if kind == "shutdown":
            server = self.servers.pop(m.index, None)
            if server:
                threading.Thread(target=server.stop, daemon=True).start()
        self._save_state()

    # --- operations (what ctl runs) ---------------------------------------------------------------------------

    def control(self, request: dict[str, Any]) -> dict[str, Any]:
        """One ctl request → ``{"ok": bool, "message": str, "data": …}``; never raises."""
        assert self.rs
        cmd = request.get("cmd")
        try:
            if cmd == "versions":
                series = request.get("series")
                versions = [v for v in self.repository if not series or series_of(v) == series]
                versions.sort(key=lambda v: tuple(int(p) for p in v.split(".")))
                return {"ok": True, "message": "\n".join(versions), "data": versions}
            if cmd == "status":
                return self._status(request.get("member"))
            if cmd == "fault":
                message = self.fault(str(request.get("name")), request.get("member"), request.get("value"))
                self._save_state()
                return {"ok": True, "message": message}
            m = self.rs.member(request.get("member") or "")
            if cmd == "stop":
                return self._stop(m)
            if cmd == "start":
                return self._start(m)
            if cmd == "install":
                with self.rs.lock:
                    message = self.rs.install(m, str(request.get("version")), self.repository)
            else:
                return {"ok": False, "message": f"unknown command {cmd!r}"}
        except SimError as exc:
            return {"ok": False, "message": str(exc)}
        self._save_state()
        return {"ok": True, "message": message}

    def fault(self, name: str, member: str | None = None, value: float | None = None) -> str:
        """In-process shortcut for ``ctl fault`` (set-wide faults take no member)."""
        assert self.rs
        if name not in FAULTS:
            raise SimError(2, "BadValue", f"unknown fault {name!r}")
        with self.rs.lock:
            m = self.rs.member(member) if member else None
            return self.rs.fault(name, m, self.rs.tick(), value)

    def _stop(self, m: Member) -> dict[str, Any]:
        assert self.rs
        with self.rs.lock:
            message = self.rs.stop(m, self.rs.tick())
            server = self.servers.pop(m.index, None)
        if server:
            server.stop()
        return {"ok": True, "message": message}

    def _start(self, m: Member) -> dict[str, Any]:
        assert self.rs
        with self.rs.lock:
            if m.running:
                return {"ok": True, "message": f"{m.name} is already running"}
            message = self.rs.start(m, self.rs.tick())
            try:
                self.servers[m.index] = self._listen(m.index, m.port)
            except OSError as exc:
                m.running, m.state = False, State.DOWN
                return {"ok": False, "message": f"mongod on {m.name} failed to start: {exc.strerror}"}
        return {"ok": True, "message": message}

    def _status(self, member: str | None) -> dict[str, Any]:
        assert self.rs
        with self.rs.lock:
            now = self.rs.tick()
            members = [self.rs.member(member)] if member else self.rs.members
            data = [
                {"name": m.name, "port": m.port, "running": m.running, "version": m.version,
                 "state": m.state.name if m.running else "DOWN", "lag_seconds": round(self.rs.lag_of(m, now), 3),
                 "priority": m.priority, "fcv": self.rs.fcv, "set": self.config.set_name}
                for m in members
            ]  # fmt: skip
        lines = [
            f"{d['name']} mongod {d['version']} {'running' if d['running'] else 'stopped'} {d['state']}"
            f" lag {d['lag_seconds']:.1f}s fcv {d['fcv']} (simulated)"
            for d in data
        ]
        return {"ok": True, "message": "\n".join(lines), "data": data}

    # --- persistence and the control socket -------------------------------------------------------------------

    def _load_state(self) -> dict[str, Any] | None:
        path = self.state_dir / "state.json"
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None
        if (
            saved.get("set_name") != self.config.set_name
            or len(saved.get("members", [])) != self.config.members
        ):
            return None
        return saved

    def _save_state(self) -> None:
        if not self.rs:
            return
        with self.rs.lock:
            state = {
                "set_name": self.config.set_name,
                "fcv": self.rs.fcv if not self.rs.saved_fcv else self.rs.saved_fcv,
                "members": [{"port": m.port, "version": m.version} for m in self.rs.members],
            }
        _write_json(self.state_dir / "state.json", state)

    def _start_control(self) -> None:
        path = self.state_dir / "ctl.sock"
        if len(str(path)) > 100:
            raise OSError(f"state directory path too long for a control socket: {path}")
        path.unlink(missing_ok=True)
        sim = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                line = self.rfile.readline()
                try:
                    reply = sim.control(json.loads(line))
                except ValueError:
                    reply = {"ok": False, "message": "bad request"}
                self.wfile.write(json.dumps(reply).encode() + b"\n")

        old = os.umask(0o177)
        try:
            self._control = socketserver.ThreadingUnixStreamServer(str(path), Handler)
        finally:
            os.umask(old)
        self._control.daemon_threads = True
        threading.Thread(
            target=self._control.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)


__all__ = ["DEFAULT_REPOSITORY", "SimConfig", "Simulator", "load_repository"]
