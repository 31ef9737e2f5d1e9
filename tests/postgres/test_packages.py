"""Package-source planners: given what a host offers, the exact argument lists (pyinfra-style fixtures)."""

from __future__ import annotations

import pytest

from dbpatch.errors import CommandFailed, ConfigError, PatchError
from dbpatch.models import Target
from tasks.facts import NodeFacts
from tasks.host.packages import ROOT
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


DPKG = """\
ii \tlibpq5:amd64\tpostgresql-15\t15.20-0+deb12u1
ii \tpostgresql-15\tpostgresql-15\t15.18-0+deb12u1
ii \tpostgresql-client-15\tpostgresql-15\t15.18-0+deb12u1
ii \tpostgresql-plperl-15\tpostgresql-15\t15.18-0+deb12u1
rc \tpostgresql-pltcl-15\tpostgresql-15\t15.18-0+deb12u1
ii \tpostgresql-common\tpostgresql-common\t248+deb12u2
"""
DPKG_QUERY = (
    "dpkg-query",
    "-W",
    "-f=${db:Status-Abbrev}\\t${binary:Package}\\t${source:Package}\\t${Version}\\n",
)
PINNED = (
    "postgresql-15=15.20-0+deb12u1",
    "postgresql-client-15=15.20-0+deb12u1",
    "postgresql-plperl-15=15.20-0+deb12u1",
)
SIM_HELD = """\
The following held packages will be changed:
  postgresql-15
The following packages will be upgraded:
  postgresql-15 postgresql-client-15
Inst postgresql-15 [15.18-0+deb12u1] (15.20-0+deb12u1 Debian-Security:12/oldstable-security [amd64])
"""
SIM_REMOVE = """\
Remv postgresql-plperl-15 [15.20-0+deb12u1]
Inst postgresql-15 [15.20-0+deb12u1] (15.18-0+deb12u1 Debian:12 [amd64])
"""


class Canned(Transport):
    """A transport that answers from a dict of argv → stdout (or (rc, stdout, stderr)) and records requests."""

    def __init__(self, answers: dict[tuple[str, ...], str | tuple[int, str, str]]):
        super().__init__(host="db1")
        self.answers = answers
        self.asked: list[tuple[tuple[str, ...], str | None]] = []

    def _run(self, argv, *, timeout, as_user, env, stdin):
        self.asked.append((tuple(argv), as_user))
        answer = self.answers[tuple(argv)]
        return answer if isinstance(answer, tuple) else (0, answer, "")


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


def apt_source(extra: dict | None = None) -> tuple[AptPostgres, Canned]:
    src = AptPostgres(target(service="main"))
    canned = Canned({("apt-cache", "madison", "postgresql-15"): MADISON, DPKG_QUERY: DPKG, **(extra or {})})
    assert src.available_versions(canned, "15") == ["15.20", "15.18"]
    return src, canned


def test_apt_plans_pinned_versions_for_every_package_of_the_server_source():
    src, _ = apt_source()
    # plperl is installed, so it is pinned with the server; libpq5 (a shared library) and the removed pltcl are not
    assert src.packages("15") == ["postgresql-15", "postgresql-client-15", "postgresql-plperl-15"]
    (stop,) = src.stop("15")
    assert (stop.argv, stop.as_user, stop.ok_returncodes) == (
        ("pg_ctlcluster", "15", "main", "stop", "-m", "fast"),
        ROOT,
        (0, 2),
    )
    (install,) = src.install("15", "15.20")
    assert install.as_user == ROOT
    assert install.argv[:2] == ("sh", "-c") and install.argv[3:5] == ("dbpatch-install", "15.20-0+deb12u1")
    assert install.argv[5:] == (  # run unless every package is at the version already (prepare installed it)
        "env",
        "DEBIAN_FRONTEND=noninteractive",
        "apt-get",
        "install",
        "-y",
        "-q",
        "--allow-downgrades",
        "--no-remove",
        "-o",
        "Dpkg::Options::=--force-confold",
        *PINNED,
    )
    (start,) = src.start("15")
    assert (start.argv, start.as_user, start.ok_returncodes) == (
        ("pg_ctlcluster", "15", "main", "start"),
        ROOT,
        (0, 2),
    )
    with pytest.raises(PatchError, match="apt does not offer postgresql-15 15.21"):
        src.install("15", "15.21")


def test_apt_refreshes_lists_and_downloads_before_the_stop():
    src, _ = apt_source()
    assert [(c.argv, c.as_user) for c in src.refresh_lists()] == [(("apt-get", "update", "-q"), ROOT)]
    configure, download, unpack = src.prepare("15", "15.20")
    assert configure.as_user == ROOT and configure.argv[3:] == (
        "dbpatch-configure",
        "dpkg",
        "--configure",
        "-a",
    )
    assert "policy-rc.d" in configure.argv[2]  # finishing an interrupted dpkg never restarts the cluster
    assert download.as_user == ROOT and "--download-only" in download.argv and download.argv[-3:] == PINNED
    assert unpack.as_user == ROOT and unpack.argv[:2] == ("sh", "-c") and "policy-rc.d" in unpack.argv[2]
    assert (
        unpack.argv[3:8] == ("dbpatch-unpack", "apt-get", "install", "-y", "-q")
        and unpack.argv[-3:] == PINNED
    )
    src.unpack_while_running = False
    assert src.prepare("15", "15.20") == [configure, download]


