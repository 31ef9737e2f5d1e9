"""Lab PostgreSQL nodes: real servers on loopback, run by an unprivileged OS user.

A node is a directory ``<lab>/nodes/<name>/`` with ``data/`` (PGDATA), ``build`` (symlink to the installed
build: the lab's equivalent of the installed package), ``sock/`` and ``postgresql.log``. Commands go through
``LocalTransport`` as the lab user, exactly as dbpatch's package source for the lab will run them.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from dbpatch import paths
from dbpatch.errors import PatchError
from lab.builds import build_path, ensure_build
from tasks.host.transport import LocalTransport

LAB_USER = paths.LAB_USER
SUPERUSER = "postgres"


def lab_user() -> str | None:
    """The OS user servers run as: ``dbpatch`` (created if missing) when we are root, else ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(LAB_USER)
    except KeyError:
        subprocess.run(  # noqa: S603
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                LAB_USER,
            ],  # noqa: S607
            check=True,
            capture_output=True,
        )
    return LAB_USER


def chown_to_lab_user(path: Path) -> None:
    user = lab_user()
    if user:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


@dataclass
class LabNode:
    name: str
    root: Path  # <lab>/nodes/<name>
    port: int
    version: str  # version to create the node with
    upstream: str | None = None  # name of the node this one streams from
    transport: LocalTransport | None = None

    def __post_init__(self) -> None:
        self.transport = self.transport or LocalTransport()

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def sock(self) -> Path:
        return self.root / "sock"

    @property
    def log(self) -> Path:
        return self.root / "postgresql.log"

    @property
    def build(self) -> Path:
        return self.root / "build"

    def _run(self, argv: list[str], timeout: float = 120, check: bool = True, env: dict | None = None):
        assert self.transport is not None
        return self.transport.run(argv, as_user=lab_user(), timeout=timeout, check=check, env=env)

    def installed_version(self) -> str | None:
        if not self.build.is_symlink():
            return None
        return os.readlink(self.build).rsplit("postgresql-", 1)[-1]

    def running(self) -> bool:
        return self.exists() and self.build.exists() and self._status()

    def _status(self) -> bool:
        res = self._run(
            [str(self.build / "bin" / "pg_ctl"), "-D", str(self.data), "status"], check=False, timeout=20
        )
        return res.returncode == 0

    def exists(self) -> bool:
        return (self.data / "PG_VERSION").exists()

    def prepare_dirs(self) -> None:
        for p in (self.root, self.sock):
            p.mkdir(parents=True, exist_ok=True)
            chown_to_lab_user(p)
        self.root.chmod(0o755)
        self.sock.chmod(0o700)

    def install(self, version: str) -> None:
        ensure_build(version)
        tmp = self.root / "build.new"
        if tmp.is_symlink():
            tmp.unlink()
        tmp.symlink_to(build_path(version))
        tmp.replace(self.build)

    def configure(self) -> None:
        conf = self.data / "postgresql.conf"
        lines = [
            "",
            "# --- dbpatch lab ---",
            "listen_addresses = '127.0.0.1'",
            f"port = {self.port}",
            f"unix_socket_directories = '{self.sock}'",
            "wal_level = replica",
            "max_wal_senders = 10",
            "wal_keep_size = '512MB'",
            "hot_standby = on",
            "hot_standby_feedback = on",
            "wal_log_hints = on",
            "shared_buffers = '32MB'",
            "max_connections = 40",
            f"cluster_name = '{self.name}'",
        ]
        text = conf.read_text()
        if "# --- dbpatch lab ---" in text:
            text = text.split("\n# --- dbpatch lab ---")[0]
        self._write_as_user(conf, text + "\n".join(lines) + "\n")
        self._write_as_user(
            self.data / "pg_hba.conf",
            "local all all trust\n"
            "host all all 127.0.0.1/32 scram-sha-256\n"
            "host replication all 127.0.0.1/32 scram-sha-256\n",
        )

    def _write_as_user(self, path: Path, text: str) -> None:
        path.write_text(text)
        chown_to_lab_user(path)

    def initdb(self, pwfile: Path) -> None:
        self._run(
            [
                str(self.build / "bin" / "initdb"),
                "-D",
                str(self.data),
                "-U",
                SUPERUSER,
                "--pwfile",
                str(pwfile),
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--locale=C",
                "--encoding=UTF8",
                "-N",
            ],
            timeout=300,
        )

    def basebackup(self, primary: LabNode, passfile: Path) -> None:
        self._run(
            [
                str(self.build / "bin" / "pg_basebackup"),
                "-h",
                "127.0.0.1",
                "-p",
                str(primary.port),
                "-U",
                SUPERUSER,
                "-D",
                str(self.data),
                "-X",
                "stream",
                "-c",
                "fast",
                "-w",
            ],
            env={"PGPASSFILE": str(passfile)},
            timeout=600,
        )
        self.follow(primary, passfile)

    def follow(self, primary: LabNode, passfile: Path) -> None:
        """Make this node a standby of ``primary`` (standby.signal + primary_conninfo); takes effect on start."""
        auto = self.data / "postgresql.auto.conf"
        kept = (
            [ln for ln in auto.read_text().splitlines() if not ln.startswith("primary_conninfo")]
            if auto.exists()
            else []
        )
        conninfo = (
            f"host=127.0.0.1 port={primary.port} user={SUPERUSER} passfile={passfile} "
            f"application_name={self.name}"
        )
        self._write_as_user(auto, "\n".join([*kept, f"primary_conninfo = '{conninfo}'"]) + "\n")
        self._write_as_user(self.data / "standby.signal", "")

    def start(self) -> None:
        self._run(
            [
                str(self.build / "bin" / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.log),
                "-w",
                "-t",
                "120",
                "start",
            ],
            timeout=180,
        )

    def stop(self, mode: str = "fast") -> None:
        if self._status():
            self._run(
                [
                    str(self.build / "bin" / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-m",
                    mode,
                    "-w",
                    "-t",
                    "120",
                    "stop",
                ],
                timeout=180,
            )

    def destroy(self) -> None:
        if self.build.exists():
            self.stop("immediate")
        self._kill_postmaster()  # its build may be gone (a removed cache): signal it directly
        shutil.rmtree(self.root, ignore_errors=True)

    def _kill_postmaster(self) -> None:
        pidfile = self.data / "postmaster.pid"
        try:
            pid = int(pidfile.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return
        for sig, wait in ((signal.SIGQUIT, 5.0), (signal.SIGKILL, 2.0)):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    return
                time.sleep(0.05)


def check_reachable_by_lab_user(path: Path) -> None:
    """Postgres runs as the lab user: every parent of the lab directory must be searchable by it."""
    user = lab_user()
    if not user:
        return
    for parent in [path, *path.parents]:
        if parent.exists() and not (parent.stat().st_mode & 0o001):
            raise PatchError(
                f"lab: {parent} is not searchable by the unprivileged user '{user}' that runs the servers; "
                "set DBPATCH_HOME to a directory under /var/tmp or /srv"
            )
