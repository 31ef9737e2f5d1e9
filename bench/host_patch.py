"""Benchmark on the host lab's real Debian 12 hosts (``lab.hosts``), over SSH with the non-root login:

1. the client write outage of dbpatch's in-place patch of the standalone host (15.18 → 15.20 with apt, the
   download done before the stop) next to a bare ``pg_ctlcluster 15 main restart`` of the same host, as a
   ratio (goal ≤ 2);
2. the rolling patch of the primary + standby pair: max write gap and lost writes (goal ≤ 1 s, 0 lost).

Both use the same ``WriteProbe`` (an insert every 10 ms; for the pair through a multi-host, read-write
connection). The hosts are built in a throw-away directory from the cached image. Prints figures; exits 0
unless a run crashed. ``python bench/host_patch.py [--runs N]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

GOAL_RATIO, GOAL_GAP_S = 2.0, 1.0


def probe_for(lab, names: list[str]):
    from dbpatch.models import load_inventory
    from tasks.postgres.driver import Credentials
    from tasks.postgres.probe import WriteProbe

    targets = [t for t in load_inventory(str(lab.inventory_path)).targets if t.name in names]
    c = lab.credentials()
    return WriteProbe(targets, Credentials(c.user, c.password.get_secret_value(), sslmode="disable"))


def patch(lab, target: str, probe: bool = True):
    from flows.patch_wave import WaveParameters, patch_wave

    params = WaveParameters(
        inventory_path=str(lab.inventory_path),
        policy_path=str(lab.policy_path),
        targets=[target],
        write_probe=probe,
    )
    (run,) = patch_wave(params).runs
    return run


def bare_restart(lab) -> dict:
    from tasks.host.ssh import SshTransport

    probe = probe_for(lab, ["deb-solo"])
    with SshTransport(host=lab.host("deb-solo").address, access=lab.ssh_access()) as t:
        probe.start()
        time.sleep(1)
        t.run(["pg_ctlcluster", "15", "main", "restart"], as_user="root", timeout=300)
        time.sleep(1)
        return probe.stop()


def one_run(i: int, root: Path) -> dict:
    from lab.hosts import HostLab, free_net

    lab = HostLab(root=root / f"run-{i}", net=free_net(12))
    try:
        t0 = time.monotonic()
        lab.up()
        lab.save_blocks()
        up_s = time.monotonic() - t0
        bare = bare_restart(lab)
        in_place = patch(lab, "deb-solo")
        rolling = patch(lab, "deb-pair")
    finally:
        lab.down(destroy=True)
    for run in (in_place, rolling):
        if run.outcome.value != "patched" or not run.probe:
            raise RuntimeError(f"{run.cluster}: {run.outcome.value}: {run.sentence}")
    figures = {
        "bare_gap_s": bare["probe_max_write_gap_s"],
        "in_place_gap_s": in_place.probe["probe_max_write_gap_s"],
        "rolling_gap_s": rolling.probe["probe_max_write_gap_s"],
        "rolling_lost": rolling.probe["probe_lost_writes"],
        "rolling_failed": rolling.probe["probe_failed_writes"],
        "hosts_up_s": up_s,
    }
    print(
        f"run {i}: hosts up {up_s:.1f}s; bare restart gap {figures['bare_gap_s']:.3f}s; in-place patch gap "
        f"{figures['in_place_gap_s']:.3f}s; rolling gap {figures['rolling_gap_s']:.3f}s, "
        f"{figures['rolling_failed']} failed, {figures['rolling_lost']} lost",
        flush=True,
    )
    return figures


def report(results: list[dict]) -> None:
    med = {k: statistics.median(r[k] for r in results) for k in results[0]}
    ratio = med["in_place_gap_s"] / med["bare_gap_s"] if med["bare_gap_s"] else float("inf")
    lost = sum(r["rolling_lost"] for r in results)
    print(f"\nmedian of {len(results)} run(s):")
    print(f"  in-place write outage   {med['in_place_gap_s']:.3f} s")
    print(f"  bare pg_ctlcluster restart {med['bare_gap_s']:.3f} s")
    print(
        f"  ratio                   {ratio:.2f} (goal ≤ {GOAL_RATIO:g}: {'met' if ratio <= GOAL_RATIO else 'MISSED'})"
    )
    print(
        f"  rolling max write gap   {med['rolling_gap_s']:.3f} s, lost {lost} "
        f"(goal ≤ {GOAL_GAP_S:g} s, 0 lost: {'met' if med['rolling_gap_s'] <= GOAL_GAP_S and lost == 0 else 'MISSED'})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description="Write outages of dbpatch on real Debian hosts.")
    parser.add_argument("--runs", type=int, default=1, metavar="N", help="repetitions, each on fresh hosts")
    args = parser.parse_args()
    if not 1 <= args.runs <= 10:
        parser.error("--runs must be between 1 and 10")
    root = Path(tempfile.mkdtemp(prefix="dbpatch-bench-hosts-", dir="/var/tmp"))
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ["DBPATCH_HOME"] = str(root)
    os.environ["DBPATCH_REPORTS"] = str(root / "reports")
    from prefect.testing.utilities import prefect_test_harness

    print(
        f"dbpatch host benchmark — {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, {platform.machine()}, "
        f"nproc {len(os.sched_getaffinity(0))}, Debian 12 hosts over SSH, 15.18 → 15.20, {args.runs} run(s)",
        flush=True,
    )
    results, crashed = [], 0
    try:
        with prefect_test_harness(server_startup_timeout=120):
            for i in range(1, args.runs + 1):
                try:
                    results.append(one_run(i, root))
                except Exception as exc:
                    crashed += 1
                    print(f"run {i}: crashed: {type(exc).__name__}: {exc}", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if results:
        report(results)
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
