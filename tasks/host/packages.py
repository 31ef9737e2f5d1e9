"""The package-source seam: what a host can install, and the commands that stop, install and start a node.

A ``PackageSource`` is a planner (pyinfra's operations): it returns ``HostCommand`` lists and never runs them,
so a dry run shows exactly what would run. Facts about what is installable (``apt-cache madison``,
``dnf --showduplicates list``, the lab's builds) are read through a ``Transport``. Engines subclass it per
source (``tasks/postgres/packages.py``, ``tasks/mongodb/packages.py``).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass

from dbpatch.errors import CommandFailed
from dbpatch.models import Target
from tasks.host.transport import CommandResult, Transport

ROOT = "root"
"""``as_user`` of commands that need root: run as is by a root login, through ``sudo -n`` otherwise."""


@dataclass(frozen=True)
class HostCommand:
    """One command for a host, with the sentence a dry run prints for it.

    ``as_user`` is the OS user the command must run as (``ROOT`` for package managers and service control, the
    data owner for files in the data directory); ``None`` runs it as the login user. ``ok_returncodes`` are the
    exit statuses that mean "done" (``pg_ctlcluster start`` exits 2 when the cluster already runs).
    """

    argv: tuple[str, ...]
    description: str
    as_user: str | None = None
    timeout: float = 300.0
    ok_returncodes: tuple[int, ...] = (0,)

    def run(self, transport: Transport) -> CommandResult:
        res = transport.run(self.argv, as_user=self.as_user, timeout=self.timeout, check=False)
        if res.returncode not in self.ok_returncodes:
            raise CommandFailed(transport.host, self.argv, res.returncode, res.stderr or res.stdout)
        return res


class PackageSource(ABC):
    """Plans stop / install / start for one target's engine on its host."""

    name: str = "abstract"

    def __init__(self, target: Target):
        self.target = target

    @abstractmethod
    def available_versions(self, transport: Transport, major: str) -> list[str]:
        """Upstream versions of ``major`` this host's source can install (a fact, no side effects)."""

    @abstractmethod
    def stop(self, major: str) -> list[HostCommand]:
        """Cleanly stop the node."""

    @abstractmethod
    def install(self, major: str, version: str) -> list[HostCommand]:
        """Install ``version`` (upgrade or downgrade) of the engine's packages for ``major``."""

    @abstractmethod
    def start(self, major: str) -> list[HostCommand]:
        """Start the node with whatever version is installed."""

    # Optional hooks: the rolling procedure calls them while the node still runs, so that the outage holds no
    # list refresh, no download and no surprise from the package manager.

    def refresh_lists(self) -> list[HostCommand]:
        """Commands that refresh the package lists before availability is read (none by default)."""
        return []

    def install_problems(self, transport: Transport, major: str, version: str) -> list[str] | None:
        """Why installing ``version`` would go wrong (held packages, removals, conflicts), found by simulating
        the exact install; an empty list means it would go through, None that this source cannot simulate
        (no check is reported then). Read-only."""
        return None

    def prepare(self, major: str, version: str) -> list[HostCommand]:
        """Commands that can run before the stop (download the packages); none by default."""
        return []

    def bindir(self, major: str) -> str:
        """Where the engine's server tools live on the host (PostgreSQL: pg_controldata, pg_ctl)."""
        raise NotImplementedError(f"{self.name} does not say where {major} server tools live")


# --- parsers for package-manager output, shared by engines ----------------------------------------------

_DEB_VERSION = re.compile(r"^(?:\d+:)?(?P<upstream>\d+(?:\.\d+)+)(?:[-~+].*)?$")


def parse_apt_madison(output: str, package: str) -> dict[str, str]:
    """``apt-cache madison PKG`` → {upstream version: full Debian version}.

    >>> parse_apt_madison("postgresql-15 | 15.20-0+deb12u1 | http://x bookworm-security/main amd64 Packages", "postgresql-15")
    {'15.20': '15.20-0+deb12u1'}
    """
    out: dict[str, str] = {}
    for line in output.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) < 3 or parts[0] != package:
            continue
        m = _DEB_VERSION.match(parts[1])
        if m:
            out.setdefault(m.group("upstream"), parts[1])
    return out


def parse_dnf_list(output: str, package: str) -> dict[str, str]:
    """``dnf --showduplicates list PKG`` → {upstream version: full version-release}.

    >>> parse_dnf_list("postgresql15-server.x86_64   15.20-1PGDG.rhel9   pgdg15", "postgresql15-server")
    {'15.20': '15.20-1PGDG.rhel9'}
    """
    out: dict[str, str] = {}
    for line in output.splitlines():
        fields = line.split()
        if len(fields) < 2 or fields[0].rsplit(".", 1)[0] != package:
            continue
        m = _DEB_VERSION.match(fields[1])
        if m:
            out.setdefault(m.group("upstream"), fields[1])
    return out


_SOURCE_LINE = re.compile(
    r"^(?P<status>\S+) *\t(?P<package>[^\t:]+)(?::\S+)?\t(?P<source>[^\t ]*)[^\t]*\t(?P<version>.*)$"
)


def parse_dpkg_sources(output: str, source: str) -> dict[str, str]:
    """``dpkg-query -W -f='${db:Status-Abbrev}\\t${binary:Package}\\t${source:Package}\\t${Version}\\n'`` →
    {installed binary package built from ``source``: its version}.

    >>> parse_dpkg_sources("ii \\tpostgresql-plperl-15\\tpostgresql-15\\t15.18-0+deb12u1\\n", "postgresql-15")
    {'postgresql-plperl-15': '15.18-0+deb12u1'}
    """
    out: dict[str, str] = {}
    for line in output.splitlines():
        m = _SOURCE_LINE.match(line)
        # second letter of the status: 'i' installed (first letter 'h' = held, still installed)
        if m and m.group("source") == source and m.group("status")[1:2] == "i":
            out[m.group("package")] = m.group("version").strip()
    return out


def parse_apt_simulation(output: str) -> list[str]:
    """What ``apt-get -s install …`` says would go wrong, as phrases after "would": held packages changed,
    packages removed, and apt's own errors (``E: …``: conflicts, unmet dependencies, removal refused)."""
    problems: list[str] = []
    held: list[str] = []
    in_held = False
    for line in output.splitlines():
        if line.startswith("The following held packages will be changed"):
            in_held = True
            continue
        if in_held and line.startswith(" "):
            held += line.split()
            continue
        in_held = False
        if line.startswith("Remv "):
            problems.append(f"remove {line.split()[1]}")
        elif line.startswith("E: "):
            problems.append(f"fail: {line[3:].strip()}")
    if held:
        problems.insert(
            0, f"change held package{'s' if len(held) > 1 else ''} {', '.join(held)} (apt-mark unhold)"
        )
    return problems
