"""``dbpatch lab hosts up|down|status``: real Debian 12 hosts with PostgreSQL from Debian's packages, over SSH.

- deb-solo: a standalone host (test)
- deb-pair-1, deb-pair-2: a primary and its streaming standby (prod, cluster deb-pair)

Each host is a copy of the cached image (``lab.host_image``) under ``<home>/hosts/<name>/rootfs``, run chrooted
in its own PID, mount and UTS namespace: PID 1 is tini, a boot script starts the host's PostgreSQL clusters
(``/etc/init.d/postgresql start``, as a sysvinit host's boot does) and then its own OpenSSH server on the
host's own loopback address (127.0.10.2-4 by default); PostgreSQL listens on the same address, port 5432.
Hosts share this machine's network namespace (one loopback address each, no bridge, no NAT: the only route
out is the one apt already uses), and each host's processes die with its namespace, so ``down`` can never
leave a postgres behind. Package scripts start and stop services exactly as on a Debian host.

The SSH login is ``dbpatch`` with passwordless sudo; root can log in with the same key (``--root-login`` writes
an inventory that uses it). The lab writes an inventory and policy and saves the blocks ``lab-hosts-ssh``,
``lab-hosts-ssh-root`` and ``lab-hosts-postgres``.
"""

from __future__ import annotations

import copy
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from dbpatch import paths
from dbpatch.errors import PatchError
from lab.host_image import BUILD_ENV, MAJOR, TARGET_VERSION, ensure_image, in_root, say
from lab.lab import LAB_POLICY

LOGIN = "dbpatch"
SSH_BLOCK = "lab-hosts-ssh"
SSH_ROOT_BLOCK = "lab-hosts-ssh-root"
CREDENTIALS_BLOCK = "lab-hosts-postgres"
SUPERUSER = "postgres"
PG_PORT = 5432
SSH_PORT = 22
DEFAULT_NET = "127.0.10"
DATA = f"/var/lib/postgresql/{MAJOR}/main"
CONF = f"/etc/postgresql/{MAJOR}/main"


@dataclass(frozen=True)
class HostSpec:
    name: str
    last_octet: int
    environment: str
    cluster: str | None = None
    upstream: str | None = None


HOSTS = (
    HostSpec("deb-solo", 2, "test"),
    HostSpec("deb-pair-1", 3, "prod", cluster="deb-pair"),
    HostSpec("deb-pair-2", 4, "prod", cluster="deb-pair", upstream="deb-pair-1"),
)

HOSTS_POLICY = copy.deepcopy(LAB_POLICY) | {
    "baselines": {"postgresql": {MAJOR: {"approved": [TARGET_VERSION]}}},
}
HOSTS_POLICY["thresholds"] = {"min_free_disk_bytes": 256 * 1024 * 1024, "catchup_timeout_seconds": 60}

# Mounts of a host's own namespace, then the chroot: $1 the rootfs, $2 the host name. tini reaps orphans
# (postgres daemonizes) and, as PID 1, takes every process of the host with it when it ends.
_BOOT = (
    'root=$1; mount -t proc proc "$root/proc"'
    ' && mount -t tmpfs -o mode=0755,size=64m tmpfs "$root/run"'
    ' && mount -t tmpfs -o mode=1777,size=512m tmpfs "$root/dev/shm"'
    ' && hostname "$2" && exec chroot "$root" /usr/bin/tini -- /usr/local/sbin/dbpatch-boot'
)

BOOT_SCRIPT = """#!/bin/sh
# The host's boot (lab/hosts.py): runtime directories, the database clusters (runlevel 2's postgresql), sshd.
install -d -m 0755 /run/sshd
install -d -o postgres -g postgres -m 2775 /run/postgresql
/etc/init.d/postgresql start
exec /usr/sbin/sshd -D -e
"""


