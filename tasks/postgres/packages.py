"""PostgreSQL package sources: apt (Debian/Ubuntu, pg_ctlcluster), dnf (PGDG, systemd) and the lab's builds.

Each plans argument lists only; facts (what is installable, what is installed) are read through a transport.
"""

from __future__ import annotations

import os
from pathlib import Path

from dbpatch import paths
from dbpatch.errors import ConfigError, PatchError
from dbpatch.models import PackageSource as Source
from dbpatch.models import Target
from tasks.host.packages import HostCommand, PackageSource, parse_apt_madison, parse_dnf_list
from tasks.host.transport import Transport


class AptPostgres(PackageSource):
    """Debian/Ubuntu: ``postgresql-<major>`` packages, clusters managed with ``pg_ctlcluster``."""

    name = "apt"
    data_owner = "postgres"

    def __init__(self, target: Target):
        super().__init__(target)
        self.cluster = target.service or "main"
        self._full: dict[str, str] = {}

    def bindir(self, major: str) -> str:
        return f"/usr/lib/postgresql/{major}/bin"

    def available_versions(self, transport: Transport, major: str) -> list[str]:
        out = transport.run(["apt-cache", "madison", f"postgresql-{major}"], timeout=60).stdout
        self._full = parse_apt_madison(out, f"postgresql-{major}")
        return list(self._full)

    def stop(self, major: str) -> list[HostCommand]:
        return [
            HostCommand(
                ("pg_ctlcluster", major, self.cluster, "stop", "-m", "fast"),
                f"stop cluster {major}/{self.cluster} (fast shutdown)",
            )
        ]

    def install(self, major: str, version: str) -> list[HostCommand]:
        full = self._full.get(version)
        if not full:
            raise PatchError(f"{self.target.name}: apt does not offer postgresql-{major} {version}")
        argv = (
            "env",
            "DEBIAN_FRONTEND=noninteractive",
            "apt-get",
            "install",
            "-y",
            "-q",
            "--allow-downgrades",
            "-o",
            "Dpkg::Options::=--force-confold",
            f"postgresql-{major}={full}",
            f"postgresql-client-{major}={full}",
        )
        return [HostCommand(argv, f"install postgresql-{major} {full} with apt", timeout=900)]

    def start(self, major: str) -> list[HostCommand]:
        return [
            HostCommand(
                ("pg_ctlcluster", major, self.cluster, "start"), f"start cluster {major}/{self.cluster}"
            )
        ]


class DnfPostgres(PackageSource):
    """RHEL family with the PGDG repository: ``postgresql<major>-server``, systemd unit ``postgresql-<major>``."""

    name = "dnf"
    data_owner = "postgres"

    def __init__(self, target: Target):
        super().__init__(target)
        self._full: dict[str, str] = {}

    def bindir(self, major: str) -> str:
        return f"/usr/pgsql-{major}/bin"

    def unit(self, major: str) -> str:
        return self.target.service or f"postgresql-{major}"

    def available_versions(self, transport: Transport, major: str) -> list[str]:
        pkg = f"postgresql{major}-server"
        out = transport.run(["dnf", "-q", "--showduplicates", "list", pkg], timeout=300).stdout
        self._full = parse_dnf_list(out, pkg)
        return list(self._full)

    def stop(self, major: str) -> list[HostCommand]:
        return [HostCommand(("systemctl", "stop", self.unit(major)), f"stop {self.unit(major)}")]

    def install(self, major: str, version: str) -> list[HostCommand]:
        full = self._full.get(version)
        if not full:
            raise PatchError(f"{self.target.name}: dnf does not offer postgresql{major}-server {version}")
        pkgs = [f"postgresql{major}{suffix}-{full}" for suffix in ("", "-server", "-libs")]
        return [
            HostCommand(
                ("dnf", "-y", "-q", "install", "--allowerasing", *pkgs),
                f"install PostgreSQL {full} with dnf",
                timeout=900,
            )
        ]

    def start(self, major: str) -> list[HostCommand]:
        return [HostCommand(("systemctl", "start", self.unit(major)), f"start {self.unit(major)}")]


class LabPostgres(PackageSource):
    """The lab: a node's ``build`` symlink is its installed package; ``<cache>/builds`` is the repository."""

    name = "lab"

    def __init__(self, target: Target):
        super().__init__(target)
        if not target.data_directory:
            raise ConfigError(f"inventory: {target.name}.data_directory: required for package_source lab")
        self.data = Path(target.data_directory)
        self.node = self.data.parent
        self.repo = paths.cache() / "builds"
        self.user = _lab_user()
        self.data_owner = self.user

    def available_versions(self, transport: Transport, major: str) -> list[str]:
        out = transport.run(
            ["find", "-L", str(self.repo), "-mindepth", "2", "-maxdepth", "2", "-name", "build.json"],
            check=False,
        ).stdout
        versions = [
            Path(line).parent.name.removeprefix("postgresql-") for line in out.splitlines() if line.strip()
        ]
        return sorted(
            (v for v in versions if v.split(".")[0] == major), key=lambda v: tuple(map(int, v.split(".")))
        )

    def installed_version(self, transport: Transport) -> str | None:
        res = transport.run(["readlink", str(self.node / "build")], check=False)
        return res.stdout.strip().rsplit("postgresql-", 1)[-1] if res.ok else None

    def bindir(self, major: str) -> str:
        return str(self.node / "build" / "bin")

    def _pg_ctl(self, *args: str) -> tuple[str, ...]:
        return (str(self.node / "build" / "bin" / "pg_ctl"), "-D", str(self.data), *args)

    def stop(self, major: str) -> list[HostCommand]:
        return [
            HostCommand(
                self._pg_ctl("-m", "fast", "-w", "-t", "300", "stop"), "stop (fast shutdown)", self.user
            )
        ]

    def install(self, major: str, version: str) -> list[HostCommand]:
        build = self.repo / f"postgresql-{version}"
        return [
            HostCommand(
                ("ln", "-sfn", str(build), str(self.node / "build")),
                f"install PostgreSQL {version} (lab build)",
                self.user,
            )
        ]

    def start(self, major: str) -> list[HostCommand]:
        log = str(self.node / "postgresql.log")
        return [
            HostCommand(self._pg_ctl("-l", log, "-w", "-t", "300", "start"), "start", self.user, timeout=360)
        ]


def _lab_user() -> str | None:
    return paths.LAB_USER if os.geteuid() == 0 else None


SOURCES: dict[Source, type[PackageSource]] = {
    Source.APT: AptPostgres,
    Source.DNF: DnfPostgres,
    Source.LAB: LabPostgres,
}


def package_source(target: Target) -> PackageSource:
    try:
        return SOURCES[target.package_source](target)
    except KeyError:
        raise ConfigError(
            f"inventory: {target.name}.package_source: {target.package_source.value} cannot install PostgreSQL"
        ) from None
