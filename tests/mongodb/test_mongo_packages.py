"""Package-source planners: the exact commands for apt, dnf and the simulated lab (nothing is run)."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import pytest

from dbpatch.errors import ConfigError, NotSupported
from dbpatch.models import Engine, Target
from dbpatch.models import PackageSource as Source
from tasks.host.transport import Transport
from tasks.mongodb.packages import AptMongo, DnfMongo, LabMongo, package_source


def _target(source: Source, **kw) -> Target:
    return Target(name="mongo-1", engine=Engine.MONGODB, environment="prod", cluster="rs0", host="db1.example.com",
                  port=27017, credentials="mongo", package_source=source, **kw)  # fmt: skip


@dataclass
class Canned(Transport):
    """A transport that answers every command with one canned stdout."""

    stdout: str = ""

    def _run(self, argv, *, timeout, as_user, env, stdin):
        return 0, self.stdout, ""


def test_apt_pins_every_versioned_package_and_holds_them_again() -> None:
    plan = AptMongo(_target(Source.APT)).install("7.0", "7.0.14")
    assert [c.argv[:2] for c in plan] == [
        ("apt-mark", "unhold"),
        ("apt-get", "install"),
        ("apt-mark", "hold"),
    ]
    install = plan[1].argv
    assert "--allow-downgrades" in install and "Dpkg::Options::=--force-confold" in install
    pinned = [a for a in install if "=" in a and not a.startswith("Dpkg")]
    assert pinned == ["mongodb-org=7.0.14", "mongodb-org-database=7.0.14", "mongodb-org-server=7.0.14",
                      "mongodb-org-mongos=7.0.14", "mongodb-org-tools=7.0.14",
                      "mongodb-org-database-tools-extra=7.0.14"]  # fmt: skip
    assert plan[0].argv[2:] == plan[2].argv[2:]
    assert "mongodb-org-shell=5.0.30" in AptMongo(_target(Source.APT)).install("5.0", "5.0.30")[1].argv


def test_apt_stop_start_use_the_service_unit() -> None:
    source = AptMongo(_target(Source.APT, service="mongod-rs0"))
    assert source.stop("7.0")[0].argv == ("systemctl", "stop", "mongod-rs0")
    assert source.start("7.0")[0].argv == ("systemctl", "start", "mongod-rs0")


def test_apt_available_versions_from_madison() -> None:
    madison = (
        "mongodb-org-server |     7.0.14 | https://repo.mongodb.org/apt/ubuntu jammy/mongodb-org/7.0/multiverse amd64 Packages\n"
        "mongodb-org-server |      7.0.9 | https://repo.mongodb.org/apt/ubuntu jammy/mongodb-org/7.0/multiverse amd64 Packages\n"
        "mongodb-org-server |      6.0.5 | https://repo.mongodb.org/apt/ubuntu jammy/mongodb-org/6.0/multiverse amd64 Packages\n"
    )
    transport = Canned(host="db1", stdout=madison)
    assert AptMongo(_target(Source.APT)).available_versions(transport, "7.0") == ["7.0.9", "7.0.14"]
    assert transport.history[0].argv == ("apt-cache", "madison", "mongodb-org-server")


def test_dnf_installs_name_version_through_the_documented_exclude_pin() -> None:
    (install,) = DnfMongo(_target(Source.DNF)).install("8.0", "8.0.4")
    assert install.argv[:4] == ("dnf", "install", "-y", "--disableexcludes=all")
    assert "mongodb-org-server-8.0.4" in install.argv and "mongodb-org-shell-8.0.4" not in install.argv
    listing = "mongodb-org-server.x86_64   8.0.4-1.el9   mongodb-org-8.0\nmongodb-org-server.x86_64   8.0.3-1.el9   mongodb-org-8.0\n"
    versions = DnfMongo(_target(Source.DNF)).available_versions(Canned(host="db1", stdout=listing), "8.0")
    assert versions == ["8.0.3", "8.0.4"]


def test_lab_commands_go_to_the_simulator_and_say_simulated() -> None:
    source = LabMongo(_target(Source.LAB, data_directory="/var/tmp/lab/mongo-catalog"))
    ctl = (sys.executable, "-m", "lab.mongosim", "ctl", "--state", "/var/tmp/lab/mongo-catalog")
    assert source.stop("7.0")[0].argv == (*ctl, "stop", "27017")
    assert source.install("7.0", "7.0.14")[0].argv == (*ctl, "install", "7.0.14", "27017")
    assert source.start("7.0")[0].argv == (*ctl, "start", "27017")
    for command in source.stop("7.0") + source.install("7.0", "7.0.14") + source.start("7.0"):
        assert "simulated" in command.description


def test_lab_needs_the_state_directory_and_sqlserver_cu_is_refused() -> None:
    with pytest.raises(ConfigError, match="data_directory"):
        LabMongo(_target(Source.LAB))
    assert isinstance(package_source(_target(Source.APT)), AptMongo)
    with pytest.raises(NotSupported):
        package_source(_target(Source.SQLSERVER_CU))


def test_credentials_block_keeps_the_password_secret() -> None:
    from blocks.mongodb import MongoCredentials

    block = MongoCredentials(username="dbpatch", password="s3cret")
    assert "s3cret" not in repr(block)
    assert block.login()["password"] == "s3cret"
    assert MongoCredentials().login()["username"] is None
    assert all(f.description for f in MongoCredentials.model_fields.values())