class Host:
    """One host of the lab: its rootfs, its namespace's init, and commands run inside it."""

    def __init__(self, spec: HostSpec, base: Path, net: str):
        self.spec = spec
        self.name = spec.name
        self.address = f"{net}.{spec.last_octet}"
        self.dir = base / spec.name
        self.rootfs = self.dir / "rootfs"
        self.pid_file = self.dir / "init.pid"
        self.console = self.dir / "console.log"

    def exists(self) -> bool:
        return (self.rootfs / "usr/local/sbin/dbpatch-boot").exists()

    def init_pid(self) -> int | None:
        """PID (as this machine sees it) of the host's PID 1, if it runs: checked by its root directory."""
        try:
            pid = int(self.pid_file.read_text())
            if os.readlink(f"/proc/{pid}/root") == str(self.rootfs):
                return pid
        except (OSError, ValueError):
            pass
        return None

    def running(self) -> bool:
        return self.init_pid() is not None

    def run(
        self,
        argv: list[str],
        *,
        user: str | None = None,
        stdin: str | None = None,
        check: bool = True,
        timeout: float = 300,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside the running host (its namespaces and root), as ``user`` if given."""
        pid = self.init_pid()
        if pid is None:
            raise PatchError(f"hosts: {self.name} is not running")
        inner = ["runuser", "-u", user, "--", *argv] if user else argv
        cmd = [
            "nsenter",
            f"--target={pid}",
            "--pid",
            "--mount",
            "--uts",
            "--",
            "chroot",
            str(self.rootfs),
            *inner,
        ]
        res = subprocess.run(  # noqa: S603 - argument list
            cmd, input=stdin, capture_output=True, text=True, env=BUILD_ENV, timeout=timeout, cwd="/"
        )
        if check and res.returncode != 0:
            tail = "; ".join((res.stderr or res.stdout).strip().splitlines()[-4:])
            raise PatchError(f"hosts: {self.name}: `{' '.join(argv[:4])}` exited {res.returncode}: {tail}")
        return res

    def installed_version(self) -> str | None:
        """The installed postgresql-15 package version (read from the host's dpkg database)."""
        if not self.exists():
            return None
        res = subprocess.run(  # noqa: S603
            ["chroot", str(self.rootfs), "dpkg-query", "-W", "-f=${Version}", f"postgresql-{MAJOR}"],
            capture_output=True,
            text=True,
            env=BUILD_ENV,
        )
        return res.stdout.strip() or None if res.returncode == 0 else None

    def cluster_online(self) -> bool:
        if not self.running():
            return False
        res = self.run(["pg_lsclusters", "-h"], check=False)
        return any(
            line.split()[3:4] and line.split()[3].startswith("online") for line in res.stdout.splitlines()
        )


class HostLab:
    def __init__(self, root: Path | None = None, net: str | None = None, root_login: bool | None = None):
        self.root = (root or Path(os.environ.get("DBPATCH_HOSTS_DIR") or paths.home() / "hosts")).resolve()
        self.state_file = self.root / "hosts.json"
        saved = json.loads(self.state_file.read_text()) if self.state_file.exists() else {}
        self.net = net or saved.get("net") or os.environ.get("DBPATCH_HOSTS_NET") or DEFAULT_NET
        self.root_login = saved.get("root_login", False) if root_login is None else root_login
        self.secrets_dir = self.root / "secrets"
        self.hosts = [Host(spec, self.root / "hosts", self.net) for spec in HOSTS]

    # --- layout ------------------------------------------------------------------------------------------

    @property
    def inventory_path(self) -> Path:
        return self.root / "inventory.yaml"

    @property
    def policy_path(self) -> Path:
        return self.root / "policy.yaml"

    @property
    def client_key(self) -> Path:
        return self.secrets_dir / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.secrets_dir / "known_hosts"

    def host(self, name: str) -> Host:
        found = next((h for h in self.hosts if h.name == name), None)
        if found is None:
            raise PatchError(f"hosts: no host named {name!r}")
        return found

    def password(self) -> str:
        f = self.secrets_dir / "postgres.password"
        if not f.exists():
            f.write_text(secrets.token_urlsafe(18))
            f.chmod(0o600)
        return f.read_text().strip()

    # --- up ----------------------------------------------------------------------------------------------

    def up(self) -> list[dict]:
        started = time.monotonic()
        self.root.mkdir(parents=True, exist_ok=True)
        self.secrets_dir.mkdir(mode=0o700, exist_ok=True)
        if not self.client_key.exists():
            _keygen(self.client_key)
        image = ensure_image()
        for host in self.hosts:
            t0 = time.monotonic()
            what = []
            if not host.exists():
                self._create(host, image)
                what.append("created")
            if not host.running():
                self._boot(host)
                what.append("booted")
            if not (host.dir / "cluster.done").exists():
                self._create_cluster(host)
                what.append("cluster created")
            say(
                f"{host.name} {', '.join(what) or 'already up'} on {host.address} "
                f"(postgresql-{MAJOR} {host.installed_version()}) in {time.monotonic() - t0:.1f}s"
            )
        self._write_known_hosts()
        self._write_configs()
        self.state_file.write_text(json.dumps({"net": self.net, "root_login": self.root_login}, indent=2))
        say(f"up in {time.monotonic() - started:.1f}s — inventory {self.inventory_path}")
        return self.status()

    def _create(self, host: Host, image: Path) -> None:
        for port in (SSH_PORT, PG_PORT):
            if address_in_use(host.address, port):
                raise PatchError(
                    f"hosts: {host.address}:{port} for {host.name} is taken; choose other addresses with "
                    "--net or DBPATCH_HOSTS_NET (e.g. 127.0.11)"
                )
        if host.dir.exists():
            shutil.rmtree(host.dir)
        host.rootfs.mkdir(parents=True)
        subprocess.run(  # noqa: S603
            ["tar", "--numeric-owner", "-xpf", str(image), "-C", str(host.rootfs)],
            check=True,
            capture_output=True,
        )
        r = host.rootfs
        (r / "etc/hostname").write_text(host.name + "\n")
        (r / "etc/hosts").write_text(f"127.0.0.1 localhost\n{host.address} {host.name}\n")
        in_root(r, ["useradd", "--create-home", "--shell", "/bin/bash", "--groups", "sudo", LOGIN])
        in_root(r, ["usermod", "--password", "*", LOGIN])  # no password, but not a locked account
        sudoers = r / "etc/sudoers.d/dbpatch"
        sudoers.write_text(
            f"# the host lab's SSH login (see docs/operations/debian-hosts-runbook.md)\n{LOGIN} ALL=(ALL:ALL) NOPASSWD: ALL\n"
        )
        sudoers.chmod(0o440)
        pub = Path(f"{self.client_key}.pub").read_text()
        for home, owner in ((r / "root", "root"), (r / "home" / LOGIN, LOGIN)):
            ssh = home / ".ssh"
            ssh.mkdir(mode=0o700, exist_ok=True)
            (ssh / "authorized_keys").write_text(pub)
            in_root(r, ["chown", "-R", f"{owner}:{owner}", f"/{ssh.relative_to(r)}"])
        _keygen(r / "etc/ssh/ssh_host_ed25519_key")
        (r / "etc/ssh/sshd_config.d/dbpatch.conf").write_text(
            f"ListenAddress {host.address}:{SSH_PORT}\n"
            "HostKey /etc/ssh/ssh_host_ed25519_key\n"
            "PermitRootLogin prohibit-password\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "MaxSessions 32\n"
            "MaxStartups 64\n"
        )
        boot = r / "usr/local/sbin/dbpatch-boot"
        boot.write_text(BOOT_SCRIPT)
        boot.chmod(0o755)

    def _boot(self, host: Host) -> None:
        shutil.copyfile("/etc/resolv.conf", host.rootfs / "etc/resolv.conf")  # as DHCP would, at every boot
        with host.console.open("ab") as log:
            proc = subprocess.Popen(  # noqa: S603 - argument list
                [
                    "unshare",
                    "--pid",
                    "--fork",
                    "--mount",
                    "--uts",
                    "--",
                    "sh",
                    "-c",
                    _BOOT,
                    "sh",
                    str(host.rootfs),
                    host.name,
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                env=BUILD_ENV,
                cwd="/",
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise PatchError(f"hosts: {host.name} did not boot: {_tail(host.console)}")
            children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
            pid = children.read_text().split()[:1] if children.exists() else []
            if pid:
                host.pid_file.write_text(pid[0])
                if host.running() and _ssh_banner(host.address):
                    return
            time.sleep(0.1)
        raise PatchError(
            f"hosts: {host.name}: no SSH server on {host.address} after 30s: {_tail(host.console)}"
        )

    def _create_cluster(self, host: Host) -> None:
        pw = self.password()
        if (host.rootfs / CONF.lstrip("/")).exists():  # a creation that did not finish
            host.run(["pg_dropcluster", "--stop", MAJOR, "main"])
        host.run(["pg_createcluster", MAJOR, "main", "--port", str(PG_PORT)])
        host.run(
            ["tee", f"{CONF}/conf.d/host-lab.conf"],
            user="postgres",
            stdin=f"listen_addresses = '{host.address}'\nwal_keep_size = '256MB'\n",
        )
        host.run(
            ["tee", "-a", f"{CONF}/pg_hba.conf"],
            user="postgres",
            stdin="host all all 127.0.0.0/8 scram-sha-256\nhost replication all 127.0.0.0/8 scram-sha-256\n",
        )
        pgpass = "".join(f"{h.address}:{PG_PORT}:*:{SUPERUSER}:{pw}\n" for h in self.hosts)
        host.run(["sh", "-c", 'umask 077 && cat > "$HOME/.pgpass"'], user="postgres", stdin=pgpass)
        upstream = self.host(host.spec.upstream) if host.spec.upstream else None
        if upstream is None:
            host.run(["pg_ctlcluster", MAJOR, "main", "start"])
            host.run(
                ["psql", "-q", "-v", "ON_ERROR_STOP=1"],
                user="postgres",
                stdin=f"alter role {SUPERUSER} password '{pw}';\n",
            )
            self._mark_cluster(host)
            return
        host.run(["find", DATA, "-mindepth", "1", "-delete"])
        host.run(
            [
                "pg_basebackup",
                "-h",
                upstream.address,
                "-p",
                str(PG_PORT),
                "-U",
                SUPERUSER,
                "-D",
                DATA,
                "-X",
                "stream",
                "-c",
                "fast",
            ],
            user="postgres",
        )
        conninfo = f"host={upstream.address} port={PG_PORT} user={SUPERUSER} application_name={host.name}"
        host.run(
            ["tee", "-a", f"{DATA}/postgresql.auto.conf"],
            user="postgres",
            stdin=f"primary_conninfo = '{conninfo}'\n",
        )
        host.run(["touch", f"{DATA}/standby.signal"], user="postgres")
        host.run(["pg_ctlcluster", MAJOR, "main", "start"])
        self._mark_cluster(host)

    @staticmethod
    def _mark_cluster(host: Host) -> None:
        (host.dir / "cluster.done").write_text(f"{MAJOR}/main\n")

    def _write_known_hosts(self) -> None:
        lines = []
        for h in self.hosts:
            key = (h.rootfs / "etc/ssh/ssh_host_ed25519_key.pub").read_text().split()[:2]
            lines.append(f"{h.address} {' '.join(key)}\n")
        self.known_hosts.write_text("".join(lines))

    # --- down, status ------------------------------------------------------------------------------------

    def down(self, destroy: bool = False) -> None:
        for host in reversed(self.hosts):
            self._stop(host)
        if destroy:
            mounted = [
                line.split()[1]
                for line in Path("/proc/mounts").read_text().splitlines()
                if line.split()[1].startswith(str(self.root) + "/")
            ]
            if mounted:
                raise PatchError(f"hosts: still mounted, not removing {self.root}: {', '.join(mounted)}")
            shutil.rmtree(self.root, ignore_errors=True)
        say(f"{'destroyed' if destroy else 'stopped'} ({self.root})")

    def _stop(self, host: Host) -> None:
        pid = host.init_pid()
        if pid is None:
            return
        host.run(["/etc/init.d/postgresql", "stop"], check=False, timeout=120)  # a clean shutdown, as at halt
        os.kill(pid, signal.SIGTERM)  # tini passes it to sshd; when PID 1 ends, the namespace's processes end
        deadline = time.monotonic() + 10
        while host.init_pid() is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        if host.init_pid() is not None:
            os.kill(pid, signal.SIGKILL)
        host.pid_file.unlink(missing_ok=True)

    def status(self) -> list[dict]:
        return [
            {
                "host": h.name,
                "address": h.address,
                "installed": h.installed_version(),
                "running": h.running(),
                "postgres": "online" if h.cluster_online() else "down",
            }
            for h in self.hosts
        ]

    # --- inventory, policy, blocks -----------------------------------------------------------------------

    def inventory(self) -> dict:
        targets = []
        for h in self.hosts:
            t = {
                "name": h.name,
                "engine": "postgresql",
                "environment": h.spec.environment,
                "host": h.address,
                "port": PG_PORT,
                "credentials": CREDENTIALS_BLOCK,
                "access": "ssh",
                "host_access": SSH_ROOT_BLOCK if self.root_login else SSH_BLOCK,
                "package_source": "apt",
                "service": "main",
                "data_directory": DATA,
                "tags": ["hosts"],
            }
            if h.spec.cluster:
                t["cluster"] = h.spec.cluster
            targets.append(t)
        return {"targets": targets}

    def _write_configs(self) -> None:
        header = "# Written by `dbpatch lab hosts up`; regenerated on every up.\n"
        self.inventory_path.write_text(header + yaml.safe_dump(self.inventory(), sort_keys=False))
        self.policy_path.write_text(header + yaml.safe_dump(HOSTS_POLICY, sort_keys=False))

    def ssh_access(self, root: bool = False):
        from blocks.ssh import SshAccess

        return SshAccess(
            username="root" if root else LOGIN,
            port=SSH_PORT,
            private_key_path=str(self.client_key),
            known_hosts="strict",
            known_hosts_file=str(self.known_hosts),
            connect_timeout=10.0,
        )

    def credentials(self):
        from pydantic import SecretStr

        from blocks.postgres import PostgresCredentials

        return PostgresCredentials(user=SUPERUSER, password=SecretStr(self.password()), sslmode="disable")

    def save_blocks(self) -> None:
        """Save the SSH and credentials blocks (needs a Prefect API)."""
        self.ssh_access().save(SSH_BLOCK, overwrite=True)
        self.ssh_access(root=True).save(SSH_ROOT_BLOCK, overwrite=True)
        self.credentials().save(CREDENTIALS_BLOCK, overwrite=True)


def address_in_use(address: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((address, port))
        except OSError:
            return True
    return False


def free_net(first: int = 10, last: int = 60) -> str:
    """A ``127.0.N`` whose host addresses are free (for test sessions next to a running host lab)."""
    for n in range(first, last):
        net = f"127.0.{n}"
        if not any(address_in_use(f"{net}.{s.last_octet}", p) for s in HOSTS for p in (SSH_PORT, PG_PORT)):
            return net
    raise PatchError(f"hosts: no free 127.0.N network between 127.0.{first} and 127.0.{last}")


def _ssh_banner(address: str) -> bool:
    try:
        with socket.create_connection((address, SSH_PORT), timeout=1) as sock:
            return sock.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def _keygen(path: Path) -> None:
    subprocess.run(  # noqa: S603
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "dbpatch-hosts", "-f", str(path)],
        check=True,
        capture_output=True,
    )


def _tail(path: Path) -> str:
    try:
        return "; ".join(path.read_text(errors="replace").strip().splitlines()[-4:])
    except OSError:
        return "no console log"
