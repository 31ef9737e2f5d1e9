"""``dbpatch lab up|down|status``: the local lab fleet, idempotent.

- pg-orders: primary + streaming standby at 15.18 (prod)
- pg-billing: standalone at 15.5 (test, canary)
- pg-analytics: standalone at 16.2 (dev)
- mongo-catalog: 3-member MongoDB replica set at 7.0.12 (test), SIMULATED (``lab.mongo_lab``)

The lab writes its own inventory and policy (approved: PostgreSQL 15 → 15.20, 16 → 16.2; MongoDB 7.0: the newest
patch at least 14 days old) and saves the credentials blocks ``lab-postgres`` and ``lab-mongodb``. A second
``up`` reuses what runs.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from dbpatch import paths
from dbpatch.errors import PatchError
from lab.builds import BUILDS, ensure_builds
from lab.mongo_lab import LabReplicaSet
from lab.postgres import SUPERUSER, LabNode, check_reachable_by_lab_user, chown_to_lab_user, lab_user

DEFAULT_BASE_PORT = 54320
CREDENTIALS_BLOCK = "lab-postgres"


@dataclass(frozen=True)
class NodeSpec:
    name: str
    offset: int
    version: str
    environment: str
    cluster: str | None = None
    upstream: str | None = None
    tags: tuple[str, ...] = ()


TOPOLOGY = (
    NodeSpec("pg-orders-1", 0, "15.18", "prod", cluster="pg-orders"),
    NodeSpec("pg-orders-2", 1, "15.18", "prod", cluster="pg-orders", upstream="pg-orders-1"),
    NodeSpec("pg-billing", 2, "15.5", "test", tags=("canary",)),
    NodeSpec("pg-analytics", 3, "16.2", "dev"),
)

LAB_POLICY = {
    "baselines": {
        "postgresql": {"15": {"approved": ["15.20"]}, "16": {"approved": ["16.2"]}},
        "mongodb": {"7.0": {"approve_after_days": 14}},
    },
    "thresholds": {"min_free_disk_bytes": 256 * 1024 * 1024, "catchup_timeout_seconds": 60},
    "canary": {"count": 1, "tag": "canary", "bake_hours": 12},
    "windows": [
        {
            "name": "lab-monthly",
            "environments": ["dev", "test", "prod"],
            "rrule": "FREQ=MONTHLY;BYDAY=+3SA",
            "start": "22:00",
            "timezone": "Europe/Berlin",
            "duration_hours": 6,
            "cutoff_hours": 1,
        }
    ],
    "blackouts": [{"name": "year-end freeze", "start": "2026-12-20", "end": "2027-01-05", "action": "skip"}],
    "waves": {
        "order": ["dev", "test", "prod"],
        "max_concurrency": 2,
        "max_errors": "1",
        "approval_required": [],
    },
}


class Lab:
    def __init__(
        self,
        root: Path | None = None,
        base_port: int | None = None,
        topology: tuple[NodeSpec, ...] = TOPOLOGY,
        policy: dict | None = None,
        mongo: bool | None = None,
    ):
        """``mongo``: include the simulated replica set; default: only with the default topology (labs with their
        own topology are PostgreSQL test labs)."""
        self.topology = topology
        self.policy = policy or LAB_POLICY
        self.root = (root or paths.lab()).resolve()
        self.state_file = self.root / "lab.json"
        saved = json.loads(self.state_file.read_text()) if self.state_file.exists() else {}
        self.base_port = (
            base_port or saved.get("base_port") or int(os.environ.get("DBPATCH_LAB_PORT", DEFAULT_BASE_PORT))
        )
        self.secrets_dir = self.root / "secrets"
        self.mongo = (
            LabReplicaSet(self.root, self.base_port)
            if (topology is TOPOLOGY if mongo is None else mongo)
            else None
        )

    # --- layout ------------------------------------------------------------------------------------------

    @property
    def inventory_path(self) -> Path:
        return self.root / "inventory.yaml"

    @property
    def policy_path(self) -> Path:
        return self.root / "policy.yaml"

    @property
    def passfile(self) -> Path:
        return self.secrets_dir / "pgpass"

    def node(self, name: str) -> LabNode:
        spec = next((s for s in self.topology if s.name == name), None)
        if spec is None:
            raise PatchError(f"lab: no node named {name!r}")
        return LabNode(
            spec.name,
            self.root / "nodes" / spec.name,
            self.base_port + spec.offset,
            spec.version,
            spec.upstream,
        )

    def nodes(self) -> list[LabNode]:
        return [self.node(s.name) for s in self.topology]

    def password(self) -> str:
        pw_file = self.secrets_dir / "postgres.password"
        if not pw_file.exists():
            self.secrets_dir.mkdir(parents=True, exist_ok=True)
            self.secrets_dir.chmod(0o711)
            pw_file.write_text(secrets.token_urlsafe(18))
            pw_file.chmod(0o600)
        return pw_file.read_text().strip()

    # --- commands ----------------------------------------------------------------------------------------

    def up(self) -> list[dict]:
        started = time.monotonic()
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)
        check_reachable_by_lab_user(self.root)
        ensure_builds(sorted(BUILDS, key=lambda v: tuple(map(int, v.split(".")))))  # the whole "repository"
        (self.root / "nodes").mkdir(exist_ok=True)
        self._write_secrets()
        for node in sorted(self.nodes(), key=lambda n: n.upstream is not None):
            self._bring_up(node)
        if self.mongo:
            self.mongo.up()
        self._write_configs()
        self.state_file.write_text(
            json.dumps({"base_port": self.base_port, "user": lab_user() or os.getlogin()}, indent=2)
        )
        print(f"lab: up in {time.monotonic() - started:.1f}s — inventory {self.inventory_path}", flush=True)
        return self.status()

    def _write_secrets(self) -> None:
        password = self.password()
        lines = [f"127.0.0.1:{n.port}:*:{SUPERUSER}:{password}" for n in self.nodes()]
        lines += [f"127.0.0.1:{n.port}:replication:{SUPERUSER}:{password}" for n in self.nodes()]
        self.passfile.write_text("\n".join(lines) + "\n")
        self.passfile.chmod(0o600)
        chown_to_lab_user(self.passfile)
        pwfile = self.secrets_dir / "initdb.pw"
        pwfile.write_text(password + "\n")
        pwfile.chmod(0o600)
        chown_to_lab_user(pwfile)

    def _bring_up(self, node: LabNode) -> None:
        if node.running():
            print(
                f"lab: {node.name} already running on port {node.port} ({node.installed_version()})",
                flush=True,
            )
            return
        if port_in_use(node.port):
            raise PatchError(
                f"lab: port {node.port} for {node.name} is taken by another program; "
                "choose other ports with --base-port or DBPATCH_LAB_PORT"
            )
        t0 = time.monotonic()
        if not node.exists():
            node.prepare_dirs()
            node.install(node.version)
            if node.upstream:
                node.basebackup(self.node(node.upstream), self.passfile)
            else:
                node.initdb(self.secrets_dir / "initdb.pw")
            node.configure()
            if node.upstream:
                node.follow(self.node(node.upstream), self.passfile)
            what = "created"
        else:
            what = "started"
        node.start()
        print(
            f"lab: {node.name} {what} on 127.0.0.1:{node.port} ({node.installed_version()}) in {time.monotonic() - t0:.1f}s",
            flush=True,
        )

    def down(self, destroy: bool = False) -> None:
        """Stop the lab; ``destroy`` also removes everything it wrote (see ``_forget``)."""
        if self.mongo:
            self.mongo.down(destroy)
        for node in reversed(self.nodes()):
            if destroy:
                node.destroy()
            elif node.exists() and node.build.exists():
                node.stop()
        forgotten = self._forget() if destroy else ""
        print(f"lab: {'destroyed' if destroy else 'stopped'} ({self.root}){forgotten}", flush=True)

    def _forget(self) -> str:
        """What the lab wrote besides its servers: its inventory, policy, secrets and state file under the lab
        directory (removed when nothing else is left there), and the catalog overlay rows the lab's package
        source caused (``catalog learn-hosts`` on the lab). Reports and run history are evidence and stay."""
        import shutil

        from tasks.catalog.store import forget_source

        for name in ("inventory.yaml", "policy.yaml", "lab.json"):
            (self.root / name).unlink(missing_ok=True)
        for name in ("secrets", "nodes", "mongo"):
            shutil.rmtree(self.root / name, ignore_errors=True)
        if self.root.is_dir() and not any(self.root.iterdir()):
            self.root.rmdir()
        dropped = forget_source("lab")
        return f"; {dropped} catalog entries learned from the lab removed" if dropped else ""

    def status(self) -> list[dict]:
        return [
            {
                "node": n.name,
                "port": n.port,
                "installed": n.installed_version(),
                "running": n.running(),
                "data": str(n.data),
            }
            for n in self.nodes()
        ] + (self.mongo.status() if self.mongo else [])

    # --- inventory, policy, blocks -----------------------------------------------------------------------

    def inventory(self) -> dict:
        targets = []
        for spec in self.topology:
            node = self.node(spec.name)
            t = {
                "name": spec.name,
                "engine": "postgresql",
                "environment": spec.environment,
                "host": "127.0.0.1",
                "port": node.port,
                "credentials": CREDENTIALS_BLOCK,
                "access": "local",
                "package_source": "lab",
                "data_directory": str(node.data),
                "tags": ["lab", *spec.tags],
            }
            if spec.cluster:
                t["cluster"] = spec.cluster
            targets.append(t)
        return {"targets": targets + (self.mongo.targets() if self.mongo else [])}

    def _write_configs(self) -> None:
        header = "# Written by `dbpatch lab up`; regenerated on every up.\n"
        self.inventory_path.write_text(header + yaml.safe_dump(self.inventory(), sort_keys=False))
        self.policy_path.write_text(header + yaml.safe_dump(self.policy, sort_keys=False))

    def save_blocks(self) -> None:
        """Save the lab's credentials block (needs a Prefect API: a server, the ephemeral one, or a test harness)."""
        from pydantic import SecretStr

        from blocks.postgres import PostgresCredentials

        PostgresCredentials(user=SUPERUSER, password=SecretStr(self.password()), sslmode="disable").save(
            CREDENTIALS_BLOCK, overwrite=True
        )
        if self.mongo:
            self.mongo.save_block()


def port_in_use(port: int) -> bool:
    """Is something listening on the port? (SO_REUSEADDR, as postgres binds: TIME-WAIT does not count.)"""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False
