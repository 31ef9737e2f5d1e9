"""Where MongoDB binaries come from, and the host commands that stop, install and start one member.

Planners only (``HostCommand`` lists), as ``tasks/host/packages.py`` describes: nothing here runs a command
except ``available_versions``, which reads a fact through the transport.

- ``apt``: MongoDB's own repository (repo.mongodb.org). Every versioned package is pinned to the same
  version, as MongoDB's "install a specific release" instructions do, then held again.
- ``dnf``: the same packages, ``name-version``; ``--disableexcludes=all`` lets the install through the
  ``exclude=mongodb-org,…`` pin MongoDB documents for dnf.conf, and leaves that pin in place.
- ``lab``: the simulated replica set (``lab.mongosim``); ``data_directory`` is its state directory
  and the member is named by its port.
"""

from __future__ import annotations

import sys

from dbpatch.errors import ConfigError, NotSupported
from dbpatch.models import PackageSource as Source
from dbpatch.models import Target
from tasks.host.packages import HostCommand, PackageSource, parse_apt_madison, parse_dnf_list
from tasks.host.transport import Transport

SERVER_PACKAGE = "mongodb-org-server"


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def _in_series(versions: list[str], major: str) -> list[str]:
    return sorted((v for v in versions if v.startswith(major + ".")), key=_key)


def versioned_packages(major: str) -> tuple[str, ...]:
    """Packages that carry the server's version. The legacy shell (mongodb-org-shell) went away in 6.0;
    mongosh (mongodb-mongosh) and mongodb-database-tools are versioned on their own and are not touched."""
    packages = ("mongodb-org", "mongodb-org-database", "mongodb-org-server", "mongodb-org-mongos",
                "mongodb-org-tools", "mongodb-org-database-tools-extra")  # fmt: skip
    return packages + (("mongodb-org-shell",) if _key(major)[:2] < (6, 0) else ())


class _Systemd(PackageSource):
    """stop/start through systemd's ``mongod`` unit (``service`` overrides the unit name)."""

    @property
    def unit(self) -> str:
        return self.target.service or "mongod"

    def stop(self, major: str) -> list[HostCommand]:
        return [
            HostCommand(
                ("systemctl", "stop", self.unit), f"stop {self.unit} on {self.target.host}", timeout=600
            )
        ]

    def start(self, major: str) -> list[HostCommand]:
        return [
            HostCommand(
                ("systemctl", "start", self.unit), f"start {self.unit} on {self.target.host}", timeout=600
            )
        ]


class AptMongo(_Systemd):
    name = "apt"

    def available_versions(self, transport: Transport, major: str) -> list[str]:
        result = transport.run(["apt-cache", "madison", SERVER_PACKAGE], timeout=60)
        return _in_series(list(parse_apt_madison(result.stdout, SERVER_PACKAGE)), major)

    def install(self, major: str, version: str) -> list[HostCommand]:
        packages = versioned_packages(major)
        return [
            HostCommand(
                ("apt-mark", "unhold", *packages), f"release the apt hold on MongoDB {major} packages"
            ),
            HostCommand(
                (
                    "apt-get",
                    "install",
                    "-y",
                    "--allow-downgrades",
                    "-o",
                    "Dpkg::Options::=--force-confdef",
                    "-o",
                    "Dpkg::Options::=--force-confold",
                    *(f"{p}={version}" for p in packages),
                ),
                f"install MongoDB {version} packages on {self.target.host} (keeping mongod.conf)",
                timeout=1800,
            ),  # fmt: skip
            HostCommand(("apt-mark", "hold", *packages), f"hold MongoDB packages at {version}"),
        ]


class DnfMongo(_Systemd):
    name = "dnf"

    def available_versions(self, transport: Transport, major: str) -> list[str]:
        result = transport.run(
            ["dnf", "--showduplicates", "--disableexcludes=all", "list", SERVER_PACKAGE], timeout=120
        )
        return _in_series(list(parse_dnf_list(result.stdout, SERVER_PACKAGE)), major)

    def install(self, major: str, version: str) -> list[HostCommand]:
        packages = versioned_packages(major)
        return [
            HostCommand(
                ("dnf", "install", "-y", "--disableexcludes=all", *(f"{p}-{version}" for p in packages)),
                f"install MongoDB {version} packages on {self.target.host} (upgrade or downgrade)",
                timeout=1800,
            )
        ]


class LabMongo(PackageSource):
    """A member of the simulated replica set: every command goes to ``mongosim ctl``."""

    name = "lab"

    def __init__(self, target: Target):
        super().__init__(target)
        if not target.data_directory:
            raise ConfigError(
                f"inventory: {target.name}.data_directory: lab MongoDB targets need the simulator's state directory"
            )
        self.state_dir = target.data_directory
        self.member = str(target.port)

    def _ctl(self, *args: str) -> tuple[str, ...]:
        return (sys.executable, "-m", "lab.mongosim", "ctl", "--state", self.state_dir, *args)

    def available_versions(self, transport: Transport, major: str) -> list[str]:
        result = transport.run(list(self._ctl("versions", major)), timeout=30)
        return _in_series([line.strip() for line in result.stdout.splitlines() if line.strip()], major)

    def stop(self, major: str) -> list[HostCommand]:
        return [
            HostCommand(self._ctl("stop", self.member), f"stop simulated mongod {self._where}", timeout=60)
        ]

    def install(self, major: str, version: str) -> list[HostCommand]:
        return [
            HostCommand(
                self._ctl("install", version, self.member),
                f"install simulated mongod {version} on {self._where}",
                timeout=60,
            )
        ]

    def start(self, major: str) -> list[HostCommand]:
        return [
            HostCommand(self._ctl("start", self.member), f"start simulated mongod {self._where}", timeout=60)
        ]

    def status(self) -> HostCommand:
        """Exit 0 running, 3 stopped (as ``systemctl status``)."""
        return HostCommand(
            self._ctl("status", self.member), f"status of simulated mongod {self._where}", timeout=30
        )

    @property
    def _where(self) -> str:
        return f"{self.target.host}:{self.target.port} ({self.target.name})"


SOURCES: dict[Source, type[PackageSource]] = {
    Source.APT: AptMongo,
    Source.DNF: DnfMongo,
    Source.LAB: LabMongo,
}


def package_source(target: Target) -> PackageSource:
    """The planner for a MongoDB target's ``package_source``."""
    try:
        return SOURCES[target.package_source](target)
    except KeyError:
        raise NotSupported(
            f"{target.name}: MongoDB packages cannot come from {target.package_source.value}"
        ) from None
