"""dbpatch against real Debian 12 hosts over SSH: Debian's postgresql-15 packages, postgresql-common's scripts
starting and stopping clusters as on any host, a non-root login with passwordless sudo (``tests/hosts/conftest``).
"""

from __future__ import annotations

import threading
import time

import pytest

from flows.patch_wave import WaveParameters, patch_wave
from lab.host_image import MAJOR
from tasks.patching import Outcome
from tests.hosts.conftest import apt_as_root, connect, package_version, reset_to, ssh


def params(lab, **kw) -> WaveParameters:
    return WaveParameters(inventory_path=str(lab.inventory_path), policy_path=str(lab.policy_path), **kw)


def started_at(lab, host: str):
    with connect(lab, host) as conn:
        return conn.execute("select pg_postmaster_start_time()").fetchone()[0]


def in_recovery(lab, host: str) -> bool:
    with connect(lab, host) as conn:
        return bool(conn.execute("select pg_is_in_recovery()").fetchone()[0])


def test_stale_lists_are_refreshed_then_patched(host_lab):
    reset_to(host_lab, "deb-solo")
    root = ssh(host_lab, "deb-solo", root=True)
    # the lists of a host that was never updated: only bookworm's own 15.18 is known
    root.run(["sh", "-c", "rm -f /var/lib/apt/lists/*security* && apt-get -q check >/dev/null"])
    assert "15.20" not in root.run(["apt-cache", "madison", f"postgresql-{MAJOR}"]).stdout
    (run,) = patch_wave(params(host_lab, targets=["deb-solo"])).runs
    assert run.outcome is Outcome.PATCHED, run.sentence
    assert package_version(host_lab, "deb-solo").startswith("15.20-")


def test_standalone_in_place_over_ssh_with_a_non_root_login(host_lab):
    reset_to(host_lab, "deb-solo")
    with connect(host_lab, "deb-solo") as conn:
        conn.execute("drop table if exists kept; create table kept (id int primary key)")
        conn.execute("insert into kept select generate_series(1, 1000)")
    (run,) = patch_wave(params(host_lab, targets=["deb-solo"])).runs
    assert run.outcome is Outcome.PATCHED, run.sentence
    assert run.before == {"deb-solo": "15.18"} and run.after == {"deb-solo": "15.20"}
    assert package_version(host_lab, "deb-solo").startswith("15.20-")
    assert package_version(host_lab, "deb-solo", f"postgresql-client-{MAJOR}").startswith("15.20-")
    clusters = ssh(host_lab, "deb-solo").run(["pg_lsclusters", "-h"]).stdout.split()
    assert clusters[:4] == [MAJOR, "main", "5432", "online"]
    with connect(host_lab, "deb-solo") as conn:
        assert conn.execute("select count(*) from kept").fetchone()[0] == 1000
        assert conn.execute("show server_version").fetchone()[0].startswith("15.20")
    checks = {c.name: c for c in run.checks}
    assert checks["disk_space"].ok and "MiB free" in checks["disk_space"].sentence  # df ran as postgres
    # installed while the cluster ran; the temporary policy-rc.d is gone
    assert not ssh(host_lab, "deb-solo").run(["test", "-e", "/usr/sbin/policy-rc.d"], check=False).ok


def test_a_policy_rc_d_of_someone_else_is_left_alone(host_lab):
    from tasks.postgres.packages import AptPostgres

    reset_to(host_lab, "deb-solo")
    root = ssh(host_lab, "deb-solo", root=True)
    theirs = "#!/bin/sh\n# the host's own policy\nexit 0\n"
    root.run(["tee", "/usr/sbin/policy-rc.d"], stdin=theirs)
    try:
        target = next(t for t in _inventory(host_lab) if t.name == "deb-solo")
        source = AptPostgres(target)
        with ssh(host_lab, "deb-solo") as t:
            source.available_versions(t, MAJOR)
            _configure, download, unpack = source.prepare(MAJOR, "15.20")
            download.run(t)
            assert "not dbpatch's" in unpack.run(t).stderr
        assert root.run(["cat", "/usr/sbin/policy-rc.d"]).stdout == theirs
        assert package_version(host_lab, "deb-solo").startswith("15.18-")  # left for the outage
    finally:
        root.run(["rm", "-f", "/usr/sbin/policy-rc.d"])


def test_a_held_package_is_skipped_before_anything_stops(host_lab):
    reset_to(host_lab, "deb-solo")
    before = started_at(host_lab, "deb-solo")
    ssh(host_lab, "deb-solo", root=True).run(["apt-mark", "hold", f"postgresql-{MAJOR}"])
    try:
        (run,) = patch_wave(params(host_lab, targets=["deb-solo"])).runs
        assert run.outcome is Outcome.SKIPPED, run.sentence
        assert f"held package postgresql-{MAJOR}" in run.sentence
        assert started_at(host_lab, "deb-solo") == before  # never stopped
        assert package_version(host_lab, "deb-solo").startswith("15.18-")
    finally:
        ssh(host_lab, "deb-solo", root=True).run(["apt-mark", "unhold", f"postgresql-{MAJOR}"])


