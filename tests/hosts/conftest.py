"""The host lab's real Debian 12 hosts, built once per session (from the cached image: seconds; cold: ~1-2 min).

Nothing is skipped: if the hosts cannot be built (no debootstrap, no archive), every test here errors with why.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest

from lab.host_image import MAJOR
from lab.hosts import HostLab, free_net
from tasks.host.ssh import SshTransport


@pytest.fixture(scope="session")
def host_lab(prefect_harness, dbpatch_home) -> Iterator[HostLab]:
    lab = HostLab(root=dbpatch_home / "hosts", net=free_net(11))
    started = time.monotonic()
    try:
        lab.up()
        lab.save_blocks()
    except BaseException:
        lab.down(destroy=True)
        raise
    print(f"\nhost lab up in {time.monotonic() - started:.1f}s on {lab.net}.x")
    yield lab
    lab.down(destroy=True)


def ssh(lab: HostLab, host: str, root: bool = False) -> SshTransport:
    """The SSH transport dbpatch itself uses, with the lab's non-root (or root) login."""
    return SshTransport(host=lab.host(host).address, access=lab.ssh_access(root=root))


def connect(lab: HostLab, host: str) -> psycopg.Connection:
    creds = lab.credentials()
    return psycopg.connect(
        host=lab.host(host).address,
        port=5432,
        user=creds.user,
        password=creds.password.get_secret_value(),
        dbname="postgres",
        autocommit=True,
        connect_timeout=5,
    )


def package_version(lab: HostLab, host: str, package: str = f"postgresql-{MAJOR}") -> str | None:
    """``dpkg -l``'s version of an installed package on the host (None if not installed)."""
    res = ssh(lab, host).run(["dpkg", "-l", package], check=False)
    for line in res.stdout.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[0] in ("ii", "hi") and fields[1].split(":")[0] == package:
            return fields[2]
    return None


def apt_as_root(lab: HostLab, host: str, *args: str, timeout: float = 600) -> None:
    ssh(lab, host, root=True).run(
        ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "-y", "-q", *args], timeout=timeout
    )


def reset_to(lab: HostLab, host: str, upstream: str = "15.18", remove: tuple[str, ...] = ()) -> None:
    """Put a host back at ``upstream`` (unheld, extra packages removed) with its cluster running."""
    t = ssh(lab, host, root=True)
    t.run(["apt-mark", "unhold", f"postgresql-{MAJOR}", f"postgresql-client-{MAJOR}"])
    if remove:
        apt_as_root(lab, host, "purge", *remove)
    current = package_version(lab, host)
    if not current or not current.startswith(upstream + "-"):
        full = next(
            line.split("|")[1].strip()
            for line in t.run(["apt-cache", "madison", f"postgresql-{MAJOR}"]).stdout.splitlines()
            if line.split("|")[1].strip().startswith(upstream + "-")
        )
        apt_as_root(
            lab,
            host,
            "install",
            "--allow-downgrades",
            f"postgresql-{MAJOR}={full}",
            f"postgresql-client-{MAJOR}={full}",
        )
    t.run(["pg_ctlcluster", MAJOR, "main", "start"], check=False)
