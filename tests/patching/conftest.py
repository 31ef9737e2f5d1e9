"""Fresh lab clusters per test (patching changes them): real servers from the cached registry builds."""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from lab.lab import LAB_POLICY, Lab, NodeSpec
from tests.conftest import _free_base_port
from tests.host.sshd import sshd  # noqa: F401 - session fixture

CLUSTER = (
    NodeSpec("pt-1", 0, "15.18", "prod", cluster="pt"),
    NodeSpec("pt-2", 1, "15.18", "prod", cluster="pt", upstream="pt-1"),
)
STANDALONE = (NodeSpec("ps", 2, "15.18", "test"),)


def policy(**thresholds) -> dict:
    p = copy.deepcopy(LAB_POLICY)
    p["thresholds"].update(thresholds)
    p["thresholds"].setdefault("catchup_timeout_seconds", 20)
    return p


@pytest.fixture
def make_lab(prefect_harness, monkeypatch):
    """Labs of fresh real servers; each test journals into its own state directory (clusters share names)."""
    made: list[Lab] = []

    def make(topology=CLUSTER + STANDALONE, **thresholds) -> Lab:
        root = Path(tempfile.mkdtemp(prefix="dbpatch-patch-", dir="/var/tmp"))
        root.chmod(0o755)
        monkeypatch.setenv("DBPATCH_STATE", str(root / "state"))
        lab = Lab(
            root=root / "lab", base_port=_free_base_port(), topology=topology, policy=policy(**thresholds)
        )
        made.append(lab)
        lab.up()
        lab.save_blocks()
        return lab

    yield make
    for lab in made:
        lab.down(destroy=True)
        shutil.rmtree(lab.root.parent, ignore_errors=True)


@pytest.fixture
def broken_build(monkeypatch):
    """A lab "repository" that also offers 15.99: a build whose postgres answers -V but cannot start."""
    from dbpatch import paths
    from lab.builds import build_path

    real = build_path("15.20")
    cache = Path(tempfile.mkdtemp(prefix="dbpatch-cache-", dir="/var/tmp"))
    cache.chmod(0o755)
    (cache / "builds").mkdir()
    for build in (paths.cache() / "builds").iterdir():
        (cache / "builds" / build.name).symlink_to(build)
    broken = cache / "builds" / "postgresql-15.99"
    (broken / "bin").mkdir(parents=True)
    for tool in (real / "bin").iterdir():
        (broken / "bin" / tool.name).symlink_to(tool.resolve())
    (broken / "bin" / "postgres").unlink()
    (broken / "bin" / "pg_ctl").unlink()  # a copy: pg_ctl looks for postgres beside its resolved path
    shutil.copy2(real / "bin" / "pg_ctl", broken / "bin" / "pg_ctl")
    (broken / "bin" / "postgres").write_text(
        "#!/bin/sh\n"
        'case "$1" in -V|--version) echo "postgres (PostgreSQL) 15.20"; exit 0;; esac\n'
        'echo "FATAL: simulated broken build: could not load library" >&2\nexit 1\n'
    )
    (broken / "bin" / "postgres").chmod(0o755)
    (broken / "build.json").write_text('{"version": "15.99", "origin": "test: broken on purpose"}')
    for p in [cache, *cache.rglob("*")]:
        if p.is_dir() and not p.is_symlink():
            p.chmod(0o755)
    monkeypatch.setenv("DBPATCH_CACHE", str(cache))
    assert os.environ["DBPATCH_CACHE"] == str(cache)
    yield "15.99"
    shutil.rmtree(cache, ignore_errors=True)