def test_apt_install_simulation_finds_held_packages_removals_and_errors():
    sim = ("apt-get", "-s", "-q", "install", "--allow-downgrades", "--no-remove", *PINNED)
    src, canned = apt_source({sim: SIM_HELD})
    assert src.install_problems(canned, "15", "15.20") == [
        "change held package postgresql-15 (apt-mark unhold)"
    ]
    assert canned.asked[-1] == (sim, None)  # a simulation needs no root
    src, canned = apt_source({sim: SIM_REMOVE})
    assert src.install_problems(canned, "15", "15.20") == ["remove postgresql-plperl-15"]
    broken = (100, "", "E: Packages need to be removed but remove is disabled.\n")
    src, canned = apt_source({sim: broken})
    assert src.install_problems(canned, "15", "15.20") == [
        "fail: Packages need to be removed but remove is disabled."
    ]
    src, canned = apt_source({sim: "Inst postgresql-15 [15.18-0+deb12u1] (15.20-0+deb12u1)\n"})
    assert src.install_problems(canned, "15", "15.20") == []
    assert src.install_problems(canned, "15", "15.99") == [
        "fail: pg-a: apt does not offer postgresql-15 15.99"
    ]


def test_host_command_accepts_its_ok_returncodes_only():
    src, _ = apt_source()
    (start,) = src.start("15")
    running = Canned({start.argv: (2, "", "Cluster is already running.")})
    assert start.run(running).returncode == 2
    (install,) = src.install("15", "15.20")
    with pytest.raises(CommandFailed, match="exited 2"):
        install.run(Canned({install.argv: (2, "", "E: boom")}))


RPMS = """\
postgresql15\tpostgresql15-15.18-1PGDG.rhel9.src.rpm\t15.18-1PGDG.rhel9
postgresql15-server\tpostgresql15-15.18-1PGDG.rhel9.src.rpm\t15.18-1PGDG.rhel9
postgresql15-plperl\tpostgresql15-15.18-1PGDG.rhel9.src.rpm\t15.18-1PGDG.rhel9
postgresql15-libs\tpostgresql15-15.18-1PGDG.rhel9.src.rpm\t15.18-1PGDG.rhel9
postgresql16-libs\tpostgresql16-16.2-1PGDG.rhel9.src.rpm\t16.2-1PGDG.rhel9
"""
RPM_QUERY = ("rpm", "-qa", "--qf", "%{NAME}\\t%{SOURCERPM}\\t%{VERSION}-%{RELEASE}\\n")
DNF_SPECS = (
    "postgresql15-15.20-1PGDG.rhel9",
    "postgresql15-libs-15.20-1PGDG.rhel9",
    "postgresql15-plperl-15.20-1PGDG.rhel9",
    "postgresql15-server-15.20-1PGDG.rhel9",
)


def dnf_source(extra: dict | None = None) -> tuple[DnfPostgres, Canned]:
    src = DnfPostgres(target(package_source="dnf"))
    canned = Canned(
        {
            ("dnf", "-q", "--showduplicates", "list", "postgresql15-server"): DNF,
            RPM_QUERY: RPMS,
            **(extra or {}),
        }
    )
    assert src.available_versions(canned, "15") == ["15.19", "15.20"]
    return src, canned


def test_dnf_plans_pgdg_packages_and_systemd_without_erasing():
    src, _ = dnf_source()
    (install,) = src.install("15", "15.20")
    assert install.as_user == ROOT
    assert install.argv == ("dnf", "-y", "-q", "install", *DNF_SPECS)  # no --allowerasing: never remove
    assert [(c.argv, c.as_user) for c in src.stop("15")] == [(("systemctl", "stop", "postgresql-15"), ROOT)]
    assert [c.argv for c in src.refresh_lists()] == [("dnf", "-q", "makecache", "--refresh")]
    (prepare,) = src.prepare("15", "15.20")
    assert prepare.argv == ("dnf", "-y", "-q", "install", "--downloadonly", *DNF_SPECS)


def test_dnf_install_simulation_finds_versionlocks_and_removals():
    removing = "Dependencies resolved.\nRemoving dependent packages:\n pgaudit_15  x86_64  1.7-1  @pgdg15\n\nError: Operation aborted.\n"
    src, canned = dnf_source(
        {
            ("dnf", "-q", "versionlock", "list"): "postgresql15-server-0:15.18-1PGDG.rhel9.*\n",
            ("dnf", "install", "--assumeno", *DNF_SPECS): (1, removing, ""),
        }
    )
    assert src.install_problems(canned, "15", "15.20") == [
        "change versionlocked postgresql15-server (dnf versionlock delete)",
        "remove pgaudit_15",
        "fail: Operation aborted.",
    ]


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


def test_free_space_is_read_as_the_data_owner_and_a_failed_df_says_so():
    from dbpatch.models import Engine, Thresholds
    from tasks.postgres import checks
    from tasks.postgres.node import PgNode, free_bytes

    df = ("df", "-B1", "--output=avail", "/var/lib/postgresql/15/main")
    ok = Canned({df: "   Avail\n1073741824\n"})
    node = PgNode(target(), None, ok, AptPostgres(target()))  # type: ignore[arg-type]
    assert free_bytes(node, df[-1]) == 1 << 30 and ok.asked == [(df, "postgres")]
    denied = (1, "", "df: cannot change to directory '/var/lib/postgresql/15/main': Permission denied\n")
    node.transport = Canned({df: denied})
    with pytest.raises(PatchError, match="pg-a: df failed: df: cannot change to directory"):
        free_bytes(node, df[-1])
    facts = [NodeFacts("pg-a", Engine.POSTGRESQL, "pg-a", "prod", True)]
    host = checks.HostFacts(errors={"pg-a": "pg-a: df failed: Permission denied"})
    (check,) = checks.disk_space(facts, host, Thresholds())
    assert not check.ok and check.measured == "unknown" and "0 MiB" not in check.sentence
    assert check.sentence == "pg-a: free disk space unknown (pg-a: df failed: Permission denied)"
