"""Package-source planners: given what a host offers, the exact argument lists (pyinfra-style fixtures)."""

from __future__ import annotations

import pytest

from dbpatch.errors import ConfigError, PatchError
from dbpatch.models import Target
from tasks.host.transport import Transport
from tasks.postgres.packages import AptPostgres, DnfPostgres, LabPostgres, package_source

MADISON = """\
postgresql-15 | 15.20-0+deb12u1 | http://deb.debian.org/debian-security bookworm-security/main amd64 Packages
postgresql-15 | 15.18-0+deb12u1 | http://deb.debian.org/debian bookworm/main amd64 Packages
"""
DNF = """\
Available Packages
postgresql15-server.x86_64      15.19-1PGDG.rhel9      pgdg15
postgresql15-server.x86_64      15.20-1PGDG.rhel9      pgdg15
"""


class Canned(Transport):
    """A transport that answers from a dict of argv → stdout and records what it was asked."""

    def __init__(self, answers: dict[tuple[str, ...], str]):
        super().__init__(host="db1")
        self.answers = answers

    def _run(self, argv, *, timeout, as_user, env, stdin):
        return 0, self.answers[tuple(argv)], ""


def target(**kw) -> Target:
    base = dict(
        name="pg-a",
        engine="postgresql",
        environment="prod",
        host="db1",
        port=5432,
        credentials="pg",
        package_source="apt",
    )
    return Target.model_validate({**base, **kw})


def test_apt_plans_pinned_versions_from_madison():
    src = AptPostgres(target(service="main"))
    assert src.available_versions(Canned({("apt-cache", "madison", "postgresql-15"): MADISON}), "15") == [
        "15.20",
        "15.18",
    ]
    assert [c.argv for c in src.stop("15")] == [("pg_ctlcluster", "15", "main", "stop", "-m", "fast")]
    (install,) = src.install("15", "15.20")
    assert install.argv == (
        "env",
        "DEBIAN_FRONTEND=noninteractive",
        "apt-get",
        "install",
        "-y",
        "-q",
        "--allow-downgrades",
        "-o",
        "Dpkg::Options::=--force-confold",
        "postgresql-15=15.20-0+deb12u1",
        "postgresql-client-15=15.20-0+deb12u1",
    )
    assert [c.argv for c in src.start("15")] == [("pg_ctlcluster", "15", "main", "start")]
    with pytest.raises(PatchError, match="apt does not offer postgresql-15 15.21"):
        src.install("15", "15.21")


def test_dnf_plans_pgdg_packages_and_systemd():
    src = DnfPostgres(target(package_source="dnf"))
    canned = Canned({("dnf", "-q", "--showduplicates", "list", "postgresql15-server"): DNF})
    assert src.available_versions(canned, "15") == ["15.19", "15.20"]
    (install,) = src.install("15", "15.20")
    assert install.argv == (
        "dnf",
        "-y",
        "-q",
        "install",
        "--allowerasing",
        "postgresql15-15.20-1PGDG.rhel9",
        "postgresql15-server-15.20-1PGDG.rhel9",
        "postgresql15-libs-15.20-1PGDG.rhel9",
    )
    assert [c.argv for c in src.stop("15")] == [("systemctl", "stop", "postgresql-15")]


def test_lab_source_needs_a_data_directory_and_switches_the_build_link():
    with pytest.raises(ConfigError, match="data_directory: required for package_source lab"):
        package_source(target(package_source="lab"))
    src = LabPostgres(target(package_source="lab", data_directory="/srv/lab/nodes/pg-a/data"))
    (install,) = src.install("15", "15.20")
    assert (
        install.argv[:3] == ("ln", "-sfn", str(src.repo / "postgresql-15.20"))
        and install.argv[3] == "/srv/lab/nodes/pg-a/build"
    )
    (stop,) = src.stop("15")
    assert stop.argv == (
        "/srv/lab/nodes/pg-a/build/bin/pg_ctl",
        "-D",
        "/srv/lab/nodes/pg-a/data",
        "-m",
        "fast",
        "-w",
        "-t",
        "300",
        "stop",
    )


def test_sqlserver_source_cannot_install_postgresql():
    with pytest.raises(ConfigError, match="sqlserver-cu cannot install PostgreSQL"):
        package_source(target(package_source="sqlserver-cu"))