def test_plperl_stays_installed_through_the_patch_and_a_rollback(host_lab):
    from tasks.postgres.packages import AptPostgres

    reset_to(host_lab, "deb-solo")
    full = package_version(host_lab, "deb-solo")
    apt_as_root(host_lab, "deb-solo", "install", f"postgresql-plperl-{MAJOR}={full}")
    with connect(host_lab, "deb-solo") as conn:
        conn.execute("create extension if not exists plperl")
    try:
        (run,) = patch_wave(params(host_lab, targets=["deb-solo"])).runs
        assert run.outcome is Outcome.PATCHED, run.sentence
        assert package_version(host_lab, "deb-solo", f"postgresql-plperl-{MAJOR}").startswith("15.20-")
        # the rollback's own commands (stop, install the previous version, start), as the procedure runs them
        target = next(t for t in _inventory(host_lab) if t.name == "deb-solo")
        source = AptPostgres(target)
        with ssh(host_lab, "deb-solo") as t:
            source.available_versions(t, MAJOR)
            assert not source.install_problems(t, MAJOR, "15.18")
            for cmd in [*source.stop(MAJOR), *source.install(MAJOR, "15.18"), *source.start(MAJOR)]:
                cmd.run(t)
        assert package_version(host_lab, "deb-solo").startswith("15.18-")
        assert package_version(host_lab, "deb-solo", f"postgresql-plperl-{MAJOR}").startswith("15.18-")
        with connect(host_lab, "deb-solo") as conn:
            assert conn.execute("do language plperl $$ return; $$") is not None
    finally:
        reset_to(host_lab, "deb-solo", remove=(f"postgresql-plperl-{MAJOR}",))


def _inventory(lab):
    from dbpatch.models import load_inventory

    return load_inventory(str(lab.inventory_path)).targets


class RolePoller:
    """Samples ``pg_is_in_recovery()`` on every host of the pair, independently of dbpatch, every 50 ms."""

    def __init__(self, lab, hosts: list[str]):
        self.lab, self.hosts = lab, hosts
        self.samples: list[tuple[float, dict[str, bool | None]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _writable(self, host: str) -> bool | None:
        try:
            with connect(self.lab, host) as conn:
                return not conn.execute("select pg_is_in_recovery()").fetchone()[0]
        except Exception:  # down or starting: not writable
            return None

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), {h: self._writable(h) for h in self.hosts}))
            time.sleep(0.05)

    def __enter__(self) -> RolePoller:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(10)

    def two_primaries(self) -> list[float]:
        return [t for t, seen in self.samples if sum(1 for v in seen.values() if v) > 1]


def test_rolling_patch_of_the_pair_never_has_two_writable_primaries(host_lab):
    pair = ["deb-pair-1", "deb-pair-2"]
    assert not in_recovery(host_lab, "deb-pair-1") and in_recovery(host_lab, "deb-pair-2")
    with RolePoller(host_lab, pair) as poller:
        (run,) = patch_wave(params(host_lab, targets=["deb-pair"], write_probe=True)).runs
        time.sleep(2)  # whatever starts late (a package script) is seen too
    assert len(poller.samples) > 20
    assert not poller.two_primaries(), f"two writable primaries at {len(poller.two_primaries())} samples"
    assert run.outcome is Outcome.PATCHED, run.sentence
    assert run.probe and run.probe["probe_lost_writes"] == 0, run.probe
    for host in pair:
        assert package_version(host_lab, host).startswith("15.20-")
    assert sorted(in_recovery(host_lab, h) for h in pair) == [False, True]
    print(f"\nrolling: max write gap {run.probe['probe_max_write_gap_s']} s, {run.probe}")


@pytest.mark.parametrize("login", ["dbpatch"])
def test_ssh_failures_read_as_what_they_are(host_lab, login, tmp_path):
    from dbpatch.errors import TargetUnreachable
    from tasks.host.ssh import SshTransport
    from tests.host.sshd import make_key

    wrong = host_lab.ssh_access().model_copy(update={"private_key_path": str(make_key(tmp_path / "k"))})
    with pytest.raises(TargetUnreachable, match="ssh: authentication failed for user dbpatch"):
        SshTransport(host=host_lab.host("deb-solo").address, access=wrong).run(["true"])


def test_kill_during_the_old_primary_install_then_rerun_is_clean(host_lab, tmp_path):
    """After the rolling test (both at 15.20): patch the pair back to 15.18, SIGKILL the real ``dbpatch patch``
    one second into the old primary's package work (apt/dpkg running over SSH), run the same command again."""
    import json

    import yaml
    from prefect.settings import PREFECT_API_URL

    from dbpatch.paths import state
    from lab import crash

    pair = ["deb-pair-1", "deb-pair-2"]
    policy = yaml.safe_load(host_lab.policy_path.read_text())
    policy["baselines"]["postgresql"][MAJOR]["approved"] = ["15.18"]
    back = tmp_path / "policy-15.18.yaml"
    back.write_text(yaml.safe_dump(policy))
    argv = crash.command(host_lab.inventory_path, back, "deb-pair")
    env = crash.env_for(PREFECT_API_URL.value())
    journal = state() / "journal" / "deb-pair.jsonl"
    seen = len(journal.read_text().splitlines()) if journal.exists() else 0
    old_primary = next(h for h in pair if not in_recovery(host_lab, h))

    def in_old_primary_package_step() -> bool:
        if not journal.exists():
            return False
        for line in journal.read_text().splitlines()[seen:]:
            r = json.loads(line)
            if r["kind"] == "intent" and r.get("node") == old_primary and r.get("action") == "prepare":
                return True
        return False

    with RolePoller(host_lab, pair) as poller:
        # one second into the old primary's package step: apt-get / dpkg running on the host
        killed, rerun = crash.kill_and_rerun(argv, env, kill_when=in_old_primary_package_step, kill_after=1.0,
                                             timeout=600)  # fmt: skip
        time.sleep(2)
    out = crash.output_tail(rerun.stdout + rerun.stderr)
    assert killed == -9, "the first run finished before it was killed"
    assert rerun.returncode == 0, out
    assert "resuming interrupted run" in out
    assert not poller.two_primaries(), "two writable primaries"
    for host in pair:
        assert package_version(host_lab, host).startswith("15.18-"), host
    assert sorted(in_recovery(host_lab, h) for h in pair) == [False, True]
