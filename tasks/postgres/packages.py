"""PostgreSQL package sources: apt (Debian/Ubuntu, pg_ctlcluster), dnf (PGDG, systemd) and the lab's builds.

Each plans argument lists only; facts (what is installable, what is installed) are read through a transport.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from dbpatch import paths
from dbpatch.errors import ConfigError, PatchError
from dbpatch.models import PackageSource as Source
from dbpatch.models import Target
from tasks.host.packages import (
    ROOT,
    HostCommand,
    PackageSource,
    parse_apt_madison,
    parse_apt_simulation,
    parse_dnf_list,
    parse_dpkg_sources,
)
from tasks.host.transport import Transport

# Run as root with apt-get's arguments: install while the cluster runs, with a policy-rc.d that refuses only
# postgresql's service actions (invoke-rc.d and deb-systemd-invoke ask it), removed on exit. A policy-rc.d of
# someone else is left alone, and then nothing is installed here: the install step does it during the outage.
_UNPACK_WHILE_RUNNING = "; ".join(  # one line, so a dry run and the run report show it on one line
    (
        "set -e",
        "p=/usr/sbin/policy-rc.d",
        "m='# dbpatch: PostgreSQL is installed while its cluster runs; the restart follows'",
        'if [ -e "$p" ] && ! grep -qF "$m" "$p"; then'
        ' echo "$p exists and is not dbpatch\'s: installing during the outage instead" >&2; exit 0; fi',
        "trap 'rm -f \"$p\"' EXIT",
        "trap 'exit 1' HUP INT TERM",
        "printf '%s\\n' '#!/bin/sh' \"$m\""
        ' \'for a; do case "$a" in --*) ;; postgresql*) exit 101 ;; *) exit 0 ;; esac; done; exit 0\' >"$p"',
        'chmod 0755 "$p"',
        'env DEBIAN_FRONTEND=noninteractive "$@"',
    )
)

# $1 the Debian version, then the apt-get command: run it unless every pinned package is at that version.
_INSTALL_UNLESS_INSTALLED = "; ".join(
    (
        "v=$1",
        "shift",
        'for a; do case "$a" in *=$v) s=$(dpkg-query -W -f=\'${db:Status-Abbrev}${Version}\' "${a%=*}" 2>/dev/null)',
        ' [ "$s" = "ii $v" ] || [ "$s" = "hi $v" ] || exec "$@";; esac; done',
        'echo "already installed: every package at $v"',
    )
)


class AptPostgres(PackageSource):
    """Debian/Ubuntu: ``postgresql-<major>`` packages, clusters managed with ``pg_ctlcluster``.

    Package and service commands run as root (``sudo -n`` for a non-root login); ``pg_ctlcluster`` runs as root
    too, so that on a systemd host it goes through ``postgresql@<major>-<cluster>`` as the host expects.
    Every installed binary package built from the server's source package (client, plperl, plpython3, pltcl,
    doc, …) is pinned to the same version, since they depend on the exact server version and apt would
    otherwise remove them on a downgrade; shared libraries (libpq5, libecpg…) are left to apt: other software
    uses them and no server package depends on their exact version. apt may never remove a package
    (``--no-remove``).
    """

    name = "apt"
    data_owner = "postgres"

    def __init__(self, target: Target, unpack_while_running: bool = True):
        super().__init__(target)
        self.cluster = target.service or "main"
        self.unpack_while_running = unpack_while_running
        self._full: dict[str, str] = {}
        self._family: dict[str, str] = {}  # installed binary package of the server's source → version

    def bindir(self, major: str) -> str:
        return f"/usr/lib/postgresql/{major}/bin"

    def available_versions(self, transport: Transport, major: str) -> list[str]:
        """Versions apt offers (``apt-cache madison``); also notes the installed packages of the same source."""
        out = transport.run(["apt-cache", "madison", f"postgresql-{major}"], timeout=60).stdout
        self._full = parse_apt_madison(out, f"postgresql-{major}")
        self._family = self.installed_family(transport, major)
        return list(self._full)

    def installed_family(self, transport: Transport, major: str) -> dict[str, str]:
        """Installed binary packages built from ``postgresql-<major>``, shared libraries excepted."""
        fmt = "${db:Status-Abbrev}\\t${binary:Package}\\t${source:Package}\\t${Version}\\n"
        out = transport.run(["dpkg-query", "-W", f"-f={fmt}"], timeout=60).stdout
        found = parse_dpkg_sources(out, f"postgresql-{major}")
        return {p: v for p, v in found.items() if not p.startswith("lib")}

    def packages(self, major: str) -> list[str]:
        """The packages an install pins: server and client, and every installed package of the same source."""
        return sorted({f"postgresql-{major}", f"postgresql-client-{major}", *self._family})

    def _full_version(self, major: str, version: str) -> str:
        full = self._full.get(version)
        if not full:
            raise PatchError(f"{self.target.name}: apt does not offer postgresql-{major} {version}")
        return full

    def _apt_install(self, major: str, version: str, *options: str) -> tuple[str, ...]:
        full = self._full_version(major, version)
        return (
            "env",
            "DEBIAN_FRONTEND=noninteractive",
            "apt-get",
            "install",
            "-y",
            "-q",
            "--allow-downgrades",
            "--no-remove",
            *options,
            *(f"{p}={full}" for p in self.packages(major)),
        )

    def refresh_lists(self) -> list[HostCommand]:
        return [HostCommand(("apt-get", "update", "-q"), "refresh the package lists (apt-get update)", ROOT)]

    def install_problems(self, transport: Transport, major: str, version: str) -> list[str]:
        """Simulate the exact install (``apt-get -s``, no root needed, changes nothing) and say what it would
        do wrong: change a held package, remove a package, or fail (conflicts, unmet dependencies)."""
        try:
            full = self._full_version(major, version)
        except PatchError as exc:
            return [f"fail: {exc}"]
        argv = [
            "apt-get",
            "-s",
            "-q",
            "install",
            "--allow-downgrades",
            "--no-remove",
            *(f"{p}={full}" for p in self.packages(major)),
        ]
        res = transport.run(argv, timeout=120, check=False)
        problems = parse_apt_simulation(res.stdout + "\n" + res.stderr)
        if res.returncode != 0 and not any(p.startswith("fail:") for p in problems):
            tail = (res.stderr or res.stdout).strip().splitlines()[-1:] or [f"exit {res.returncode}"]
            problems.append(f"fail: apt-get -s exited {res.returncode}: {tail[0]}")
        return problems

    def prepare(self, major: str, version: str) -> list[HostCommand]:
        """Download, then (``unpack_while_running``) install while the cluster runs, with postgresql's service
        actions held back, so the outage is a restart: a running server keeps its binary (backends fork from
        the postmaster), and PostgreSQL keeps the ABI within a minor series for libraries loaded meanwhile."""
        full = self._full_version(major, version)
        commands = [
            HostCommand(  # a run killed inside dpkg leaves it "interrupted": apt refuses until this ran
                ("sh", "-c", _UNPACK_WHILE_RUNNING, "dbpatch-configure", "dpkg", "--configure", "-a"),
                "finish what an interrupted dpkg left unconfigured (postgresql's service actions held back)",
                ROOT,
                timeout=900,
            ),
            HostCommand(
                self._apt_install(major, version, "--download-only"),
                f"download postgresql-{major} {full} while the cluster runs",
                ROOT,
                timeout=900,
            ),
        ]
        if self.unpack_while_running:
            commands.append(
                HostCommand(
                    (
                        "sh",
                        "-c",
                        _UNPACK_WHILE_RUNNING,
                        "dbpatch-unpack",
                        *self._apt_install(major, version, "-o", "Dpkg::Options::=--force-confold")[2:],
                    ),
                    f"install postgresql-{major} {full} while the cluster runs (a policy-rc.d holds back only "
                    "postgresql's stop and start; the restart follows)",
                    ROOT,
                    timeout=900,
                )
            )
        return commands

    def stop(self, major: str) -> list[HostCommand]:
        return [
            HostCommand(
                ("pg_ctlcluster", major, self.cluster, "stop", "-m", "fast"),
                f"stop cluster {major}/{self.cluster} (fast shutdown; already stopped is fine)",
                ROOT,
                ok_returncodes=(0, 2),  # 2: not running
            )
        ]

    def install(self, major: str, version: str) -> list[HostCommand]:
        """apt-get install of the pinned packages; skipped (one dpkg-query) when all are at the version already,
        e.g. installed by ``prepare`` while the cluster ran."""
        full = self._full_version(major, version)
        argv = self._apt_install(major, version, "-o", "Dpkg::Options::=--force-confold")
        pkgs = ", ".join(self.packages(major))
        return [
            HostCommand(
                ("sh", "-c", _INSTALL_UNLESS_INSTALLED, "dbpatch-install", full, *argv),
                f"install {pkgs} {full} with apt (nothing to do if installed already)",
                ROOT,
                timeout=900,
            )
        ]

    def start(self, major: str) -> list[HostCommand]:
        return [
            HostCommand(
                ("pg_ctlcluster", major, self.cluster, "start"),
                f"start cluster {major}/{self.cluster} (already running is fine: the package scripts start it; "
                "version and role are verified next)",
                ROOT,
                ok_returncodes=(0, 2),  # 2: already running
            )
        ]


class DnfPostgres(PackageSource):
    """RHEL family with the PGDG repository: ``postgresql<major>-server``, systemd unit ``postgresql-<major>``.

    Not exercised on a real host here (none can be reached); see docs/design/dnf-hosts.md. Same pre-checks as
    apt: refresh the metadata, simulate the exact transaction (``--assumeno``) and refuse removals and
    versionlocked packages, download before the stop, pin every installed package of the server's source RPM.
    """

    name = "dnf"
    data_owner = "postgres"

    def __init__(self, target: Target):
        super().__init__(target)
        self._full: dict[str, str] = {}
        self._family: dict[str, str] = {}

    def bindir(self, major: str) -> str:
        return f"/usr/pgsql-{major}/bin"

    def unit(self, major: str) -> str:
        return self.target.service or f"postgresql-{major}"

    def available_versions(self, transport: Transport, major: str) -> list[str]:
        pkg = f"postgresql{major}-server"
        out = transport.run(["dnf", "-q", "--showduplicates", "list", pkg], timeout=300).stdout
        self._full = parse_dnf_list(out, pkg)
        rpms = transport.run(
            ["rpm", "-qa", "--qf", "%{NAME}\\t%{SOURCERPM}\\t%{VERSION}-%{RELEASE}\\n"], timeout=60
        ).stdout
        self._family = parse_rpm_sources(rpms, f"postgresql{major}")
        return list(self._full)

    def packages(self, major: str) -> list[str]:
        return sorted(
            {f"postgresql{major}", f"postgresql{major}-server", f"postgresql{major}-libs", *self._family}
        )

    def _specs(self, major: str, version: str) -> list[str]:
        full = self._full.get(version)
        if not full:
            raise PatchError(f"{self.target.name}: dnf does not offer postgresql{major}-server {version}")
        return [f"{p}-{full}" for p in self.packages(major)]

    def refresh_lists(self) -> list[HostCommand]:
        return [HostCommand(("dnf", "-q", "makecache", "--refresh"), "refresh the repository metadata", ROOT)]

    def install_problems(self, transport: Transport, major: str, version: str) -> list[str]:
        try:
            specs = self._specs(major, version)
        except PatchError as exc:
            return [f"fail: {exc}"]
        problems = []
        locks = transport.run(["dnf", "-q", "versionlock", "list"], timeout=120, check=False)
        names = (
            {_locked_name(line) for line in locks.stdout.splitlines() if line.strip()} if locks.ok else set()
        )
        locked = [p for p in self.packages(major) if p in names]
        if locked:
            problems.append(f"change versionlocked {', '.join(locked)} (dnf versionlock delete)")
        # --assumeno prints the transaction and exits 1 without changing anything
        res = transport.run(["dnf", "install", "--assumeno", *specs], timeout=300, check=False)
        return problems + parse_dnf_transaction(res.stdout + "\n" + res.stderr)

    def prepare(self, major: str, version: str) -> list[HostCommand]:
        return [
            HostCommand(
                ("dnf", "-y", "-q", "install", "--downloadonly", *self._specs(major, version)),
                f"download PostgreSQL {version} while the server runs",
                ROOT,
                timeout=900,
            )
        ]

    def stop(self, major: str) -> list[HostCommand]:
        return [HostCommand(("systemctl", "stop", self.unit(major)), f"stop {self.unit(major)}", ROOT)]

    def install(self, major: str, version: str) -> list[HostCommand]:
        # an exact NEVRA installs that version, up or down; without --allowerasing dnf never removes a package
        return [
            HostCommand(
                ("dnf", "-y", "-q", "install", *self._specs(major, version)),
                f"install PostgreSQL {version} with dnf",
                ROOT,
                timeout=900,
            )
        ]

    def start(self, major: str) -> list[HostCommand]:
        return [HostCommand(("systemctl", "start", self.unit(major)), f"start {self.unit(major)}", ROOT)]


def parse_rpm_sources(output: str, prefix: str) -> dict[str, str]:
    """``rpm -qa --qf '%{NAME}\\t%{SOURCERPM}\\t%{VERSION}-%{RELEASE}\\n'`` → {package of the server's source
    RPM (``postgresql15-15.20-1PGDG.rhel9.src.rpm``): version}."""
    out = {}
    for line in output.splitlines():
        parts = line.split("\t")
        if (
            len(parts) == 3
            and parts[1].startswith(f"{prefix}-")
            and parts[1][len(prefix) + 1 : len(prefix) + 2].isdigit()
        ):
            out[parts[0]] = parts[2]
    return out


def _locked_name(line: str) -> str:
    """``postgresql15-server-0:15.18-1PGDG.rhel9.*`` (``dnf versionlock list``) → ``postgresql15-server``."""
    m = re.match(r"^(?P<name>.+?)-(?:\d+:)?\d[^-]*-[^-]+$", line.strip())
    return m.group("name") if m else line.strip()


def parse_dnf_transaction(output: str) -> list[str]:
    """What ``dnf install --assumeno …`` would do wrong: remove packages, or fail (``Error: …``)."""
    problems, section = [], ""
    for line in output.splitlines():
        stripped = line.strip()
        if stripped.endswith(":") and not line.startswith(" "):
            section = stripped[:-1].lower()
            continue
        if section.startswith(("removing", "erasing")) and line.startswith(" ") and stripped:
            problems.append(f"remove {stripped.split()[0]}")
        if stripped.startswith("Error:"):
            problems.append(f"fail: {stripped[6:].strip()}")
        if not stripped:
            section = ""
    return problems


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
